"""INP-Former's export graph and what the manifest says about its outputs.

The graph takes ``image`` uint8 NHWC ``[N, h, w, 3]`` RGB at the crop size and does /255 and the
ImageNet mean/std itself (manifest ``input.normalize = null``); the runtime resizes and crops. The
positional embedding is precomputed for the patch grid (no bicubic Resize in the graph).

``full``: the graph runs the whole reference recipe and outputs ``anomaly_map`` ``[N,1,256,256]``
and ``score`` ``[N]``. ``raw``: it outputs the mean group map at patch-grid resolution; the
manifest's ``runtimeSteps`` list the rest and the runtime computes the score.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...bundle import MAP_NAME, SCORE_NAME
from ...preprocess import IMAGENET_MEAN, IMAGENET_STD, Geometry
from ...registry import ExportSpec
from ...run import RunConfig
from .model import InpFormer
from .recipe import RecipeConfig, finish_map, gaussian_kernel, grid_map, image_score, map_steps, score_rule, topk_count

MAP_MODES = ("full", "raw")


class ExportGraph(nn.Module):
    """uint8 NHWC image → (anomaly_map, score) [full] or the grid map [raw]."""

    def __init__(self, model: InpFormer, config: RunConfig, map_mode: str = "full") -> None:
        super().__init__()
        if map_mode not in MAP_MODES:
            msg = f"unknown map mode {map_mode!r} (full or raw)"
            raise ValueError(msg)
        self.model = model.eval()
        self.map_mode = map_mode
        self.crop_hw = config.geometry.crop_hw
        self.recipe = config.recipe
        with torch.no_grad():
            pos = model.encoder.pos_embed_for(*self.crop_hw).detach().clone()
        self.register_buffer("pos", pos)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
        k = config.recipe.gaussian_kernel
        self.register_buffer("kernel", gaussian_kernel(k, config.recipe.gaussian_sigma))
        self.k = topk_count(config.recipe.eval_height, config.recipe.eval_width, config.recipe.topk_fraction)

    def forward(self, image: torch.Tensor) -> Any:
        """See the module docstring."""
        x = image.to(torch.float32).permute(0, 3, 1, 2)
        x = (x - self.mean) / self.std
        out = self.model(x, pos=self.pos)
        raw = grid_map(out)
        if self.map_mode == "raw":
            return raw
        final = finish_map(raw, self.crop_hw, self.recipe)
        score = torch.topk(final.flatten(1), self.k, dim=1).values.mean(dim=1)
        return final, score


def output_spec(
    map_mode: str, geometry: Geometry, recipe: RecipeConfig, grid_hw: tuple[int, int]
) -> dict[str, Any]:
    """The manifest ``outputs`` block for a map mode (``full`` or ``raw``)."""
    steps = map_steps(geometry.crop_hw, recipe)
    if map_mode == "full":
        anomaly = {
            "name": MAP_NAME,
            "height": recipe.eval_height,
            "width": recipe.eval_width,
            "appliedInGraph": steps,
            "runtimeSteps": [],
        }
        score = {"name": SCORE_NAME, "rule": score_rule(recipe)}
    elif map_mode == "raw":
        anomaly = {
            "name": MAP_NAME,
            "height": grid_hw[0],
            "width": grid_hw[1],
            "appliedInGraph": [],
            "runtimeSteps": steps,
        }
        score = {"name": None, "rule": score_rule(recipe)}
    else:
        msg = f"unknown map mode {map_mode!r} (full or raw)"
        raise ValueError(msg)
    return {"anomalyMap": anomaly, "score": score, "extra": []}


def export_spec(model: InpFormer, config: RunConfig, map_mode: str) -> ExportSpec:
    """The graph, its outputs and how to finish them into the reference map and score."""
    graph = ExportGraph(model, config, map_mode)
    crop_hw, recipe = config.geometry.crop_hw, config.recipe

    def finish(outputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if map_mode == "full":
            return outputs[MAP_NAME], outputs[SCORE_NAME]
        final = finish_map(outputs[MAP_NAME], crop_hw, recipe)
        return final, image_score(final, recipe.topk_fraction)

    return ExportSpec(
        graph=graph,
        output_names=(MAP_NAME, SCORE_NAME) if map_mode == "full" else (MAP_NAME,),
        outputs=output_spec(map_mode, config.geometry, recipe, model.encoder.grid_size(*crop_hw)),
        finish=finish,
        model_record={
            "encoder": config.model.encoder.size,
            "embedDim": config.model.embed_dim,
            "encoderWeights": config.model.encoder.weights,
            "encoderStem": config.model.encoder.stem,
            "targetLayers": config.model.target_layers,
            "prototypes": config.model.num_prototypes,
        },
    )
