"""``import-official --arch A``: a checkpoint trained with the authors' code → a RUN folder.

Common to every architecture: reading the file on the CPU without running code from it (a bare
state_dict, or one under ``model``/``state_dict``, ``module.`` prefixes stripped), naming the
missing, unexpected and mis-shaped keys, and the options ``--checkpoint``, ``--out``,
``--calib-data`` and ``--version``. The key mapping, the configuration read from the tensors and
the family's own options are A's (``import_official``/``add_import_arguments`` in registry.py;
INP-Former: models/inp_former/official.py). The RUN folder is written to a temporary name and
renamed, so nothing is half-written.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch

from . import registry
from .calibrate import list_images
from .tensors import load_tensors


class CheckpointError(ValueError):
    """The checkpoint does not fit; the message names the file and the keys."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a checkpoint on the CPU (bare state_dict, or under 'model'/'state_dict'); strip 'module.'."""
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: checkpoint not found"
        raise CheckpointError(msg)
    try:
        obj = load_tensors(path)
    except Exception as e:  # noqa: BLE001 - torch.load raises many kinds
        msg = f"{path}: cannot read checkpoint ({e})"
        raise CheckpointError(msg) from e
    if isinstance(obj, dict):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        msg = f"{path}: not a state_dict of tensors"
        raise CheckpointError(msg)
    return {k[len("module.") :] if k.startswith("module.") else k: v for k, v in obj.items()}


def check_keys(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], path: Path, family: str) -> None:
    """Raise :class:`CheckpointError` naming missing, unexpected and mis-shaped keys.

    ``own`` is the model's ``state_dict()``, ``state`` the checkpoint's (after the family's key
    mapping), ``family`` the name the message uses.
    """
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"missing keys ({len(missing)}): {', '.join(missing[:12])}{' …' if len(missing) > 12 else ''}")
    if unexpected:
        parts.append(
            f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:12])}{' …' if len(unexpected) > 12 else ''}"
        )
    if shapes:
        parts.append(
            "wrong shapes: "
            + ", ".join(f"{k} {tuple(state[k].shape)} (expected {tuple(own[k].shape)})" for k in shapes[:12])
        )
    msg = f"{path}: does not match {family}: " + "; ".join(parts)
    raise CheckpointError(msg)


def add_arguments(p: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> None:
    """CLI arguments of ``import-official``: the common ones, then those of the ``--arch`` in ``argv``."""
    registry.add_arch_argument(p)
    p.add_argument("--checkpoint", required=True, help="the authors' checkpoint file (a state_dict)")
    p.add_argument("--out", required=True, help="RUN folder to write")
    p.add_argument("--calib-data", help="held-out good images that export will calibrate on (recorded in the run)")
    p.add_argument("--version", help="model version for the manifest (default official-<checkpoint name>)")
    name = registry.chosen(argv)
    if name in registry.REGISTRY:  # otherwise parsing refuses --arch, naming the known ones
        registry.get(name).add_import_arguments(p)


def main(args: argparse.Namespace) -> int:
    """Run ``import-official``."""
    arch = registry.get(args.arch)
    args.calibration = None
    if args.calib_data:
        list_images(args.calib_data)  # fail now, not at export
        args.calibration = [str(Path(args.calib_data).resolve())]
    run = arch.import_official(args)
    print(f"wrote {args.out}: {arch.describe(run)}")
    return 0
