"""OneNIP (Gao et al., ECCV 2024), registry key ``onenip``: one normal image prompts the reconstruction.

| file | what |
| --- | --- |
| ``efficientnet.py`` | the authors' EfficientNet-B4 (EfficientNet-PyTorch names, static "same" padding for 380 px) |
| ``backbone.py`` | the backbone choice, the weight-free ``conv`` backbone, the neck (MFCN) |
| ``transformer.py`` | neighbour mask, masked post-norm encoder, bidirectional decoder (``v2``/``v1``), positional embedding |
| ``model.py`` | ``OneNip``: features → reconstruction → rec map and refiner logit; the global feature |
| ``recipe.py`` | the fused map (c frozen), the 16×16 average-pool max score |
| ``prompts.py`` | which good image is the prompt: ``recipe`` or ``cosine-pool`` |
| ``synthetic.py`` | CutPaste and Perlin-texture anomalies (Perlin and textures from trainer/anomalies.py) |
| ``train.py`` | options, feature cache, the training loop, c |
| ``health.py`` | whether the refiner collapsed during training (its peak on the twins' defects) |
| ``graph.py`` | the export graphs (``model.onnx`` with ``image`` + ``prompt``, ``embed.onnx``) and manifest blocks |
| ``official.py`` | ``import-official``: the authors' checkpoint → RUN |

Use::

    from trainer.models.onenip import OneNip, OneNipConfig, RecipeConfig, fuse, image_score
    model = OneNip(OneNipConfig())
    out = model(image, prompt)          # normalised NCHW; OneNipOutput(features, reconstruction, rec_map, ref_logit)
    final = fuse(out.rec_map, out.ref_logit, recipe); score = image_score(final, 16)
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from ...data import Category, load_images
from ...preprocess import Geometry, to_model_input
from ...registry import Architecture, ExportSpec, Scorer, Trained, TrainJob
from ...run import RunConfig
from . import graph, official, train
from .backbone import BACKBONES, BackboneConfig, ConvBackbone, neck
from .efficientnet import EfficientNetB4, load_efficientnet_weights, static_same_padding
from .model import OneNip, OneNipConfig, OneNipOutput
from .prompts import PromptChooser, selection_candidates
from .recipe import RecipeConfig, fuse, fusion_scale, image_score, score_rule
from .transformer import neighbour_mask, neighbour_window


class OneNipArchitecture(Architecture):
    """OneNIP as the commands see it."""

    name = "onenip"
    summary = "OneNIP: a normal prompt image of the same product guides the reconstruction; refined, fused map"
    config_type = OneNipConfig
    recipe_type = RecipeConfig
    default_geometry = Geometry(224, 224, 224, 224)

    def build_model(self, config: RunConfig) -> OneNip:
        """A ``OneNip`` for ``config.model``."""
        return OneNip(config.model)

    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        """See :func:`train.add_train_arguments`."""
        train.add_train_arguments(parser)

    def train(self, job: TrainJob) -> Trained:
        """See :func:`train.train`."""
        return train.train(job)

    def scorer(self, model: OneNip, config: RunConfig, category: Category) -> Scorer:
        """Each test image with a prompt from ``category``'s own ``train/good`` by the RUN's rule
        (prompts.py), then the fused map and the score."""
        chooser = PromptChooser(model, load_images(selection_candidates(category.train, config.recipe),
                                                   config.geometry))

        def score(images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            out = model(to_model_input(images), to_model_input(chooser.prompts(images)))
            final = fuse(out.rec_map, out.ref_logit, config.recipe)
            return final, image_score(final, config.recipe.score_kernel)

        return score

    def export_spec(self, model: OneNip, config: RunConfig, map_mode: str) -> ExportSpec:
        """See :func:`graph.export_spec`."""
        return graph.export_spec(model, config, map_mode)

    def add_import_arguments(self, parser: argparse.ArgumentParser) -> None:
        """See :func:`official.add_import_arguments`."""
        official.add_import_arguments(parser)

    def import_official(self, args: argparse.Namespace) -> RunConfig:
        """See :func:`official.import_from_args`."""
        return official.import_from_args(args)

    def describe(self, config: RunConfig) -> str:
        """Backbone, width, layers, input size, c."""
        m = config.model
        return (f"OneNIP {m.backbone.kind} ({m.backbone.weights}), {m.hidden_dim} dims, "
                f"{m.encoder_layers}+{m.decoder_layers} layers (decoder {m.decoder}), input {m.image_size}px, "
                f"c {config.recipe.fusion_scale:.4g}, prompts {config.recipe.prompt_selection}")


ARCHITECTURE = OneNipArchitecture()

__all__ = [
    "ARCHITECTURE",
    "BACKBONES",
    "BackboneConfig",
    "ConvBackbone",
    "EfficientNetB4",
    "OneNip",
    "OneNipArchitecture",
    "OneNipConfig",
    "OneNipOutput",
    "PromptChooser",
    "RecipeConfig",
    "fuse",
    "fusion_scale",
    "image_score",
    "load_efficientnet_weights",
    "neck",
    "neighbour_mask",
    "neighbour_window",
    "score_rule",
    "static_same_padding",
]
