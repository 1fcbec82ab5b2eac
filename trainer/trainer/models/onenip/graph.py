"""OneNIP's export: the prompted graph, the embedding graph, and what the manifest says about them.

``model.onnx``: inputs ``image`` and ``prompt``, both uint8 NHWC ``[N, S, S, 3]`` RGB at the model's
size (the same geometry; the graph does /255 and the ImageNet mean/std for both); outputs
``anomaly_map`` ``[N, 1, S, S]`` (the fused map) and ``score`` ``[N]`` (16×16 average-pool max).
The neighbour mask, the positional embedding and c are constants of the graph. Batch is dynamic:
nothing in the forward fixes it (the authors' B/2 split is gone: two inputs). Image i is judged
against prompt i: a line feeds each frame with its product's prompt, so one batch may mix products.

``embed.onnx`` (beside it, ``prompt.embedding`` in the manifest): input ``image`` uint8 NHWC
``[N, S, S, 3]`` → ``global_feature`` ``[N, D]``, L2-normalised (cosine = dot product). The runtime
embeds each pool image once and each frame once, and gives the frame the pool image with the
largest dot product (``cosine-pool``); a ``recipe`` product needs none of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...bundle import MAP_NAME, SCORE_NAME
from ...data import load_images
from ...preprocess import IMAGENET_MEAN, IMAGENET_STD
from ...registry import AuxGraph, ExportSpec
from ...run import RunConfig
from .model import OneNip
from .prompts import PromptChooser, recorded_prompts
from .recipe import RecipeConfig, fuse, image_score, score_rule

PROMPT_NAME = "prompt"
EMBED_FILE = "embed.onnx"
EMBED_OUTPUT = "global_feature"


class _Normalise(nn.Module):
    """uint8 NHWC → ImageNet-normalised float NCHW (the arithmetic of preprocess.normalize)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply."""
        return (x.to(torch.float32).permute(0, 3, 1, 2) - self.mean) / self.std


class PromptedGraph(nn.Module):
    """(image, prompt) uint8 NHWC → (anomaly_map ``[N,1,S,S]``, score ``[N]``) by the recipe."""

    def __init__(self, model: OneNip, recipe: RecipeConfig) -> None:
        super().__init__()
        self.model = model.eval()
        self.recipe = recipe
        self.norm = _Normalise()

    def forward(self, image: torch.Tensor, prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """See the module docstring."""
        out = self.model(self.norm(image), self.norm(prompt))
        final = fuse(out.rec_map, out.ref_logit, self.recipe)
        return final, image_score(final, self.recipe.score_kernel)


class EmbedGraph(nn.Module):
    """image uint8 NHWC → the L2-normalised global feature ``[N, D]`` (prompt choice)."""

    def __init__(self, model: OneNip) -> None:
        super().__init__()
        self.model = model.eval()
        self.norm = _Normalise()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """See the module docstring."""
        return self.model.embed(self.model.features(self.norm(image)))


def output_spec(config: RunConfig) -> dict[str, Any]:
    """The manifest ``outputs`` block (the whole recipe is in the graph)."""
    side = config.model.image_size
    return {
        "anomalyMap": {
            "name": MAP_NAME, "height": side, "width": side,
            # Both maps are upsampled ×16 and ×4 to the input size with align_corners before the
            # fusion; the fusion itself is no map step the manifest can name.
            "appliedInGraph": [{"op": "resize", "height": side, "width": side, "alignCorners": True}],
            "runtimeSteps": [],
        },
        "score": {"name": SCORE_NAME, "rule": score_rule(config.recipe)},
        "extra": [],
    }


def prompt_block(config: RunConfig) -> dict[str, Any]:
    """The manifest ``prompt`` block: the input, the rule, and the embedding graph for the pool rule."""
    return {
        "name": PROMPT_NAME,
        "selection": config.recipe.prompt_selection,
        "embedding": {
            "file": EMBED_FILE,
            "sha256": "0" * 64,  # filled in by export once the file is written
            "input": "image",
            "output": EMBED_OUTPUT,
            "dim": config.model.hidden_dim,
            "normalized": True,
            "similarity": "cosine",
        },
    }


def run_prompts(model: OneNip, config: RunConfig) -> PromptChooser:
    """The prompts the RUN recorded (every category) under its rule, ready to pair images with."""
    record = config.data.get("prompts") or {}
    paths = recorded_prompts(record, config.recipe.prompt_selection)
    if not paths:
        msg = "onenip: the RUN records no prompt images (data.prompts); retrain or re-import with --prompt-data"
        raise ValueError(msg)
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        msg = f"onenip: prompt images recorded in the RUN are missing: {', '.join(missing[:4])}"
        raise ValueError(msg)
    return PromptChooser(model, load_images([Path(p) for p in paths], config.geometry))


def export_spec(model: OneNip, config: RunConfig, map_mode: str) -> ExportSpec:
    """The prompted graph (``full`` only), its embedding graph, and how prompts are paired."""
    if map_mode != "full":
        msg = f"onenip: map mode {map_mode!r} not supported (full only: the fusion of two maps is in the graph)"
        raise ValueError(msg)
    chooser = run_prompts(model, config)
    m = config.model

    def inputs_for(images: np.ndarray) -> dict[str, np.ndarray]:
        return {"image": images, PROMPT_NAME: chooser.prompts(images)}

    return ExportSpec(
        graph=PromptedGraph(model, config.recipe),
        output_names=(MAP_NAME, SCORE_NAME),
        outputs=output_spec(config),
        finish=lambda out: (out[MAP_NAME], out[SCORE_NAME]),
        model_record={
            "backbone": m.backbone.kind,
            "backboneWeights": m.backbone.weights,
            "imageSize": m.image_size,
            "hiddenDim": m.hidden_dim,
            "heads": m.heads,
            "layers": [m.encoder_layers, m.decoder_layers],
            "decoder": m.decoder,
            "fusionScale": config.recipe.fusion_scale,
        },
        input_names=("image", PROMPT_NAME),
        inputs_for=inputs_for,
        prompt=prompt_block(config),
        aux=(AuxGraph(EMBED_FILE, EmbedGraph(model), ("image",), (EMBED_OUTPUT,)),),
        # Backbone, projections, transformer and refiner trace under ``/model/``; the fusion of the
        # two maps and the score's pooling are outside it and stay float. The embedding graph
        # (prompt choice) is written in float either way.
        int8_scope=("/model/",),
    )
