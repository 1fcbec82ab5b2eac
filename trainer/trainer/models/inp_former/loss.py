"""INP-Former's training loss: soft-mining global cosine (+ 0.2 × the coherence loss, in model.py).

The value is the plain global cosine loss per group; only its gradient is re-weighted, at each
position by (d / mean d)^γ with d = 1 − cos over channels computed without gradient (the authors'
soft mining). A custom autograd function rather than a hook, so the weight is fixed per step.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; backward multiplies the incoming gradient by a fixed weight."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        ctx.save_for_backward(weight)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: ANN001
        (weight,) = ctx.saved_tensors
        return grad * weight, None


def soft_mining_cosine(
    encoder_groups: Iterable[torch.Tensor], decoder_groups: Iterable[torch.Tensor], gamma: float = 3.0
) -> torch.Tensor:
    """Mean over groups of 1 − cos(flattened E, flattened D), hard positions weighted.

    Each group is ``[B, C, h, w]``. The value is the plain global cosine loss; only its gradient is
    re-weighted: at each position by (d / mean d)^gamma with d = 1 − cos over channels, computed
    without gradient, so well-reconstructed positions stop dominating (the authors' soft mining).
    """
    total = torch.zeros(())
    groups = list(zip(encoder_groups, decoder_groups))
    for en, de in groups:
        en = en.detach()
        de = mined(en, de, gamma)
        cos = torch.nn.functional.cosine_similarity(en.flatten(1), de.flatten(1), dim=1)
        total = total + (1.0 - cos).mean()
    return total / len(groups)


def mined(en: torch.Tensor, de: torch.Tensor, gamma: float) -> torch.Tensor:
    """``de`` unchanged, its gradient at each position scaled by (d / mean d)^gamma (soft mining).

    ``d = 1 − cos(en, de)`` over channels (``[B, C, h, w]`` groups), computed without gradient. Any
    loss on the returned tensor is mined the same way (INP-Former++ adds an MSE term).
    """
    with torch.no_grad():
        d = 1.0 - torch.nn.functional.cosine_similarity(en, de, dim=1).unsqueeze(1)
        weight = (d / d.mean()).pow(gamma)
    return _ScaleGrad.apply(de, weight)
