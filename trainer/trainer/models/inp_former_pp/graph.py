"""INP-Former++'s export graph: the fused map and score, the reconstruction-only map as an extra output.

``full`` (the default): ``image`` uint8 NHWC → ``anomaly_map`` ``[N,1,256,256]`` (the normalised
reconstruction map and head mask fused, smoothed: recipe.py), ``score`` ``[N]`` (mean of its top
1 %) and ``recon_map`` ``[N,1,256,256]`` (the reconstruction map alone, normalised and smoothed the
same way), declared in the manifest's ``outputs.extra`` so that the two can be compared through the
runtime (a bundle whose manifest names ``recon_map`` as its map scores it with the same rule). The
normalisation statistics are constants of the graph and are recorded in ``training.recipe.stats``.
``zero-shot``: INP-Former's (the head plays no part). ``raw`` does not exist for ++: the fusion
needs the head's map beside the reconstruction map, which the runtime's steps cannot express.
"""

from __future__ import annotations

import torch

from ...bundle import MAP_NAME, SCORE_NAME
from ...registry import ExportSpec
from ...run import RunConfig
from ..inp_former import graph as inp_graph
from .model import InpFormerPP
from .recipe import FusionRecipe, reference

RECON_NAME = "recon_map"
MAP_MODES = ("full", "zero-shot")


class FusedGraph(inp_graph.GraphBase):
    """uint8 NHWC image → (anomaly_map, score, recon_map)."""

    def __init__(self, model: InpFormerPP, config: RunConfig) -> None:
        super().__init__(model, config)
        if not isinstance(config.recipe, FusionRecipe):
            msg = "inp-former++ export: the RUN's recipe has no fusion statistics"
            raise TypeError(msg)
        config.recipe.scale("head")  # refuses a recipe whose statistics were never measured

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """See the module docstring."""
        out = self.model(self.normalised(image), pos=self.pos)
        head = self.model.head_map(out.en, out.de)
        final, _, recon = reference(out.en, out.de, head, self.crop_hw, self.recipe)
        score = torch.topk(final.flatten(1), self.k, dim=1).values.mean(dim=1)
        return final, score, recon


def export_spec(model: InpFormerPP, config: RunConfig, map_mode: str) -> ExportSpec:
    """The graph for ``full`` or ``zero-shot``; ``raw`` is refused, naming the modes there are."""
    if map_mode not in MAP_MODES:
        msg = f"inp-former++ has no map mode {map_mode!r} (it has {', '.join(MAP_MODES)}): its map fuses the head's"
        raise ValueError(msg)
    if map_mode == "zero-shot":
        return inp_graph.export_spec(model, config, map_mode)
    recipe = config.recipe
    outputs = inp_graph.output_spec("full", config.geometry, recipe, model.encoder.grid_size(*config.geometry.crop_hw))
    outputs["extra"] = [RECON_NAME]
    return ExportSpec(
        graph=FusedGraph(model, config),
        output_names=(MAP_NAME, SCORE_NAME, RECON_NAME),
        outputs=outputs,
        finish=lambda o: (o[MAP_NAME], o[SCORE_NAME]),
        # The encoder and decoder trace under ``/model/``, the residual head under ``/head/`` (it is
        # called through ``head_map``, not ``self.model``); the fusion recipe (normalisation, blur,
        # top-k) is outside both and stays float. Only the head's last 3×3 convolution is a weighted
        # op the quantizer takes: its transposed convolutions stay float.
        int8_scope=("/model/", "/head/"),
        model_record={**inp_graph.model_record(config), "headChannels": config.model.head_channels,
                      "fusion": {"reconTerms": recipe.recon_terms, "headWeight": recipe.head_weight,
                                 "normalise": recipe.normalise, "stats": recipe.stats}},
    )
