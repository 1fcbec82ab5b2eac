"""EfficientNet-B4 as OneNIP's authors use it: the feature extractor behind their ``backbone.*`` keys.

The authors build it with the EfficientNet-PyTorch layout (lukemelas) that UniAD vendored, so
their checkpoints name its tensors ``_conv_stem``, ``_bn0``, ``_blocks.<i>._expand_conv`` …
``_project_conv``, ``_bn2``, ``_conv_head``, ``_bn1``, ``_fc``. This module uses those names, so
``backbone.*`` (706 keys with ``num_batches_tracked``) loads strictly, and so does the
ImageNet weights file that layout publishes (``efficientnet-b4-6ed6700e.pth``), from a path:
nothing is ever downloaded.

Facts (shared/MODELS.md, and the layout's own definition of B4): width ×1.4, depth ×1.8, 32
MBConv blocks in 7 stages, swish, squeeze-and-excitation 0.25, batch norm eps 1e-3. Every
convolution pads "same" *statically*, computed once for the 380 px the B4 was designed for, not
for the image it sees: at 224 px the first depthwise 5×5 of stage 3 pads (2, 2, 2, 2) where true
"same" would pad (1, 2, 1, 2). :func:`static_same_padding` reproduces that, and the padding is a
constant of the module (and of the exported graph).

OneNIP reads blocks 1, 5, 9 and 21 (24, 32, 56 and 160 channels at strides 2, 4, 8, 16: 272 in
all); ``forward`` stops after the last of them. Blocks 22–31, the head and the classifier are
built (so the authors' checkpoint loads strictly) but never run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

#: The B4 the authors use: (repeats, kernel, stride, expand ratio, in, out) per stage, before scaling.
STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
WIDTH, DEPTH, DESIGN_SIZE = 1.4, 1.8, 380
BN_EPS, BN_MOMENTUM = 1e-3, 0.01
SE_RATIO = 0.25
#: Blocks whose outputs OneNIP reads, and their strides.
OUT_BLOCKS = (1, 5, 9, 21)
OUT_STRIDES = (2, 4, 8, 16)


def round_filters(filters: int, width: float = WIDTH, divisor: int = 8) -> int:
    """Channels scaled by ``width``, rounded to a multiple of ``divisor`` (never below 90 %)."""
    scaled = filters * width
    out = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if out < 0.9 * scaled:
        out += divisor
    return int(out)


def round_repeats(repeats: int, depth: float = DEPTH) -> int:
    """Blocks per stage scaled by ``depth``, rounded up."""
    return int(math.ceil(depth * repeats))


def static_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding TensorFlow's "same" gives an input of ``size`` (odd totals pad more after)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class StaticSameConv2d(nn.Conv2d):
    """A convolution after a fixed zero padding (left, right, top, bottom) decided at build time."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = False,
                 design_size: int = DESIGN_SIZE) -> None:
        super().__init__(cin, cout, kernel, stride=stride, groups=groups, bias=bias, padding=0)
        before, after = static_same_padding(design_size, kernel, stride)
        self.pad = (before, after, before, after)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad, then convolve."""
        if any(self.pad):
            x = F.pad(x, self.pad)
        return super().forward(x)


def swish(x: torch.Tensor) -> torch.Tensor:
    """x · sigmoid(x)."""
    return x * torch.sigmoid(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block, after scaling."""

    cin: int
    cout: int
    kernel: int
    stride: int
    expand: int
    design_size: int
    """The input size this block's padding is computed for (380 px traced through the strides)."""


def block_specs() -> list[BlockSpec]:
    """The 32 blocks of B4 in order, each with the design size its static padding uses."""
    specs = []
    size = math.ceil(DESIGN_SIZE / 2)  # after the stem
    for repeats, kernel, stride, expand, cin, cout in STAGES:
        cin, cout = round_filters(cin), round_filters(cout)
        for r in range(round_repeats(repeats)):
            s = stride if r == 0 else 1
            specs.append(BlockSpec(cin if r == 0 else cout, cout, kernel, s, expand, size))
            size = math.ceil(size / s)
    return specs


class MBConvBlock(nn.Module):
    """Expand (1×1) → depthwise k×k → squeeze-and-excitation → project (1×1) [+ identity]."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        self.spec = spec
        mid = spec.cin * spec.expand
        if spec.expand != 1:
            self._expand_conv = StaticSameConv2d(spec.cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = StaticSameConv2d(mid, mid, spec.kernel, spec.stride, groups=mid,
                                                design_size=spec.design_size)
        self._bn1 = _bn(mid)
        squeezed = max(1, int(spec.cin * SE_RATIO))
        self._se_reduce = nn.Conv2d(mid, squeezed, 1)
        self._se_expand = nn.Conv2d(squeezed, mid, 1)
        self._project_conv = StaticSameConv2d(mid, spec.cout, 1)
        self._bn2 = _bn(spec.cout)
        self.residual = spec.stride == 1 and spec.cin == spec.cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One block (no drop-connect: the backbone is frozen and runs in eval mode)."""
        y = swish(self._bn0(self._expand_conv(x))) if self.spec.expand != 1 else x
        y = swish(self._bn1(self._depthwise_conv(y)))
        se = self._se_expand(swish(self._se_reduce(F.adaptive_avg_pool2d(y, 1))))
        y = self._bn2(self._project_conv(torch.sigmoid(se) * y))
        return y + x if self.residual else y


class EfficientNetB4(nn.Module):
    """B4 up to the last block OneNIP reads; ``forward`` returns those blocks' outputs."""

    def __init__(self, out_blocks: tuple[int, ...] = OUT_BLOCKS) -> None:
        super().__init__()
        specs = block_specs()
        self.out_blocks = tuple(out_blocks)
        stem = round_filters(32)
        self._conv_stem = StaticSameConv2d(3, stem, 3, stride=2)
        self._bn0 = _bn(stem)
        self._blocks = nn.ModuleList(MBConvBlock(s) for s in specs)
        head = round_filters(1280)
        self._conv_head = StaticSameConv2d(specs[-1].cout, head, 1)
        self._bn1 = _bn(head)
        self._fc = nn.Linear(head, 1000)
        self.out_channels = [specs[i].cout for i in self.out_blocks]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Normalised images ``[B,3,H,W]`` → the outputs of ``out_blocks`` (strides 2, 4, 8, 16)."""
        x = swish(self._bn0(self._conv_stem(x)))
        outs = []
        for i, block in enumerate(self._blocks[: max(self.out_blocks) + 1]):
            x = block(x)
            if i in self.out_blocks:
                outs.append(x)
        return outs


def load_efficientnet_weights(backbone: EfficientNetB4, path: str | Path) -> None:
    """Load an EfficientNet-B4 weights file in the EfficientNet-PyTorch layout (e.g. the ImageNet
    ``efficientnet-b4-6ed6700e.pth``, or ``backbone.*`` cut from an OneNIP checkpoint).

    ``num_batches_tracked`` may be absent (older files); anything else missing, unexpected or
    mis-shaped is refused, naming the file and the keys.
    """
    from ...import_official import check_keys, read_state_dict

    path = Path(path)
    state = read_state_dict(path)
    if any(k.startswith("backbone.") for k in state):
        state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    own = backbone.state_dict()
    for k in own:
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = own[k].clone()
    check_keys(own, state, path, "EfficientNet-B4 (EfficientNet-PyTorch layout)")
    backbone.load_state_dict(state, strict=True)
