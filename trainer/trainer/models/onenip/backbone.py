"""OneNIP's feature interface: a frozen backbone's four levels → the neck → ``[B, 272, h, w]``.

Two backbones give the same interface (four maps at strides 2, 4, 8 and 16 with 24, 32, 56 and 160
channels):

``efficientnet-b4``
    The authors' (efficientnet.py): blocks 1, 5, 9, 21 of an ImageNet EfficientNet-B4 loaded from
    a weights file, or from their checkpoint by ``import-official``.
``conv`` (ours)
    For machines without pretrained weights. Four random stages of 3×3 conv + ReLU + 2×2
    max-pool (the same widths and strides), each convolution standardised on the training images
    (zero mean, unit variance per channel, folded into its weights: ``standardise``), as
    INP-Former's ``--ssl conv`` stem does. Each level is then averaged over the 16×16-pixel cell
    of its token and over the 3×3 neighbouring cells, so the neck's align-corners resize samples a
    local mean instead of one stride-2 pixel (a random stride-2 map sampled at 14 points is mostly
    noise), and standardised per channel once more (``out_scale``/``out_shift``), so every channel
    weighs the same in the reconstruction loss and the L2 map.

The neck (:func:`neck`) is the authors' MFCN: every level bilinearly resized to the stride-16 grid
with align_corners=True (what ``UpsamplingBilinear2d(scale_factor=stride/16)`` does), concatenated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .efficientnet import OUT_STRIDES, EfficientNetB4

BACKBONES = ("efficientnet-b4", "conv")
#: The output stride of the token grid (the neck's).
STRIDE = 16


@dataclass
class BackboneConfig:
    """Which backbone, and how its weights came about (for the record)."""

    kind: str = "efficientnet-b4"
    weights: str = "none"
    """Where the weights came from: a file, ``import-official …``, ``standardised`` (conv), ``none``."""
    conv_widths: list[int] = field(default_factory=lambda: [24, 32, 56, 160])
    """``conv`` only: channels of its four stages."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BackboneConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


class ConvBackbone(nn.Module):
    """Random conv stages standardised on the training images (see the module docstring)."""

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        if len(widths) != len(OUT_STRIDES):
            msg = f"conv backbone: {len(widths)} widths given, {len(OUT_STRIDES)} levels needed"
            raise ValueError(msg)
        chans = [3, *widths]
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(chans[i], chans[i + 1], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
            for i in range(len(widths))
        )
        self.register_buffer("out_scale", torch.ones(sum(widths)))
        self.register_buffer("out_shift", torch.zeros(sum(widths)))
        self.out_channels = list(widths)

    def raw_levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each stage's output, pooled to its token cell and smoothed over 3×3 cells."""
        outs = []
        for stride, stage in zip(OUT_STRIDES, self.stages, strict=True):
            x = stage(x)
            cell = STRIDE // stride
            y = F.avg_pool2d(x, cell) if cell > 1 else x
            outs.append(F.avg_pool2d(y, 3, stride=1, padding=1, count_include_pad=False))
        return outs

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Normalised images → four standardised maps on the token grid."""
        outs, start = [], 0
        for y in self.raw_levels(x):
            c = y.shape[1]
            scale = self.out_scale[start : start + c].view(1, c, 1, 1)
            shift = self.out_shift[start : start + c].view(1, c, 1, 1)
            outs.append(y * scale + shift)
            start += c
        return outs

    @torch.no_grad()
    def standardise(self, x: torch.Tensor, batch: int = 8) -> None:
        """Fold per-channel standardisation on normalised images ``x`` into each convolution, then
        into the output affine (so every output channel has zero mean, unit variance on ``x``)."""
        h = x
        for stage in self.stages:
            conv = stage[0]
            y = conv(h)
            mu, sd = y.mean(dim=(0, 2, 3)), y.std(dim=(0, 2, 3)).clamp(min=1e-5)
            conv.weight.div_(sd.view(-1, 1, 1, 1))
            conv.bias.sub_(mu).div_(sd)
            h = stage(h)
        self.out_scale.fill_(1.0)
        self.out_shift.zero_()
        levels = [torch.cat(parts) for parts in zip(*(self.raw_levels(x[i : i + batch])
                                                      for i in range(0, len(x), batch)), strict=True)]
        feats = torch.cat([lv.permute(1, 0, 2, 3).reshape(lv.shape[1], -1) for lv in levels])
        mu, sd = feats.mean(dim=1), feats.std(dim=1).clamp(min=1e-5)
        self.out_scale.copy_(1.0 / sd)
        self.out_shift.copy_(-mu / sd)


def build_backbone(config: BackboneConfig) -> nn.Module:
    """A fresh backbone (random weights) of ``config.kind``."""
    if config.kind == "efficientnet-b4":
        return EfficientNetB4()
    if config.kind == "conv":
        return ConvBackbone(list(config.conv_widths))
    msg = f"unknown backbone {config.kind!r} (expected one of {BACKBONES})"
    raise ValueError(msg)


def neck(levels: list[torch.Tensor], grid: tuple[int, int]) -> torch.Tensor:
    """MFCN: each level resized to ``grid`` (bilinear, align_corners=True), concatenated on channels."""
    out = []
    for lv in levels:
        if tuple(lv.shape[-2:]) != grid:
            lv = F.interpolate(lv, size=grid, mode="bilinear", align_corners=True)
        out.append(lv)
    return torch.cat(out, dim=1)
