"""INP-Former++'s test-time map: the reconstruction map and the head's mask, normalised and fused.

Per component, at the evaluation size (256) before smoothing [reimpl "Eq. 9", blog; the
normalisation is ours, shared/INPFORMERPP.md says why]:

- ``cos``: mean over groups of ``1 − cos(E, D)`` over channels (INP-Former's map);
- ``l2``: mean over groups of ``‖E − D‖₂`` over channels;
- ``head``: the residual head's probability.

Grid maps go bilinear (align_corners) to the crop and then (half-pixel) to 256, as INP-Former's;
the head's map, a convolution output, goes half-pixel both times. Each component c becomes
``(c − μ_c) / σ_c`` with μ, σ over every pixel of the good training images' maps (``stats``,
measured after training and recorded in the RUN and the bundle's ``training.recipe``; the head's
σ taken as at least ``head_min_std``); the
reconstruction map is the mean of its terms (``recon_terms``: ``cos+l2`` or ``cos``), the final
map ``(1 − head_weight)·recon + head_weight·head`` (0.5: their mean), then the 5×5 gaussian, and
the score the mean of its top 1 %. ``normalise = "none"`` fuses the raw values as the authors'
description does (the terms then live on different scales).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ..inp_former import RecipeConfig, cosine, gaussian_kernel, image_score

RECON_TERMS = ("cos+l2", "cos")
NORMALISATIONS = ("zscore", "none")
COMPONENTS = ("cos", "l2", "head")


@dataclass
class FusionRecipe(RecipeConfig):
    """INP-Former's recipe constants plus how the maps are fused."""

    #: Terms of the reconstruction map: ``cos+l2`` [reimpl "Eq. 9"] or ``cos`` (INP-Former's).
    recon_terms: str = "cos+l2"
    #: Weight of the head's mask in the final map (0.5: the mean of the two [blog, reimpl]).
    head_weight: float = 0.5
    #: ``zscore``: each component by the good training images' mean and std (ours); ``none``: raw.
    normalise: str = "zscore"
    #: Component → ``[mean, std]`` over the good training images' pixels (filled after training).
    stats: dict[str, list[float]] = field(default_factory=dict)
    #: Ours: the head's std is taken as at least this (5 % of its 0…1 range). A head nearly silent
    #: on good images has a tiny std, and dividing by it would turn every flicker, and the exported
    #: graph's rounding with it, into many σ (measured: the same metrics on the tuning set).
    head_min_std: float = 0.05

    def __post_init__(self) -> None:
        if self.recon_terms not in RECON_TERMS:
            msg = f"recon_terms {self.recon_terms!r}: expected one of {RECON_TERMS}"
            raise ValueError(msg)
        if self.normalise not in NORMALISATIONS:
            msg = f"normalise {self.normalise!r}: expected one of {NORMALISATIONS}"
            raise ValueError(msg)
        if not 0.0 <= self.head_weight <= 1.0:
            msg = f"head_weight {self.head_weight} is not in [0, 1]"
            raise ValueError(msg)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FusionRecipe:
        """Inverse of ``to_dict``."""
        return cls(**d)

    def terms(self) -> tuple[str, ...]:
        """The reconstruction map's components."""
        return ("cos", "l2") if self.recon_terms == "cos+l2" else ("cos",)

    def scale(self, component: str) -> tuple[float, float]:
        """``(mean, std)`` subtracted and divided; ``(0, 1)`` when not normalising."""
        if self.normalise == "none":
            return 0.0, 1.0
        if component not in self.stats:
            msg = f"fusion: no statistics for {component!r} (measured after training; this RUN has {sorted(self.stats)})"
            raise ValueError(msg)
        mean, std = self.stats[component]
        if component == "head":
            std = max(std, self.head_min_std)
        return float(mean), float(std)


def _to_eval(grid: torch.Tensor, crop_hw: tuple[int, int], recipe: RecipeConfig, align: bool) -> torch.Tensor:
    m = F.interpolate(grid, size=crop_hw, mode="bilinear", align_corners=align)
    return F.interpolate(m, size=(recipe.eval_height, recipe.eval_width), mode="bilinear", align_corners=False)


def components(
    en: list[torch.Tensor], de: list[torch.Tensor], head: torch.Tensor, crop_hw: tuple[int, int], recipe: RecipeConfig
) -> dict[str, torch.Tensor]:
    """The three component maps ``[B, 1, eval_h, eval_w]`` before normalisation and smoothing."""
    cos = torch.stack([1.0 - cosine(e, d, dim=1) for e, d in zip(en, de, strict=True)], dim=1).mean(1, keepdim=True)
    l2 = torch.stack([(e - d).pow(2).sum(dim=1).sqrt() for e, d in zip(en, de, strict=True)], dim=1)
    return {
        "cos": _to_eval(cos, crop_hw, recipe, align=True),
        "l2": _to_eval(l2.mean(1, keepdim=True), crop_hw, recipe, align=True),
        "head": _to_eval(head, crop_hw, recipe, align=False),
    }


def smooth(m: torch.Tensor, recipe: RecipeConfig) -> torch.Tensor:
    """The recipe's gaussian (zero padding)."""
    k = gaussian_kernel(recipe.gaussian_kernel, recipe.gaussian_sigma).to(m.dtype)
    return F.conv2d(m, k, padding=recipe.gaussian_kernel // 2)


def fuse(parts: dict[str, torch.Tensor], recipe: FusionRecipe) -> tuple[torch.Tensor, torch.Tensor]:
    """(final map, reconstruction-only map), both normalised and smoothed, ``[B, 1, eval_h, eval_w]``."""

    def norm(name: str) -> torch.Tensor:
        mean, std = recipe.scale(name)
        return (parts[name] - mean) / std

    terms = recipe.terms()
    recon = norm(terms[0])
    for t in terms[1:]:
        recon = recon + norm(t)
    recon = recon / float(len(terms))
    w = recipe.head_weight
    final = (1.0 - w) * recon + w * norm("head")
    return smooth(final, recipe), smooth(recon, recipe)


def reference(
    en: list[torch.Tensor], de: list[torch.Tensor], head: torch.Tensor, crop_hw: tuple[int, int], recipe: FusionRecipe
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(final map, score ``[B]``, reconstruction-only map): the whole recipe."""
    final, recon = fuse(components(en, de, head, crop_hw, recipe), recipe)
    return final, image_score(final, recipe.topk_fraction), recon


class RunningMoments:
    """Mean and standard deviation of every pixel seen, per component (float64 sums)."""

    def __init__(self) -> None:
        self.n = 0
        self.sums: dict[str, float] = {}
        self.squares: dict[str, float] = {}

    def add(self, parts: dict[str, torch.Tensor]) -> None:
        """Accumulate a batch of component maps."""
        for name, m in parts.items():
            d = m.detach().double()
            self.sums[name] = self.sums.get(name, 0.0) + float(d.sum())
            self.squares[name] = self.squares.get(name, 0.0) + float((d * d).sum())
        self.n += int(next(iter(parts.values())).numel())

    def stats(self, min_std: float = 1e-6) -> dict[str, list[float]]:
        """Component → ``[mean, std]`` (std at least ``min_std``)."""
        out = {}
        for name, s in self.sums.items():
            mean = s / self.n
            var = max(self.squares[name] / self.n - mean * mean, 0.0)
            out[name] = [mean, max(var**0.5, min_std)]
        return out
