"""The architecture registry: what ``train``, ``eval``, ``export`` and ``import-official`` look up.

Each model family lives in its own package, ``trainer/models/<package>/`` (the ``nn.Module``, its
loss and training loop, its export graph and reference recipe, its import of the authors'
checkpoints), and exposes one :class:`Architecture` instance named ``ARCHITECTURE``.
:data:`REGISTRY` maps the registry key to that package. The key is what RUN/config.json and the
bundle's model.json say in ``architecture`` (``src/models/manifest.ts``), so it may hold
characters a Python package name cannot (``inp-former`` lives in ``models/inp_former``).

Adding a family is a folder and one line in :data:`REGISTRY`::

    # trainer/models/onenip/__init__.py
    class OneNipArchitecture(Architecture):
        name = "onenip"
        ...                           # every abstract method below
    ARCHITECTURE = OneNipArchitecture()

The commands keep what is common to every family: finding the data and holding good images out
for calibration (``train``), the RUN folder (``run.py``), the metrics (``evaluate.py``), ONNX
tracing, the parity check, calibration, ``golden.json`` and the bundle (``export.py``), reading
a checkpoint file (``import_official.py``). An architecture supplies only what differs.
"""

from __future__ import annotations

import argparse
import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import torch
from torch import nn

from .preprocess import Geometry

if TYPE_CHECKING:
    from .data import Category
    from .run import RunConfig

#: Registry key (= manifest ``architecture``) → the package whose ``ARCHITECTURE`` serves it.
REGISTRY: dict[str, str] = {
    "inp-former": "trainer.models.inp_former",
    "inp-former++": "trainer.models.inp_former_pp",
    "onenip": "trainer.models.onenip",
}

#: What ``train --arch`` and ``import-official --arch`` use when none is given.
DEFAULT = "inp-former"


class UnknownArchitecture(ValueError):
    """An architecture this trainer does not have; the message lists the ones it has."""


def names() -> list[str]:
    """The registry keys, sorted."""
    return sorted(REGISTRY)


def get(name: str) -> Architecture:
    """The architecture registered as ``name``; :class:`UnknownArchitecture` otherwise."""
    module = REGISTRY.get(name)
    if module is None:
        msg = f"unknown architecture {name!r} (known: {', '.join(names())})"
        raise UnknownArchitecture(msg)
    arch = importlib.import_module(module).ARCHITECTURE
    if arch.name != name:  # a copied folder whose name was not changed
        msg = f"{module}.ARCHITECTURE is named {arch.name!r}, registered as {name!r}"
        raise RuntimeError(msg)
    return arch


def chosen(argv: Sequence[str] | None) -> str:
    """The value of ``--arch`` in ``argv`` (``--arch X`` or ``--arch=X``), else :data:`DEFAULT`.

    Commands whose options depend on the architecture read it before building their parser.
    """
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--arch", default=DEFAULT)
    known, _ = peek.parse_known_args(list(argv or []))
    return known.arch


def add_arch_argument(parser: argparse.ArgumentParser) -> None:
    """``--arch`` with the registry's keys as its choices (argparse names them on a bad value)."""
    parser.add_argument("--arch", default=DEFAULT, choices=names(),
                        help=f"model family (default {DEFAULT}); each has its own options: --arch X --help")


class Serialisable(Protocol):
    """A config dataclass stored in RUN/config.json (``model`` and ``recipe``)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; ``from_dict`` (a classmethod) is its inverse."""
        ...


@dataclass
class TrainJob:
    """What ``train`` hands an architecture after the common work."""

    args: argparse.Namespace
    """The whole command line: the common options (``--data``, ``--seed``, ``--threads``,
    ``--checkpoint-every``, ``--resume``, ``--version``) and the architecture's own."""
    categories: list[Category]
    """The datasets found under ``--data`` (one per category; several = one multi-class model)."""
    train_paths: dict[str, list[Path]]
    """Category name → its good training images, the calibration hold-out removed."""
    calib_paths: list[Path]
    """Good images held out for export's calibration (recorded in the RUN)."""
    geometry: Geometry
    """``--resize``/``--crop``, or the architecture's :attr:`Architecture.default_geometry`."""
    partial: Path
    """Where resumable checkpoints of this run go (``RUN.partial``; removed when the RUN is written)."""

    def data_record(self, **extra: Any) -> dict[str, Any]:
        """The RUN's ``data`` block: the folders, the categories, ``extra``, the calibration images."""
        return {
            "train": [str(Path(d).resolve()) for d in str(self.args.data).split(",") if d],
            "categories": [c.name for c in self.categories],
            **extra,
            "calibration": [str(p.resolve()) for p in self.calib_paths],
        }


@dataclass
class Trained:
    """What an architecture's training gives back; ``train`` writes it as the RUN folder."""

    config: RunConfig
    state_dict: dict[str, torch.Tensor]
    step: int


#: uint8 NHWC crops ``[N, h, w, 3]`` → (final map ``[N, 1, H, W]``, score ``[N]``) by the reference recipe.
Scorer = Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor]]


def image_only(images: np.ndarray) -> dict[str, np.ndarray]:
    """:attr:`ExportSpec.inputs_for` of a graph whose only input is the image."""
    return {"image": images}


