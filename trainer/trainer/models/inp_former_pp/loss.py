"""INP-Former++'s losses (shared/INPFORMERPP.md; reconstructions of unpublished equations, see trainer/README.md).

- :func:`soft_coherence_loss` replaces INP-Former's hard minimum [reimpl, "Eq. 3"]: each token is
  re-expressed as the softmax(cos)-weighted mix of the image's INPs, and the loss is one minus the
  cosine between the image's token matrix and that re-expression (over the whole flattened matrix),
  averaged over the batch; no temperature. The hard minimum lets most tokens collapse onto one
  prototype; the soft mix keeps every prototype in play.
- :func:`soft_mining_loss`: INP-Former's soft-mining global cosine plus an MSE term, both with the
  same per-position gradient re-weighting (γ = 3), summed [reimpl, "Eq. 5"].
- :func:`dice_loss`: the residual head's loss on its sigmoid output [reimpl], weight 1 [author].
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..inp_former import coherence_distance, cosine
from ..inp_former.loss import mined


def soft_coherence_loss(tokens: torch.Tensor, prototypes: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``mean_b [1 − cos(F_b, F̂_b)]``, ``F̂_i = Σ_m softmax_m(cos(f_i, p_m) / τ) p_m``.

    ``tokens`` ``[B, N, D]``, ``prototypes`` ``[B, M, D]``; the cosine between ``F_b`` and ``F̂_b``
    is taken over each image's flattened ``N·D`` matrix.
    """
    sim = cosine(tokens.unsqueeze(2), prototypes.unsqueeze(1), dim=-1)  # [B, N, M]
    weights = torch.softmax(sim / temperature, dim=-1)
    rebuilt = weights @ prototypes  # [B, N, D]
    return (1.0 - cosine(tokens.flatten(1), rebuilt.flatten(1), dim=1)).mean()


def coherence(tokens: torch.Tensor, prototypes: torch.Tensor, kind: str) -> torch.Tensor:
    """The coherence loss chosen by ``--coherence``: ``soft`` (++) or ``hard`` (INP-Former's minimum)."""
    if kind == "soft":
        return soft_coherence_loss(tokens, prototypes)
    if kind == "hard":
        return coherence_distance(tokens, prototypes).mean()
    msg = f"unknown coherence loss {kind!r} (soft or hard)"
    raise ValueError(msg)


def soft_mining_loss(
    encoder_groups: Iterable[torch.Tensor],
    decoder_groups: Iterable[torch.Tensor],
    gamma: float = 3.0,
    mse_weight: float = 1.0,
) -> torch.Tensor:
    """Mean over groups of ``[1 − cos(flat E, flat D)] + mse_weight · mean((E − D)²)``, both mined.

    The encoder side is detached; the decoder's gradient at each position is scaled by
    (d / mean d)^γ, d = 1 − cos over channels (INP-Former's soft mining, ``mined``).
    """
    total = torch.zeros(())
    groups = list(zip(encoder_groups, decoder_groups, strict=True))
    for en, de in groups:
        en = en.detach()
        de = mined(en, de, gamma)
        term = (1.0 - cosine(en.flatten(1), de.flatten(1), dim=1)).mean()
        if mse_weight:
            term = term + mse_weight * (en - de).pow(2).mean()
        total = total + term
    return total / len(groups)


def dice_loss(prob: torch.Tensor, mask: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """``1 − (2 Σ p·m + s) / (Σ p + Σ m + s)`` over the whole batch (clean samples included)."""
    p, m = prob.flatten(), mask.flatten().to(prob.dtype)
    return 1.0 - (2.0 * (p * m).sum() + smooth) / (p.sum() + m.sum() + smooth)
