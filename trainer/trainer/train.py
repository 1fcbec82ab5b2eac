"""``train --arch A``: find the data, hold good images out for calibration, let A train, write the RUN.

What is common to every architecture happens here: the datasets under ``--data`` (one model for
all the categories found; images of any size and mode, each resized by the geometry), the
calibration hold-out (``--calib-holdout`` of each category's ``train/good``, drawn by ``--seed``),
the geometry (``--resize HxW``, ``--crop HxW|none``; by default the architecture's input size
over the whole field of view), seeding, threads, and the RUN folder, which appears only when
training ends (resumable checkpoints go to ``RUN.partial`` meanwhile). The architecture's own options,
model, loss and loop are its ``add_train_arguments`` and ``train`` (registry.py);
``train --arch A --help`` lists A's options.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from . import registry
from .data import DatasetError, check_images, discover, typical_aspect
from .optim import seed_everything
from .preprocess import Geometry, parse_size
from .run import create_run


def _split_holdout(paths: list[Path], fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """(train, held-out good images for calibration); at least 1 held out when fraction > 0."""
    if fraction <= 0:
        return list(paths), []
    k = max(1, int(round(len(paths) * fraction)))
    if k >= len(paths):
        raise DatasetError(f"--calib-holdout {fraction} leaves no training images in {paths[0].parent}")
    order = np.random.default_rng(seed).permutation(len(paths))
    held = set(order[:k].tolist())
    return [p for i, p in enumerate(paths) if i not in held], [p for i, p in enumerate(paths) if i in held]


def _partial_dir(out: Path) -> Path:
    """Where checkpoints of an unfinished run live; RUN itself appears only when training ends."""
    return out.parent / f"{out.name}.partial"


def geometry_from_args(resize: str | None, crop: str | None, arch: registry.Architecture,
                       tile: str | None = None, tile_overlap: int | None = None) -> Geometry:
    """``--resize N|HxW``, ``--crop N|HxW|none`` and ``--tile N|HxW`` → the geometry.

    Neither: the architecture's input size (its authors' crop, 392 for INP-Former) over the whole
    field of view. ``--resize`` alone: no crop. ``--crop`` alone: the authors' resize, then that
    crop. ``--tile``: the frame resized to ``--resize`` (required) cut into tiles of that size,
    overlapping by ``--tile-overlap`` (default an eighth of the tile). Model input sides must be
    multiples of the architecture's ``input_multiple``.
    """
    default = arch.default_geometry
    crop_none = crop is not None and str(crop).strip().lower() == "none"
    if tile:
        if not resize:
            msg = ("--tile needs --resize HxW: the frame size the tiles are cut from (the camera's own, e.g. "
                   "2048x2448, or smaller to trade detail for speed)")
            raise ValueError(msg)
        if crop and not crop_none:
            msg = "--tile and --crop exclude each other: tiles cover the whole frame"
            raise ValueError(msg)
        th, tw = parse_size(tile, "--tile")
        overlap = round(min(th, tw) / 8) if tile_overlap is None else tile_overlap
        crop = f"{th}x{tw}"
    if resize:
        rh, rw = parse_size(resize, "--resize")
    elif crop and not crop_none:
        rh, rw = default.resize_hw
    else:
        rh, rw = default.crop_hw
    ch, cw = (rh, rw) if not crop or crop_none else parse_size(crop, "--crop")
    geometry = Geometry(rh, rw, ch, cw, overlap if tile else None)
    geometry.check()
    m = arch.input_multiple
    if ch % m or cw % m:
        near = f"{max(m, round(ch / m) * m)}x{max(m, round(cw / m) * m)}"
        what = "--tile" if tile else "--crop" if not geometry.is_whole_view else "--resize"
        msg = f"{what}: {arch.name} takes inputs whose sides are multiples of {m}; {ch}x{cw} is not (try {near})"
        raise ValueError(msg)
    return geometry


def aspect_advice(sizes: list[tuple[int, int]], geometry: Geometry, multiple: int) -> str | None:
    """A warning when the geometry squeezes the images' typical aspect by more than 1.25×, with the
    resize that keeps it at about the same number of pixels; ``None`` when the aspect is kept."""
    w, h, aspect = typical_aspect(sizes)
    model_aspect = geometry.resize_width / geometry.resize_height
    squeeze = max(aspect, model_aspect) / min(aspect, model_aspect)
    if squeeze < 1.25:
        return None
    area = geometry.resize_width * geometry.resize_height
    kh = max(multiple, round((area / aspect) ** 0.5 / multiple) * multiple)
    kw = max(multiple, round(kh * aspect / multiple) * multiple)
    axis = "along x" if aspect > model_aspect else "along y"
    return (f"train: the training images are about {w}x{h} (width/height {aspect:.2f}); resizing them to "
            f"{geometry.resize_height}x{geometry.resize_width} squeezes them {squeeze:.2f}x {axis}, and thin defects "
            f"across that axis may vanish. To keep their proportions at about the same cost: --resize {kh}x{kw}")


def run_training(args: argparse.Namespace) -> Path:
    """Everything ``train`` does; returns the RUN folder."""
    arch = registry.get(getattr(args, "arch", registry.DEFAULT))
    torch.set_num_threads(max(1, args.threads))
    out = Path(args.out)
    seed_everything(args.seed)
    geometry = geometry_from_args(args.resize, args.crop, arch, getattr(args, "tile", None),
                                  getattr(args, "tile_overlap", None))
    categories = discover(args.data)
    train_paths: dict[str, list[Path]] = {}
    calib_paths: list[Path] = []
    sizes: list[tuple[int, int]] = []
    for category in categories:
        sizes += check_images(category.train, f"check {category.name}")
        kept, held = _split_holdout(category.train, args.calib_holdout, args.seed)
        train_paths[category.name] = kept
        calib_paths += held
    advice = aspect_advice(sizes, geometry, arch.input_multiple)
    if advice:
        print(advice, file=sys.stderr)
    print(f"train: {arch.name}, input {geometry.describe()}, {sum(len(p) for p in train_paths.values())} training "
          f"images in {len(categories)} categor{'y' if len(categories) == 1 else 'ies'}", file=sys.stderr)
    job = registry.TrainJob(args, categories, train_paths, calib_paths, geometry, _partial_dir(out))
    trained = arch.train(job)
    create_run(out, trained.config, trained.state_dict, step=trained.step)
    shutil.rmtree(job.partial, ignore_errors=True)
    return out


def add_arguments(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> None:
    """Options of ``python3 -m trainer train``: the common ones, then those of the ``--arch`` in ``argv``."""
    parser.add_argument("--data", required=True, help="dataset folder(s) in MVTec layout, comma-separated")
    registry.add_arch_argument(parser)
    parser.add_argument("--out", required=True, help="RUN folder to write (appears only when training ends)")
    parser.add_argument("--resize", default=None, metavar="N|HxW",
                        help="resize every image to this size, height x width in px (e.g. 224x560 keeps a 1:2.5 part "
                             "in proportion; default: the architecture's input size, 392x392 for inp-former)")
    parser.add_argument("--crop", default=None, metavar="N|HxW|none",
                        help="centre crop after the resize (default none: the model sees the whole field of view; "
                             "the authors' framing is --resize 448 --crop 392)")
    parser.add_argument("--tile", default=None, metavar="N|HxW",
                        help="cut each image, resized to --resize, into overlapping tiles of this size and train on "
                             "them; the runtime inspects frames tile by tile and merges the maps (large frames)")
    parser.add_argument("--tile-overlap", type=int, default=None, metavar="PX",
                        help="least overlap of neighbouring tiles in px (default an eighth of the tile)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--calib-holdout", type=float, default=0.1,
                        help="fraction of train/good held out for export's calibration (default 0.1)")
    parser.add_argument("--checkpoint-every", type=int, default=200,
                        help="resumable checkpoint every N steps in RUN.partial (default 200)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN.partial/checkpoint.pt")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--version", default="0.1.0", help="model version written to the RUN (default 0.1.0)")
    name = registry.chosen(argv)
    if name in registry.REGISTRY:  # otherwise parsing refuses --arch, naming the known ones
        registry.get(name).add_train_arguments(parser)


def main(args: argparse.Namespace) -> int:
    """Entry point of ``python3 -m trainer train``."""
    out = run_training(args)
    print(json.dumps({"run": str(out)}))
    return 0
