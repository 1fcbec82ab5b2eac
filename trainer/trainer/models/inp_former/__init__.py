"""INP-Former (Luo et al., CVPR 2025), registry key ``inp-former``.

| file | what |
| --- | --- |
| ``encoder.py`` | DINOv2-style ViT (official key names), ``ConvStem`` for weight-free encoders |
| ``model.py`` | ``InpFormer``: INP extractor, bottleneck, INP-guided decoder, groups; coherence loss |
| ``recipe.py`` | the reference test-time map recipe (``RecipeConfig``, ``reference``) |
| ``loss.py`` | soft-mining global cosine |
| ``ssl.py`` | making a random encoder useful without pretrained weights (``--ssl pca|conv``) |
| ``train.py`` | options, feature cache, the training loop |
| ``graph.py`` | the export graph and the manifest's ``outputs`` |
| ``official.py`` | ``import-official``: the authors' checkpoint → RUN |

Use::

    from trainer.models.inp_former import InpFormer, InpFormerConfig, RecipeConfig, reference
    model = InpFormer(InpFormerConfig.for_size("small"))
    out = model(images)                 # InpFormerOutput(en, de, tokens, prototypes)
    amap, score = reference(out, geometry.crop_hw, recipe)
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from ...data import Category
from ...preprocess import Geometry, to_model_input
from ...registry import Architecture, ExportSpec, Scorer, Trained, TrainJob
from ...run import RunConfig
from . import graph, official, train
from .encoder import (
    DEFAULT_TARGET_LAYERS,
    ENCODER_SIZES,
    OFFICIAL_ENCODER_NAMES,
    DinoV2Encoder,
    EncoderConfig,
    load_dinov2_weights,
)
from .model import (
    InpFormer,
    InpFormerConfig,
    InpFormerOutput,
    coherence_distance,
    coherence_loss,
    cosine,
)
from .recipe import (
    RecipeConfig,
    finish_map,
    gaussian_kernel,
    grid_map,
    group_maps,
    image_score,
    map_steps,
    reference,
    score_rule,
    topk_count,
)


class InpFormerArchitecture(Architecture):
    """INP-Former as the commands see it."""

    name = "inp-former"
    summary = "INP-Former: DINOv2 encoder (or a weight-free one), INP-guided decoder, reconstruction map"
    config_type = InpFormerConfig
    recipe_type = RecipeConfig
    default_geometry = Geometry(448, 448, 392, 392)
    input_multiple = 14

    def build_model(self, config: RunConfig) -> InpFormer:
        """An ``InpFormer`` for ``config.model``."""
        return InpFormer(config.model)

    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        """See :func:`train.add_train_arguments`."""
        train.add_train_arguments(parser)

    def train(self, job: TrainJob) -> Trained:
        """See :func:`train.train`."""
        return train.train(job)

    def scorer(self, model: InpFormer, config: RunConfig, category: Category) -> Scorer:
        """The reference recipe on the model's output (no prompt: ``category`` is not needed)."""
        pos = model.encoder.pos_embed_for(*config.geometry.crop_hw)

        def score(images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            return reference(model(to_model_input(images), pos), config.geometry.crop_hw, config.recipe)

        return score

    def export_spec(self, model: InpFormer, config: RunConfig, map_mode: str) -> ExportSpec:
        """See :func:`graph.export_spec`."""
        return graph.export_spec(model, config, map_mode)

    def add_import_arguments(self, parser: argparse.ArgumentParser) -> None:
        """See :func:`official.add_import_arguments`."""
        official.add_import_arguments(parser)

    def import_official(self, args: argparse.Namespace) -> RunConfig:
        """See :func:`official.import_from_args`."""
        return official.import_from_args(args)

    def describe(self, config: RunConfig) -> str:
        """Size, width, depth, INPs and geometry."""
        m, g = config.model, config.geometry
        return (
            f"INP-Former {m.encoder.size} ({m.embed_dim} dims, {m.encoder.depth} blocks, {m.num_prototypes} INPs), "
            f"input {g.crop_height}x{g.crop_width} from {g.resize_height}x{g.resize_width}"
        )


ARCHITECTURE = InpFormerArchitecture()

__all__ = [
    "ARCHITECTURE",
    "DEFAULT_TARGET_LAYERS",
    "ENCODER_SIZES",
    "OFFICIAL_ENCODER_NAMES",
    "DinoV2Encoder",
    "EncoderConfig",
    "InpFormer",
    "InpFormerArchitecture",
    "InpFormerConfig",
    "InpFormerOutput",
    "RecipeConfig",
    "coherence_distance",
    "coherence_loss",
    "cosine",
    "finish_map",
    "gaussian_kernel",
    "grid_map",
    "group_maps",
    "image_score",
    "load_dinov2_weights",
    "map_steps",
    "reference",
    "score_rule",
    "topk_count",
]
