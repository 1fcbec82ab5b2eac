"""INP-Former++ (Luo et al., arXiv 2506.03660), registry key ``inp-former++``.

The authors published no code; this is built to shared/INPFORMERPP.md, every uncertain choice a
named option with the documented default (trainer/README.md says which parts are reconstructions).
INP-Former's package does the rest: encoder, extractor, decoder, feature cache, training loop,
recipe constants, zero-shot graph.

| file | what |
| --- | --- |
| ``model.py`` | ``InpFormerPP``: ``InpFormer`` + the residual (detached) and the residual head |
| ``loss.py`` | soft coherence loss, soft-mining cosine + MSE, Dice |
| ``recipe.py`` | the fused map: components, normalisation by good-image statistics, fusion |
| ``train.py`` | options, pseudo-anomaly pool, real defects, the joint / after schedules |
| ``graph.py`` | the export graph (fused map, score, ``recon_map`` extra) |
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from ...data import Category
from ...preprocess import Geometry, to_model_input
from ...registry import Architecture, ExportSpec, Scorer, Trained, TrainJob
from ...run import RunConfig
from . import graph, train
from .loss import coherence, dice_loss, soft_coherence_loss, soft_mining_loss
from .model import InpFormerPP, InpFormerPPConfig, ResidualHead, residual
from .recipe import FusionRecipe, components, fuse, reference


class InpFormerPPArchitecture(Architecture):
    """INP-Former++ as the commands see it."""

    name = "inp-former++"
    summary = ("INP-Former++: INP-Former with the soft coherence loss and a residual head trained on "
               "pseudo-anomalies (and optionally a few real defects); fused map")
    config_type = InpFormerPPConfig
    recipe_type = FusionRecipe
    default_geometry = Geometry(448, 448, 392, 392)
    input_multiple = 14

    def build_model(self, config: RunConfig) -> InpFormerPP:
        """An ``InpFormerPP`` for ``config.model``."""
        return InpFormerPP(config.model)

    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        """See :func:`train.add_train_arguments`."""
        train.add_train_arguments(parser)

    def train(self, job: TrainJob) -> Trained:
        """See :func:`train.train`."""
        return train.train(job)

    def scorer(self, model: InpFormerPP, config: RunConfig, category: Category) -> Scorer:
        """The fused map and score (no prompt: ``category`` is not needed)."""
        crop_hw = config.geometry.crop_hw
        pos = model.encoder.pos_embed_for(*crop_hw)

        def score(images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            out = model(to_model_input(images), pos)
            final, s, _ = reference(out.en, out.de, model.head_map(out.en, out.de), crop_hw, config.recipe)
            return final, s

        return score

    def export_spec(self, model: InpFormerPP, config: RunConfig, map_mode: str) -> ExportSpec:
        """See :func:`graph.export_spec`."""
        return graph.export_spec(model, config, map_mode)

    def add_import_arguments(self, parser: argparse.ArgumentParser) -> None:
        """None: there is nothing to import (see :meth:`import_official`)."""

    def import_official(self, args: argparse.Namespace) -> RunConfig:
        """Refused: the authors have published no INP-Former++ code or checkpoints."""
        msg = ("inp-former++: the authors have published no code or checkpoints to import; import an INP-Former "
               "checkpoint with --arch inp-former, or train this family with train --arch inp-former++")
        raise ValueError(msg)

    def describe(self, config: RunConfig) -> str:
        """Size, width, INPs, head, fusion and geometry."""
        m, g, r = config.model, config.geometry, config.recipe
        return (
            f"INP-Former++ {m.encoder.size} ({m.embed_dim} dims, {m.num_prototypes} INPs, head "
            f"{'/'.join(map(str, m.head_channels))}; map {r.recon_terms} + head × {r.head_weight}, {r.normalise}), "
            f"input {g.crop_height}x{g.crop_width} from {g.resize_height}x{g.resize_width}"
        )


ARCHITECTURE = InpFormerPPArchitecture()

__all__ = [
    "ARCHITECTURE",
    "FusionRecipe",
    "InpFormerPP",
    "InpFormerPPArchitecture",
    "InpFormerPPConfig",
    "ResidualHead",
    "coherence",
    "components",
    "dice_loss",
    "fuse",
    "reference",
    "residual",
    "soft_coherence_loss",
    "soft_mining_loss",
]