@dataclass
class AuxGraph:
    """A second graph a bundle carries beside ``model.onnx`` (OneNIP: ``embed.onnx``, the global
    feature that chooses a prompt from a pool). Its inputs are uint8 NHWC images like the model's;
    ``export`` traces it with the same batch rule, checks it against PyTorch on the golden images,
    writes it into the bundle and fills its ``sha256`` into the manifest block that names ``file``."""

    file: str
    graph: nn.Module
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]


@dataclass
class ExportSpec:
    """One exportable graph and what the manifest says about it."""

    graph: nn.Module
    """``forward(*inputs)`` in :attr:`input_names` order, each uint8 NHWC at the crop size; returns
    a tensor or a tuple in :attr:`output_names` order."""
    output_names: tuple[str, ...]
    outputs: dict[str, Any]
    """The manifest ``outputs`` block (``anomalyMap``, ``score``, ``extra``)."""
    finish: Callable[[dict[str, torch.Tensor]], tuple[torch.Tensor, torch.Tensor]]
    """The graph's outputs → the final reference (map ``[N,1,H,W]``, score ``[N]``): identity when
    the graph applies the whole recipe, the rest of the recipe otherwise. Calibration and
    ``golden.json``'s ``reference`` come from it."""
    model_record: dict[str, Any]
    """What the manifest's ``training.model`` says about the network (sizes, encoder, weights)."""
    input_names: tuple[str, ...] = ("image",)
    """The first is the image; a prompted model adds its prompt (same geometry and dtype)."""
    inputs_for: Callable[[np.ndarray], dict[str, np.ndarray]] = field(default=image_only)
    """uint8 image crops ``[N,h,w,3]`` → every graph input by name (a prompted model adds its prompt
    for those images); used for calibration, golden cases and the parity check."""
    prompt: dict[str, Any] | None = None
    """The manifest ``prompt`` block (a prompted model only)."""
    aux: tuple[AuxGraph, ...] = ()
    """Further graphs shipped in the bundle; a manifest block names each by its ``file`` (a
    prompted model's ``prompt.embedding``)."""
    int8_scope: tuple[str, ...] | None = None
    """Node-name prefixes of the network in the traced graph (``/model/`` for ``self.model``):
    ``export --int8`` quantizes the products with weights under them and keeps the rest — the
    map recipe above all — in float (quantize.py). None: the family has no int8 export."""


class Architecture(ABC):
    """One model family, as the commands see it. Subclass, fill every abstract member, register."""

    name: ClassVar[str]
    """Registry key and manifest ``architecture`` (one of ``ARCHITECTURES`` in src/models/manifest.ts)."""
    summary: ClassVar[str]
    """One line for ``--help``."""
    config_type: ClassVar[type]
    """The model's config dataclass (RUN ``model``): ``to_dict()`` and a ``from_dict`` classmethod."""
    recipe_type: ClassVar[type]
    """The reference test-time recipe's dataclass (RUN ``recipe``), same methods."""
    default_geometry: ClassVar[Geometry]
    """The authors' resize/crop (``Geometry(448, 448, 392, 392)`` for INP-Former). ``train``
    without ``--resize``/``--crop`` keeps its input size (``crop_hw``) but crops nothing: new
    models see the whole field of view; ``--resize 448 --crop 392`` gives the authors' framing."""
    input_multiple: ClassVar[int] = 1
    """The model input's sides must be multiples of this (a ViT's patch size); ``train`` refuses
    other sizes before loading any image and suggests the nearest."""

    @abstractmethod
    def build_model(self, config: RunConfig) -> nn.Module:
        """A fresh model for a RUN config (random weights); ``load_run`` loads the checkpoint into it."""

    # ---- train

    @abstractmethod
    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The family's own ``train`` options (encoder, loss weights, steps, batch, lr, …)."""

    @abstractmethod
    def train(self, job: TrainJob) -> Trained:
        """Build, initialise and train the model on ``job``'s images (its own loop, checkpoints in
        ``job.partial`` every ``job.args.checkpoint_every`` steps, resumed when ``job.args.resume``)."""

    # ---- eval

    @abstractmethod
    def scorer(self, model: nn.Module, config: RunConfig, category: Category) -> Scorer:
        """Maps and scores of test images of ``category`` by the reference recipe, in PyTorch.

        ``category`` is there for models that need more than the image (OneNIP: a prompt from its
        ``train`` images)."""

    # ---- export

    @abstractmethod
    def export_spec(self, model: nn.Module, config: RunConfig, map_mode: str) -> ExportSpec:
        """The graph to trace for ``--map full`` or ``raw`` (refuse a mode the family lacks)."""

    # ---- import-official

    @abstractmethod
    def add_import_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The family's own ``import-official`` options (encoder name, geometry, …)."""

    @abstractmethod
    def import_official(self, args: argparse.Namespace) -> RunConfig:
        """The authors' checkpoint ``args.checkpoint`` → a RUN folder at ``args.out``; key mapping
        and checks are the family's (name the file and the offending keys)."""

    def describe(self, config: RunConfig) -> str:
        """One line about a RUN's model, for the commands' output."""
        return f"{self.name} {config.version}"
