"""``train --arch A``: find the data, hold good images out for calibration, let A train, write the RUN.

What is common to every architecture happens here: the datasets under ``--data`` (one model for
all the categories found), the calibration hold-out (``--calib-holdout`` of each category's
``train/good``, drawn by ``--seed``), the geometry (``--resize``/``--crop``, else the
architecture's default), seeding, threads, and the RUN folder, which appears only when training
ends (resumable checkpoints go to ``RUN.partial`` meanwhile). The architecture's own options,
model, loss and loop are its ``add_train_arguments`` and ``train`` (registry.py);
``train --arch A --help`` lists A's options.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from . import registry
from .data import DatasetError, check_uniform, discover
from .optim import seed_everything
from .preprocess import Geometry
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


def _geometry(args: argparse.Namespace, default: Geometry) -> Geometry:
    """``--resize``/``--crop`` (square), each falling back to the architecture's default."""
    rh, rw = (args.resize, args.resize) if args.resize else (default.resize_height, default.resize_width)
    ch, cw = (args.crop, args.crop) if args.crop else (default.crop_height, default.crop_width)
    return Geometry(rh, rw, ch, cw)


def run_training(args: argparse.Namespace) -> Path:
    """Everything ``train`` does; returns the RUN folder."""
    arch = registry.get(getattr(args, "arch", registry.DEFAULT))
    torch.set_num_threads(max(1, args.threads))
    out = Path(args.out)
    seed_everything(args.seed)
    categories = discover(args.data)
    train_paths: dict[str, list[Path]] = {}
    calib_paths: list[Path] = []
    for category in categories:
        check_uniform(category.train)
        kept, held = _split_holdout(category.train, args.calib_holdout, args.seed)
        train_paths[category.name] = kept
        calib_paths += held
    job = registry.TrainJob(args, categories, train_paths, calib_paths, _geometry(args, arch.default_geometry),
                            _partial_dir(out))
    trained = arch.train(job)
    create_run(out, trained.config, trained.state_dict, step=trained.step)
    shutil.rmtree(job.partial, ignore_errors=True)
    return out


def add_arguments(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> None:
    """Options of ``python3 -m trainer train``: the common ones, then those of the ``--arch`` in ``argv``."""
    parser.add_argument("--data", required=True, help="dataset folder(s) in MVTec layout, comma-separated")
    registry.add_arch_argument(parser)
    parser.add_argument("--out", required=True, help="RUN folder to write (appears only when training ends)")
    parser.add_argument("--resize", type=int, default=0, help="resize side in px (default: the architecture's)")
    parser.add_argument("--crop", type=int, default=0, help="centre crop side in px (default: the architecture's)")
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
