"""The reference test-time map recipe of INP-Former, in torch (shared/MODELS.md).

Per group ``m = 1 − cos(E, D)`` over channels → bilinear, align_corners=True, to the crop size →
mean of groups → bilinear (half-pixel) to the evaluation size (256) → 5×5 gaussian σ=4, zero
padding → image score = mean of the top 1 % (k = floor(H·W·0.01)). No min–max normalisation.

Bilinear resizing is linear, so the mean of the groups can be taken before the first resize: the
"raw" export emits that mean at patch-grid resolution and lets the runtime do the rest
(:func:`map_steps` lists the steps in manifest form).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .model import InpFormerOutput, cosine


@dataclass
class RecipeConfig:
    """Post-processing constants. Defaults are the authors'."""

    #: Side of the evaluation map (the authors resize to 256×256).
    eval_height: int = 256
    eval_width: int = 256
    gaussian_sigma: float = 4.0
    gaussian_kernel: int = 5
    #: Image score = mean of the top ``topk_fraction`` of the final map's pixels.
    topk_fraction: float = 0.01

    @classmethod
    def for_crop(cls, crop_hw: tuple[int, int]) -> RecipeConfig:
        """The authors' recipe for a square input; for a non-square one the evaluation map keeps
        the input's proportions (short side 256, so a thin crack across a long part is not squeezed
        in the map either) and the score stays the mean of the same number of pixels as at 256×256
        (655), so a small defect weighs the same in a long map as in a square one."""
        h, w = crop_hw
        if h == w:
            return cls()
        d = cls()
        short = min(h, w)
        eh, ew = round(d.eval_height * h / short), round(d.eval_width * w / short)
        k = topk_count(d.eval_height, d.eval_width, d.topk_fraction)
        return cls(eval_height=eh, eval_width=ew, topk_fraction=(k + 0.5) / (eh * ew))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RecipeConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    """Normalised 2-D gaussian ``[1, 1, size, size]`` (as the authors' get_gaussian_kernel)."""
    ax = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2.0 * sigma**2))
    g = g / g.sum()
    return g.to(torch.float32).view(1, 1, size, size)


def group_maps(en: list[torch.Tensor], de: list[torch.Tensor]) -> torch.Tensor:
    """``1 − cos(E, D)`` per group at patch-grid resolution, ``[B, G, h, w]``."""
    return torch.stack([1.0 - cosine(e, d, dim=1) for e, d in zip(en, de, strict=True)], dim=1)


def grid_map(out: InpFormerOutput) -> torch.Tensor:
    """Mean of the group maps at patch-grid resolution, ``[B, 1, h, w]`` (the raw export)."""
    return group_maps(out.en, out.de).mean(dim=1, keepdim=True)


def finish_map(raw: torch.Tensor, crop_hw: tuple[int, int], recipe: RecipeConfig) -> torch.Tensor:
    """Grid map ``[B,1,h,w]`` → reference map ``[B,1,eval_h,eval_w]``."""
    m = F.interpolate(raw, size=crop_hw, mode="bilinear", align_corners=True)
    m = F.interpolate(m, size=(recipe.eval_height, recipe.eval_width), mode="bilinear", align_corners=False)
    k = gaussian_kernel(recipe.gaussian_kernel, recipe.gaussian_sigma).to(m.dtype).to(m.device)
    return F.conv2d(m, k, padding=recipe.gaussian_kernel // 2)


def topk_count(height: int, width: int, fraction: float) -> int:
    """``k = floor(H·W·fraction)``, at least 1."""
    return max(1, int(math.floor(height * width * fraction)))


def image_score(final: torch.Tensor, fraction: float) -> torch.Tensor:
    """Mean of the top ``fraction`` of each map, ``[B]``."""
    flat = final.flatten(1)
    k = topk_count(final.shape[-2], final.shape[-1], fraction)
    return torch.topk(flat, k, dim=1).values.mean(dim=1)


def reference(
    out: InpFormerOutput, crop_hw: tuple[int, int], recipe: RecipeConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole recipe: ``(map [B,1,eval_h,eval_w], score [B])``."""
    final = finish_map(grid_map(out), crop_hw, recipe)
    return final, image_score(final, recipe.topk_fraction)


def map_steps(crop_hw: tuple[int, int], recipe: RecipeConfig) -> list[dict[str, Any]]:
    """The recipe after the grid map, as manifest ``mapStep`` objects."""
    return [
        {"op": "resize", "height": crop_hw[0], "width": crop_hw[1], "alignCorners": True},
        {"op": "resize", "height": recipe.eval_height, "width": recipe.eval_width, "alignCorners": False},
        {
            "op": "gaussian",
            "sigma": recipe.gaussian_sigma,
            "kernel": recipe.gaussian_kernel,
            "padding": "zero",
        },
    ]


def score_rule(recipe: RecipeConfig) -> dict[str, Any]:
    """The image-score rule in manifest form."""
    return {"op": "topk-mean", "fraction": recipe.topk_fraction}
