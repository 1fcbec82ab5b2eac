"""Input geometry and normalisation, shared by every architecture's training, evaluation and export.

The runtime does the resize and the crop (manifest ``geometry``); the exported graph does the rest
(uint8 NHWC → /255 → ImageNet mean/std → NCHW), with the same arithmetic as :func:`normalize`.
Resize: PIL bilinear (antialiased when shrinking, as torchvision's Resize on PIL images), aspect not
kept. Crop: centred, top = round((H − h) / 2) with Python's round (ties to even), as torchvision's
CenterCrop.
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


@dataclass
class Geometry:
    """Resize then centre crop. Defaults are the authors' (448 → 392)."""

    resize_height: int = 448
    resize_width: int = 448
    crop_height: int = 392
    crop_width: int = 392

    @property
    def crop_hw(self) -> tuple[int, int]:
        """``(crop_height, crop_width)``: the model's input size."""
        return (self.crop_height, self.crop_width)

    def crop_box(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` of the crop in the resized image."""
        top = int(round((self.resize_height - self.crop_height) / 2.0))
        left = int(round((self.resize_width - self.crop_width) / 2.0))
        return (left, top, left + self.crop_width, top + self.crop_height)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

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
            "crop": {"height": self.crop_height, "width": self.crop_width, "mode": "center"},
        }


def to_uint8_crop(img: Image.Image, geometry: Geometry) -> np.ndarray:
    """PIL image → RGB, resized and centre-cropped, ``uint8 [h, w, 3]``."""
    img = img.convert("RGB")
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
