"""INP-Former++: INP-Former plus a residual head (shared/INPFORMERPP.md).

The reconstruction branch is INP-Former's own module (``InpFormer``, imported, not copied), so
parameter names and checkpoints stay the authors'. What ++ adds:

- the residual of each fusion group ``r_g = (1 − cos(E_g, D_g)) · |E_g − D_g|`` (channel-wise,
  weighted by the per-position cosine distance), averaged over the groups and **detached** from
  the reconstruction branch (the head's loss must not move the decoder: author, #53) [reimpl, "Eq. 7"];
- the head: two transposed convolutions (k4, s2, p1, each followed by ReLU) and a 3×3 convolution,
  then a sigmoid, ``D → head_channels[0] → head_channels[1] → 1``, the grid ×4 [paper: "2 transposed
  convolutions + 1 convolution"; sizes ours, after a third-party reimplementation].

Ours: the residual is multiplied by ``residual_scale`` (a buffer set once from the training
features: 1 / mean |E|) so the head sees inputs of order one whatever the encoder's magnitude.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..inp_former import InpFormer, InpFormerConfig, cosine


@dataclass
class InpFormerPPConfig(InpFormerConfig):
    """INP-Former's configuration plus the head's."""

    #: Output channels of the two transposed convolutions. Empty (default): D/3 and D/12 of the token
    #: width D, which is the reimplementation's 256, 64 at ViT-B's 768 (ours for other widths: a
    #: 256-channel head on 96-dim tokens would cost more than the whole decoder on a CPU).
    head_channels: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.head_channels:
            d = self.encoder.embed_dim
            self.head_channels = [max(8, round(d / 3)), max(4, round(d / 12))]

    @classmethod
    def from_inp_former(cls, base: InpFormerConfig, **head: Any) -> InpFormerPPConfig:
        """An INP-Former configuration extended with the head's fields."""
        values = {k: getattr(base, k) for k in base.__dataclass_fields__}
        return cls(**values, **head)


def residual(en: list[torch.Tensor], de: list[torch.Tensor]) -> torch.Tensor:
    """``mean_g (1 − cos(E_g, D_g)) · |E_g − D_g|``, ``[B, D, h, w]`` (not detached: callers choose)."""
    parts = [(1.0 - cosine(e, d, dim=1)).unsqueeze(1) * (e - d).abs() for e, d in zip(en, de, strict=True)]
    return torch.stack(parts, dim=0).mean(dim=0)


class ResidualHead(nn.Module):
    """``[B, D, h, w]`` residual → ``[B, 1, 4h, 4w]`` anomaly probability (sigmoid)."""

    def __init__(self, in_dim: int, channels: list[int]) -> None:
        super().__init__()
        c0, c1 = channels
        self.up1 = nn.ConvTranspose2d(in_dim, c0, kernel_size=4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(c0, c1, kernel_size=4, stride=2, padding=1)
        self.out = nn.Conv2d(c1, 1, kernel_size=3, padding=1)

    def logits(self, r: torch.Tensor) -> torch.Tensor:
        """Before the sigmoid."""
        return self.out(F.relu(self.up2(F.relu(self.up1(r)))))

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """Probability map at four times the residual's resolution."""
        return torch.sigmoid(self.logits(r))


class InpFormerPP(InpFormer):
    """INP-Former with a residual head. ``forward`` is INP-Former's; :meth:`head_map` adds the head."""

    def __init__(self, config: InpFormerPPConfig) -> None:
        super().__init__(config)
        if len(config.head_channels) != 2:
            msg = f"the residual head has two transposed convolutions: head_channels {config.head_channels}"
            raise ValueError(msg)
        self.head = ResidualHead(config.embed_dim, list(config.head_channels))
        self.register_buffer("residual_scale", torch.ones(()))

    def head_parameters(self) -> list[nn.Parameter]:
        """The head's parameters alone (trained by the head's loss only)."""
        return list(self.head.parameters())

    def trainable_parameters(self) -> list[nn.Parameter]:
        """INP-Former's trained parts and the head."""
        return [*super().trainable_parameters(), *self.head_parameters()]

    def reset_trainable(self, std: float = 0.01) -> None:
        """INP-Former's init for its parts; the head keeps PyTorch's default (Kaiming-uniform) init."""
        super().reset_trainable(std)
        for m in self.head.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.reset_parameters()

    def residual(self, en: list[torch.Tensor], de: list[torch.Tensor]) -> torch.Tensor:
        """The head's input: :func:`residual` of the groups, detached, times ``residual_scale``."""
        return residual([e.detach() for e in en], [d.detach() for d in de]) * self.residual_scale

    def head_map(self, en: list[torch.Tensor], de: list[torch.Tensor]) -> torch.Tensor:
        """The head's probability map ``[B, 1, 4h, 4w]`` from the groups (stop-gradient inside)."""
        return self.head(self.residual(en, de))
