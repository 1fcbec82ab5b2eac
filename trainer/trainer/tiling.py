"""Tiles: a frame cut into overlapping model inputs, and their maps merged back.

For large frames (an area-scan camera's megapixels, where a defect is a few pixels wide) and long
parts, instead of squeezing the whole frame into one input: the frame is resized to
``resize_height × resize_width`` (often its own size) and cut into tiles of the model's input
size. Along each axis tiles start every ``tile − overlap`` px and the last one is pulled back to
end exactly at the edge, so every pixel is seen and no tile hangs over (the runtime's
``tileStarts`` in src/pipeline/tiler/tiles.ts, the same rule). Training sees every tile of every
image; at test time each tile's map is brought back to the tile's pixels (bilinear, half-pixel)
and the frame's map is their maximum where they overlap — a defect one tile sees at its border,
with little context, is not diluted by the neighbour that does not see it, as the line-scan tiler
merges — and the image score is the highest tile score.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .preprocess import Geometry, to_uint8_crop, to_uint8_frame


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Where tiles start along one axis (see the module docstring); ``[0]`` when one tile fits."""
    if tile > length:
        msg = f"tile of {tile} px is larger than the frame ({length} px)"
        raise ValueError(msg)
    if not 0 <= overlap < tile:
        msg = f"overlap {overlap} px must be ≥ 0 and smaller than the tile ({tile} px)"
        raise ValueError(msg)
    starts, s = [], 0
    while s + tile < length:
        starts.append(s)
        s += tile - overlap
    starts.append(length - tile)
    return starts


def tile_boxes(geometry: Geometry) -> list[tuple[int, int, int, int]]:
    """``(left, top, right, bottom)`` of every tile in the resized frame, row by row."""
    th, tw = geometry.crop_hw
    o = geometry.tile_overlap or 0
    ys = tile_starts(geometry.resize_height, th, o)
    xs = tile_starts(geometry.resize_width, tw, o)
    return [(x, y, x + tw, y + th) for y in ys for x in xs]


def inputs_per_image(geometry: Geometry) -> int:
    """How many model inputs one image makes: its tiles, or 1 (the crop)."""
    return len(tile_boxes(geometry)) if geometry.is_tiled else 1


def cut_tiles(frame: np.ndarray, geometry: Geometry) -> np.ndarray:
    """A resized frame ``uint8 [H, W, 3]`` → its tiles ``[T, h, w, 3]``."""
    return np.stack([frame[t:b, left:r] for left, t, r, b in tile_boxes(geometry)])


def load_inputs(path: str | Path, geometry: Geometry) -> np.ndarray:
    """An image file as the model's inputs ``uint8 [T, h, w, 3]``: its tiles, or its one crop.

    Raises ``ValueError`` naming a file that cannot be read.
    """
    try:
        with Image.open(path) as img:
            if geometry.is_tiled:
                return cut_tiles(to_uint8_frame(img, geometry), geometry)
            return to_uint8_crop(img, geometry)[None]
    except OSError as e:
        msg = f"{path}: cannot read image ({e})"
        raise ValueError(msg) from e


def merge_maps(tile_maps: torch.Tensor, geometry: Geometry) -> torch.Tensor:
    """One frame's tile maps ``[T, 1, mh, mw]`` (each covering its tile) → the frame's map
    ``[1, H, W]`` at the resized frame's resolution, the maximum where tiles overlap."""
    th, tw = geometry.crop_hw
    at_tile = F.interpolate(tile_maps.float(), size=(th, tw), mode="bilinear", align_corners=False)
    frame = torch.full((1, geometry.resize_height, geometry.resize_width), float("-inf"))
    for m, (left, t, r, b) in zip(at_tile, tile_boxes(geometry), strict=True):
        frame[:, t:b, left:r] = torch.maximum(frame[:, t:b, left:r], m)
    return frame


def merge_frames(maps: torch.Tensor, scores: torch.Tensor, geometry: Geometry) -> tuple[torch.Tensor, torch.Tensor]:
    """Maps ``[N·T, 1, mh, mw]`` and scores ``[N·T]`` of N frames' tiles, in order → the frames'
    maps ``[N, 1, H, W]`` and scores ``[N]`` (the highest tile score). Untiled: unchanged."""
    if not geometry.is_tiled:
        return maps, scores
    t = inputs_per_image(geometry)
    if maps.shape[0] % t:
        msg = f"{maps.shape[0]} tile maps are not whole frames of {t} tiles"
        raise ValueError(msg)
    frames = [merge_maps(maps[i : i + t], geometry) for i in range(0, maps.shape[0], t)]
    return torch.stack(frames), scores.view(-1, t).max(dim=1).values
