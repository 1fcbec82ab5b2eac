"""Input geometry and normalisation, shared by every architecture's training, evaluation and export.

The runtime does the resize and the crop (manifest ``geometry``); the exported graph does the rest
(uint8 NHWC → /255 → ImageNet mean/std → NCHW), with the same arithmetic as :func:`normalize`.
Resize: PIL bilinear (antialiased when shrinking, as torchvision's Resize on PIL images) to
``resize_height × resize_width``, whatever the image's own size and aspect (a long part keeps its
proportions when the resize has them: ``--resize 224x560``). Crop: centred, top = round((H − h) / 2)
with Python's round (ties to even), as torchvision's CenterCrop; a crop as large as the resize is no
crop: the model sees the whole field of view.

Images of any PIL mode are read as RGB; 16-bit greyscale is scaled to 8 bits (the high byte), as
a camera's 12/16-bit frame is displayed, rather than clipped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def parse_size(text: str | int, option: str) -> tuple[int, int]:
    """``"N"`` → ``(N, N)``, ``"HxW"`` → ``(H, W)`` (height first, as ``Geometry`` and the manifest).

    Raises ``ValueError`` naming ``option`` and what it expected.
    """
    raw = str(text).strip().lower()
    parts = raw.split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values, default=0) <= 0:
        msg = f"{option} {text!r}: expected N or HxW in pixels (e.g. 392 or 224x560)"
        raise ValueError(msg)
    return (values[0], values[-1])


@dataclass
class Geometry:
    """Resize then centre crop; a crop the size of the resize is none (the whole field of view).

    Or tiles (``tile_overlap`` set): the resized frame is cut into overlapping tiles of the crop
    size, each a model input (tiling.py); their maps are merged by maximum, the image score is the
    highest tile score. The constructor's defaults are the authors' (448 → 392), kept for fidelity
    to the paper; ``train`` makes new models see the whole view.
    """

    resize_height: int = 448
    resize_width: int = 448
    crop_height: int = 392
    crop_width: int = 392
    tile_overlap: int | None = None
    """Tiled: the least overlap of neighbouring tiles in px (the last tile along an axis is pulled
    back to end at the frame's edge, overlapping more); ``None``: one centre crop."""

    @property
    def crop_hw(self) -> tuple[int, int]:
        """``(crop_height, crop_width)``: the model's input size."""
        return (self.crop_height, self.crop_width)

    @property
    def resize_hw(self) -> tuple[int, int]:
        """``(resize_height, resize_width)``."""
        return (self.resize_height, self.resize_width)

    @property
    def is_tiled(self) -> bool:
        """True when the frame is cut into tiles of ``crop_hw``."""
        return self.tile_overlap is not None

    @property
    def is_whole_view(self) -> bool:
        """True when no part of the (resized) frame is left out: no crop, or tiles."""
        return self.is_tiled or self.crop_hw == self.resize_hw

    def check(self) -> None:
        """Refuses sizes that cannot work, naming them (``ValueError``)."""
        if min(self.resize_hw + self.crop_hw) <= 0:
            msg = f"geometry: sizes must be positive (resize {self.resize_height}x{self.resize_width}, crop {self.crop_height}x{self.crop_width})"
            raise ValueError(msg)
        if self.crop_height > self.resize_height or self.crop_width > self.resize_width:
            msg = (f"geometry: crop {self.crop_height}x{self.crop_width} is larger than the resize "
                   f"{self.resize_height}x{self.resize_width}")
            raise ValueError(msg)
        if self.tile_overlap is not None and not 0 <= self.tile_overlap < min(self.crop_hw):
            msg = f"geometry: tile overlap {self.tile_overlap} px must be ≥ 0 and less than the tile ({self.crop_height}x{self.crop_width})"
            raise ValueError(msg)

    def describe(self) -> str:
        """``"224x560 (whole view)"``, ``"392x392 crop of 448x448"`` or the tiles."""
        if self.is_tiled:
            return (f"tiles of {self.crop_height}x{self.crop_width} over {self.resize_height}x{self.resize_width} "
                    f"(whole view, overlap ≥ {self.tile_overlap} px)")
        if self.is_whole_view:
            return f"{self.crop_height}x{self.crop_width} (whole view)"
        return f"{self.crop_height}x{self.crop_width} crop of {self.resize_height}x{self.resize_width}"

    def crop_box(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` of the crop in the resized image (all of it when tiled)."""
        if self.is_tiled:
            return (0, 0, self.resize_width, self.resize_height)
        top = int(round((self.resize_height - self.crop_height) / 2.0))
        left = int(round((self.resize_width - self.crop_width) / 2.0))
        return (left, top, left + self.crop_width, top + self.crop_height)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``tile_overlap`` only when tiled, so older RUNs read the same)."""
        d = asdict(self)
        if d["tile_overlap"] is None:
            del d["tile_overlap"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Geometry:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)

    def manifest(self) -> dict[str, Any]:
        """The manifest ``geometry`` block."""
        return {
            "resize": {
                "height": self.resize_height,
                "width": self.resize_width,
                "method": "bilinear",
                "antialias": True,
            },
            "crop": None if self.is_tiled else {"height": self.crop_height, "width": self.crop_width, "mode": "center"},
            **({"tiles": {"height": self.crop_height, "width": self.crop_width, "overlap": self.tile_overlap}}
               if self.is_tiled else {}),
        }


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode → RGB; 16/32-bit greyscale keeps its high byte instead of clipping at 255."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(img, dtype=np.uint32 if img.mode == "I" else np.uint16)
        shift = 24 if img.mode == "I" and int(values.max(initial=0)) > 0xFFFF else 8
        img = Image.fromarray((values >> shift).astype(np.uint8), mode="L")
    return img.convert("RGB")


def to_uint8_frame(img: Image.Image, geometry: Geometry) -> np.ndarray:
    """PIL image (any size and mode) → RGB resized to the frame size, ``uint8 [H, W, 3]`` (no crop)."""
    img = to_rgb(img)
    size = (geometry.resize_width, geometry.resize_height)
    if img.size != size:
        img = img.resize(size, Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8).copy()


def to_uint8_crop(img: Image.Image, geometry: Geometry) -> np.ndarray:
    """PIL image (any size and mode) → RGB, resized and centre-cropped, ``uint8 [h, w, 3]``."""
    if geometry.is_tiled:
        msg = "a tiled geometry has no single crop: cut the frame into tiles (tiling.cut_tiles)"
        raise ValueError(msg)
    img = to_rgb(img)
    size = (geometry.resize_width, geometry.resize_height)
    if img.size != size:
        img = img.resize(size, Image.BILINEAR)
    return np.asarray(img.crop(geometry.crop_box()), dtype=np.uint8).copy()


def load_image(path: str | Path, geometry: Geometry) -> np.ndarray:
    """Read an image file as the runtime would feed it: ``uint8 [h, w, 3]`` RGB at the crop size."""
    try:
        with Image.open(path) as img:
            return to_uint8_crop(img, geometry)
    except (OSError, ValueError) as e:
        msg = f"{path}: cannot read image ({e})"
        raise ValueError(msg) from e


def normalize(images: torch.Tensor) -> torch.Tensor:
    """``uint8 [N, H, W, 3]`` (or float in 0–255) → normalised ``float32 [N, 3, H, W]``."""
    x = images.to(torch.float32).permute(0, 3, 1, 2) / 255.0
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def to_model_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 NHWC RGB (numpy or torch) → normalised float NCHW, exactly what an exported graph does."""
    return normalize(torch.as_tensor(images))
