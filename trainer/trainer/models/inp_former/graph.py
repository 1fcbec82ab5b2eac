"""INP-Former's export graph and what the manifest says about its outputs.

The graph takes ``image`` uint8 NHWC ``[N, h, w, 3]`` RGB at the crop size and does /255 and the
ImageNet mean/std itself (manifest ``input.normalize = null``); the runtime resizes and crops. The
positional embedding is precomputed for the patch grid (no bicubic Resize in the graph).

``full``: the graph runs the whole reference recipe and outputs ``anomaly_map`` ``[N,1,256,256]``
and ``score`` ``[N]``. ``raw``: it outputs the mean group map at patch-grid resolution; the
manifest's ``runtimeSteps`` list the rest and the runtime computes the score. ``zero-shot``: as
``full``, but the map is each token's distance to its nearest INP (:class:`ZeroShotGraph`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...bundle import MAP_NAME, SCORE_NAME
from ...preprocess import IMAGENET_MEAN, IMAGENET_STD, Geometry
from ...registry import ExportSpec
from ...run import RunConfig
from .model import InpFormer, coherence_distance
from .recipe import RecipeConfig, finish_map, gaussian_kernel, grid_map, image_score, map_steps, score_rule, topk_count

MAP_MODES = ("full", "raw", "zero-shot")


class GraphBase(nn.Module):
    """What every exported INP-Former graph shares: uint8 NHWC in, normalised NCHW to the model, the
    precomputed positional embedding, and the recipe's finishing steps and top-k score."""

    def __init__(self, model: InpFormer, config: RunConfig) -> None:
        super().__init__()
        self.model = model.eval()
        self.crop_hw = config.geometry.crop_hw
        self.recipe = config.recipe
        self.grid = model.encoder.grid_size(*self.crop_hw)
        with torch.no_grad():
            pos = model.encoder.pos_embed_for(*self.crop_hw).detach().clone()
        self.register_buffer("pos", pos)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
        # Unused by forward (finish_map makes its own kernel), but it was always registered: removing
        # it renumbers the traced graph, and the committed bundles would no longer rebuild byte-identical.
        self.register_buffer("kernel", gaussian_kernel(config.recipe.gaussian_kernel, config.recipe.gaussian_sigma))
        self.k = topk_count(config.recipe.eval_height, config.recipe.eval_width, config.recipe.topk_fraction)

    def normalised(self, image: torch.Tensor) -> torch.Tensor:
        """uint8 NHWC → ImageNet-normalised float NCHW (as ``preprocess.normalize``)."""
        x = image.to(torch.float32).permute(0, 3, 1, 2)
        return (x - self.mean) / self.std

    def finished(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Grid map ``[N,1,h,w]`` → the recipe's final map and its top-k score."""
        final = finish_map(raw, self.crop_hw, self.recipe)
        return final, torch.topk(final.flatten(1), self.k, dim=1).values.mean(dim=1)


class ExportGraph(GraphBase):
    """uint8 NHWC image → (anomaly_map, score) [full] or the grid map [raw]."""

    def __init__(self, model: InpFormer, config: RunConfig, map_mode: str = "full") -> None:
        super().__init__(model, config)
        if map_mode not in ("full", "raw"):
            msg = f"unknown map mode {map_mode!r} (full or raw)"
            raise ValueError(msg)
        self.map_mode = map_mode

    def forward(self, image: torch.Tensor) -> Any:
        """See the module docstring."""
        raw = grid_map(self.model(self.normalised(image), pos=self.pos))
        if self.map_mode == "raw":
            return raw
        return self.finished(raw)


class ZeroShotGraph(GraphBase):
    """uint8 NHWC image → (anomaly_map, score) of the zero-shot setting.

    The map is each token's distance to the nearest of the image's own INPs (``coherence_distance``:
    min over prototypes of 1 − cos), finished by the same recipe; the decoder does not run. The
    model was trained on other data: the INPs of a good image of a new product describe it, a defect
    is what none of them describes (the authors' zero-shot, shared/MODELS.md).
    """

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """See the class docstring."""
        layers = self.model.encode(self.normalised(image), self.pos)
        tokens = torch.stack(layers, dim=1).mean(dim=1)
        d = coherence_distance(tokens, self.model.extract_prototypes(tokens))
        return self.finished(d.reshape(d.shape[0], 1, self.grid[0], self.grid[1]))


def output_spec(
    map_mode: str, geometry: Geometry, recipe: RecipeConfig, grid_hw: tuple[int, int]
) -> dict[str, Any]:
    """The manifest ``outputs`` block for a map mode (``full``, ``zero-shot`` or ``raw``)."""
    steps = map_steps(geometry.crop_hw, recipe)
    if map_mode in ("full", "zero-shot"):
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
        msg = f"unknown map mode {map_mode!r} ({', '.join(MAP_MODES)})"
        raise ValueError(msg)
    return {"anomalyMap": anomaly, "score": score, "extra": []}


def export_spec(model: InpFormer, config: RunConfig, map_mode: str) -> ExportSpec:
    """The graph, its outputs and how to finish them into the reference map and score."""
    graph = ZeroShotGraph(model, config) if map_mode == "zero-shot" else ExportGraph(model, config, map_mode)
    crop_hw, recipe = config.geometry.crop_hw, config.recipe
    whole = map_mode != "raw"

    def finish(outputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if whole:
            return outputs[MAP_NAME], outputs[SCORE_NAME]
        final = finish_map(outputs[MAP_NAME], crop_hw, recipe)
        return final, image_score(final, recipe.topk_fraction)

    return ExportSpec(
        graph=graph,
        output_names=(MAP_NAME, SCORE_NAME) if whole else (MAP_NAME,),
        outputs=output_spec(map_mode, config.geometry, recipe, model.encoder.grid_size(*crop_hw)),
        finish=finish,
        model_record=model_record(config),
        # The network is ExportGraph.model; the cosine map, its resizes, the gaussian and top-k
        # are traced outside it and stay float under --int8.
        int8_scope=("/model/",),
    )


def model_record(config: RunConfig) -> dict[str, Any]:
    """What the manifest's ``training.model`` says about an INP-Former's network."""
    return {
        "encoder": config.model.encoder.size,
        "embedDim": config.model.embed_dim,
        "encoderWeights": config.model.encoder.weights,
        "encoderStem": config.model.encoder.stem,
        "targetLayers": config.model.target_layers,
        "prototypes": config.model.num_prototypes,
    }
