"""The RUN folder: what training (or import-official) leaves for eval and export.

Layout (format ``linewatch-run/1``)::

    RUN/
      config.json     architecture, model (encoder included), geometry, recipe, data, training
      checkpoint.pt   {"format", "state_dict", "step", "optimizer"?, "scheduler"?, "extra"?}
      metrics.json    optional: what eval measured ({"per_category": …, "mean": …} or free form)

``config.json`` fields:

- ``format``: ``"linewatch-run/1"``; ``architecture``: the registry key (``"inp-former"``, see
  ``registry.py``), which says how to read ``model`` and ``recipe``; ``version``: free text that
  export copies into the manifest.
- ``model``: the architecture's config dataclass as a dict (INP-Former:
  :class:`~trainer.models.inp_former.InpFormerConfig`, ``encoder`` nested).
- ``geometry``: :class:`~trainer.preprocess.Geometry` (resize then centre crop).
- ``recipe``: the architecture's reference recipe (INP-Former:
  :class:`~trainer.models.inp_former.RecipeConfig`: evaluation map size, gaussian, top-k).
- ``data``: ``train`` (dataset folders), ``categories``, and ``calibration``: the held-out good
  images (paths) that export calibrates on unless ``--calib-data`` says otherwise.
- ``training``: hyper-parameters, seed, iterations, time taken, code revision (free form).

Every file is written to a temporary name and renamed; :func:`create_run` builds a whole new RUN
in a temporary folder and renames it into place, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from torch import nn

from . import registry
from .preprocess import Geometry
from .tensors import load_tensors

RUN_FORMAT = "linewatch-run/1"
CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.json"


class RunError(ValueError):
    """A RUN folder that cannot be read; the message names the file."""


@dataclass
class RunConfig:
    """Everything needed to rebuild the model and its pre/post-processing.

    ``model`` and ``recipe`` are the dataclasses of the architecture named by ``architecture``
    (its ``config_type`` and ``recipe_type``).
    """

    model: registry.Serialisable
    geometry: Geometry
    recipe: registry.Serialisable
    data: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    architecture: str = "inp-former"
    version: str = "0.1.0"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``config.json``)."""
        return {
            "format": RUN_FORMAT,
            "architecture": self.architecture,
            "version": self.version,
            "model": self.model.to_dict(),
            "geometry": self.geometry.to_dict(),
            "recipe": self.recipe.to_dict(),
            "data": self.data,
            "training": self.training,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Inverse of :meth:`to_dict`; raises ``KeyError``/``TypeError`` on a bad dict."""
        if d.get("format") != RUN_FORMAT:
            msg = f"format is {d.get('format')!r}, expected {RUN_FORMAT!r}"
            raise ValueError(msg)
        architecture = d.get("architecture", registry.DEFAULT)
        arch = registry.get(architecture)
        return cls(
            model=arch.config_type.from_dict(d["model"]),
            geometry=Geometry.from_dict(d["geometry"]),
            recipe=arch.recipe_type.from_dict(d.get("recipe", {})),
            data=dict(d.get("data", {})),
            training=dict(d.get("training", {})),
            architecture=architecture,
            version=str(d.get("version", "0.1.0")),
        )


def _atomic_write_bytes(path: Path, write: Any) -> None:
    """Write through ``write(file_object)`` to a temporary name beside ``path``, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    data = (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode()
    _atomic_write_bytes(Path(path), lambda f: f.write(data))


def save_config(run_dir: str | Path, config: RunConfig) -> None:
    """Write ``config.json``."""
    write_json(Path(run_dir) / CONFIG_FILE, config.to_dict())


def load_config(run_dir: str | Path) -> RunConfig:
    """Read ``config.json``; raises :class:`RunError` naming the file."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        msg = f"{path}: not found (is {run_dir} a RUN folder?)"
        raise RunError(msg)
    try:
        return RunConfig.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as e:
        msg = f"{path}: invalid run config ({e})"
        raise RunError(msg) from e


def save_checkpoint(
    run_dir: str | Path,
    state_dict: dict[str, torch.Tensor],
    *,
    step: int = 0,
    optimizer: dict[str, Any] | None = None,
    scheduler: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write ``checkpoint.pt`` (atomically). Pass optimizer/scheduler state to allow resuming."""
    ckpt: dict[str, Any] = {"format": RUN_FORMAT, "state_dict": state_dict, "step": int(step)}
    if optimizer is not None:
        ckpt["optimizer"] = optimizer
    if scheduler is not None:
        ckpt["scheduler"] = scheduler
    if extra is not None:
        ckpt["extra"] = extra
    _atomic_write_bytes(Path(run_dir) / CHECKPOINT_FILE, lambda f: torch.save(ckpt, f))


def load_checkpoint(run_dir: str | Path) -> dict[str, Any]:
    """Read ``checkpoint.pt`` on the CPU; raises :class:`RunError` naming the file."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        msg = f"{path}: not found"
        raise RunError(msg)
    try:
        ckpt = load_tensors(path)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds
        msg = f"{path}: cannot read checkpoint ({e})"
        raise RunError(msg) from e
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        msg = f"{path}: not a linewatch checkpoint (no state_dict)"
        raise RunError(msg)
    return ckpt


def save_metrics(run_dir: str | Path, metrics: dict[str, Any]) -> None:
    """Write ``metrics.json``."""
    write_json(Path(run_dir) / METRICS_FILE, metrics)


def load_metrics(run_dir: str | Path) -> dict[str, Any]:
    """Read ``metrics.json`` ({} when absent)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        msg = f"{path}: invalid JSON ({e})"
        raise RunError(msg) from e


def build_model(config: RunConfig) -> nn.Module:
    """A fresh model for a config (random weights), built by its architecture."""
    return registry.get(config.architecture).build_model(config)


@dataclass
class Run:
    """A loaded RUN folder."""

    path: Path
    config: RunConfig
    model: nn.Module
    checkpoint: dict[str, Any]
    metrics: dict[str, Any]


def load_run(run_dir: str | Path) -> Run:
    """Config + model (weights loaded, eval mode, CPU) + checkpoint + metrics."""
    run_dir = Path(run_dir)
    config = load_config(run_dir)
    ckpt = load_checkpoint(run_dir)
    model = build_model(config)
    result = model.load_state_dict(ckpt["state_dict"], strict=False)
    if result.missing_keys or result.unexpected_keys:
        msg = (
            f"{run_dir / CHECKPOINT_FILE}: does not match config.json "
            f"(missing {result.missing_keys[:8]}, unexpected {result.unexpected_keys[:8]})"
        )
        raise RunError(msg)
    model.eval()
    return Run(run_dir, config, model, ckpt, load_metrics(run_dir))


@contextmanager
def staging_dir(out: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on success it replaces ``out``, on error it goes.

    An existing ``out`` is replaced only after the new folder is complete.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=str(out.parent)))
    os.chmod(tmp, 0o755)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def create_run(
    out: str | Path,
    config: RunConfig,
    state_dict: dict[str, torch.Tensor],
    *,
    step: int = 0,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a complete RUN folder at ``out`` (temporary folder, then rename)."""
    with staging_dir(out) as tmp:
        save_config(tmp, config)
        save_checkpoint(tmp, state_dict, step=step, extra=extra)
        if metrics:
            save_metrics(tmp, metrics)
    return Path(out)
