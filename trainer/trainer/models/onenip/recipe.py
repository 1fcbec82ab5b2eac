"""OneNIP's test-time recipe: the fused map and the image score, in torch.

Facts (shared/MODELS.md): final = λ·rec + (1 − λ)·c·sigmoid(refiner logit), λ = 0.5,
c = (max + min) / 2 of the rec maps; score = the maximum of a 16×16 stride-1 average pool of the
final map; no blur.

The authors take c over the very test set being scored, every class pooled (tools/train_val.py):
a deployed model cannot see its test set, so c is frozen when the RUN is made (``train``: the
held-out good images; ``import-official``: ``--calib-data``), each image with its prompt, and
stored here (``fusion_scale``); ``eval`` and ``export`` both use it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

SELECTIONS = ("recipe", "cosine-pool")


@dataclass
class RecipeConfig:
    """The reference recipe and the prompt rule. Defaults are the authors' where they have one."""

    fusion_scale: float = 1.0
    """c: (max + min) / 2 of the rec maps of good calibration images, frozen (see the module docstring)."""
    rec_weight: float = 0.5
    """λ."""
    score_kernel: int = 16
    """Side of the stride-1 average pool whose maximum is the score."""
    prompt_selection: str = "recipe"
    """How a prompt is chosen for an image: ``recipe`` (one per product or category) or
    ``cosine-pool`` (the nearest of a pool by the global feature)."""
    pool_size: int = 8
    """``cosine-pool``: how many good training images of a category form its pool."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RecipeConfig:
        """Inverse of :meth:`to_dict`."""
        out = cls(**d)
        if out.prompt_selection not in SELECTIONS:
            msg = f"prompt_selection {out.prompt_selection!r} is not one of {SELECTIONS}"
            raise ValueError(msg)
        return out


def fuse(rec_map: torch.Tensor, ref_logit: torch.Tensor, recipe: RecipeConfig) -> torch.Tensor:
    """λ·rec + (1 − λ)·c·sigmoid(logit), ``[B, 1, H, W]``."""
    lam = recipe.rec_weight
    return lam * rec_map + (1.0 - lam) * recipe.fusion_scale * torch.sigmoid(ref_logit)


def image_score(final: torch.Tensor, kernel: int) -> torch.Tensor:
    """Max of a ``kernel``×``kernel`` stride-1 average pool of ``[B, 1, H, W]`` → ``[B]``."""
    k = min(kernel, final.shape[-2], final.shape[-1])
    return F.avg_pool2d(final, k, stride=1).flatten(1).max(dim=1).values


def fusion_scale(rec_maps: torch.Tensor) -> float:
    """c = (max + min) / 2 over every pixel of the rec maps given (good calibration images)."""
    return float((rec_maps.max() + rec_maps.min()) / 2)


def score_rule(recipe: RecipeConfig) -> dict[str, Any]:
    """The manifest's ``outputs.score.rule``."""
    return {"op": "avgpool-max", "kernel": recipe.score_kernel}
