"""OneNIP's ``import-official``: the authors' checkpoint → a RUN folder.

The authors save ``{"state_dict": model.state_dict()}`` of their DDP-wrapped ``ModelHelper``: 856
keys under ``module.`` — 706 ``backbone.*`` (EfficientNet-B4, EfficientNet-PyTorch names, head and
classifier included) and 150 ``reconstruction.*``; the neck has none. Our module uses the same
names, so the import is a strict load: the authors load with ``strict=False`` after silently
dropping every mis-shaped key, so a checkpoint of another size would half-load and still run;
here any missing, unexpected or mis-shaped key is an error naming the file and the keys.

Read from the tensors: the width (``input_proj``), the token grid (``pos_embed``: 14×14 → 224 px),
the layers, the feed-forward and refiner widths. Not in the tensors, so options: ``--heads``
(8), and ``--decoder``: ``v2`` for checkpoints of the current code (e93dec5, the ``checkpoints-v2``
release), ``v1`` for the first release (0ca7e76), whose decoder differs with the same keys.

The RUN also needs what the checkpoint lacks: prompts (``--prompt-data``: data sets in MVTec layout
whose ``train/good`` give each category's recipe prompt and pool) and c, measured on
``--calib-data`` (good images, each with its nearest recorded prompt), else on the prompt data's
training images, or given as ``--fusion-scale``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

from ...calibrate import list_images
from ...data import discover, load_images
from ...import_official import CheckpointError, check_keys, read_state_dict
from ...preprocess import Geometry
from ...run import RunConfig, create_run
from .backbone import BackboneConfig
from .model import OneNip, OneNipConfig
from .prompts import PromptChooser, prompt_record, recorded_prompts
from .recipe import SELECTIONS, RecipeConfig
from .train import measure_fusion_scale
from .transformer import DECODERS

PREFIX = "reconstruction."


def _count(state: dict[str, torch.Tensor], pattern: str) -> int:
    found = [int(m.group(1)) for k in state if (m := re.match(pattern, k))]
    return 1 + max(found) if found else 0


def infer_config(state: dict[str, torch.Tensor], path: Path, heads: int, decoder: str) -> OneNipConfig:
    """The architecture from the tensors' shapes (and the two options the tensors cannot tell)."""
    need = [f"{PREFIX}input_proj.weight", f"{PREFIX}pos_embed.row_embed.weight", f"{PREFIX}pos_embed.col_embed.weight",
            f"{PREFIX}transformer.encoder.layers.0.linear1.weight", f"{PREFIX}seghead.upconv1.0.weight",
            "backbone._conv_stem.weight"]
    missing = [k for k in need if k not in state]
    if missing:
        msg = f"{path}: not a OneNIP checkpoint (EfficientNet-B4 backbone): missing keys {missing}"
        raise CheckpointError(msg)
    hidden, channels = state[f"{PREFIX}input_proj.weight"].shape
    rows, cols = state[f"{PREFIX}pos_embed.row_embed.weight"].shape[0], state[f"{PREFIX}pos_embed.col_embed.weight"].shape[0]
    if rows != cols:
        msg = f"{path}: token grid {rows}x{cols}; only square inputs are supported"
        raise CheckpointError(msg)
    if hidden % heads:
        msg = f"{path}: width {hidden} is not a multiple of --heads {heads}"
        raise CheckpointError(msg)
    return OneNipConfig(
        backbone=BackboneConfig(kind="efficientnet-b4", weights=f"import-official {path.name}"),
        image_size=16 * int(rows),
        hidden_dim=int(hidden),
        heads=heads,
        ffn_dim=int(state[f"{PREFIX}transformer.encoder.layers.0.linear1.weight"].shape[0]),
        encoder_layers=_count(state, rf"{re.escape(PREFIX)}transformer\.encoder\.layers\.(\d+)\."),
        decoder_layers=_count(state, rf"{re.escape(PREFIX)}transformer\.decoder\.layers\.(\d+)\."),
        decoder=decoder,
        refiner_width=int(state[f"{PREFIX}seghead.upconv1.0.weight"].shape[0]),
    )


def import_official(
    checkpoint: str | Path,
    out: str | Path,
    *,
    prompt_data: str,
    heads: int = 8,
    decoder: str = "v2",
    recipe: RecipeConfig | None = None,
    calibration: list[str] | None = None,
    fusion_scale: float | None = None,
    version: str | None = None,
) -> RunConfig:
    """Read, check, measure c and write the RUN folder; returns its config."""
    path = Path(checkpoint)
    state = read_state_dict(path)
    config = infer_config(state, path, heads, decoder)
    model = OneNip(config)
    check_keys(model.state_dict(), state, path, "OneNIP")
    model.load_state_dict(state, strict=True)
    model.eval()
    side = config.image_size
    geometry = Geometry(side, side, side, side)
    recipe = recipe or RecipeConfig()
    categories = discover(prompt_data)
    prompts = prompt_record({c.name: c.train for c in categories}, recipe.pool_size)
    if fusion_scale is not None:
        recipe.fusion_scale = float(fusion_scale)
        source = "--fusion-scale"
    else:
        candidates = [Path(p) for p in recorded_prompts(prompts, recipe.prompt_selection)]
        chooser = PromptChooser(model, load_images(candidates, geometry))
        if calibration:
            calib = [p for folder in calibration for p in list_images(folder)]
            source = f"--calib-data ({len(calib)} images)"
        else:
            used = {p.resolve() for p in candidates}
            calib = [p for c in categories for p in c.train if p.resolve() not in used][:32 * len(categories)]
            source = f"the prompt data's train/good ({len(calib)} images)"
        with torch.no_grad():
            recipe.fusion_scale = measure_fusion_scale(model, load_images(calib, geometry), chooser)
    run = RunConfig(
        model=config,
        geometry=geometry,
        recipe=recipe,
        data={"train": [str(Path(d).resolve()) for d in prompt_data.split(",") if d],
              "categories": [c.name for c in categories], "prompts": prompts, "calibration": calibration or []},
        training={"source": "import-official", "checkpoint": str(path), "decoder": decoder, "heads": heads,
                  "fusion_scale_from": source},
        architecture="onenip",
        version=version or f"official-{path.stem}",
    )
    create_run(out, run, model.state_dict(), extra={"imported_from": str(path)})
    return run


def add_import_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``import-official --arch onenip``."""
    p.add_argument("--prompt-data", required=True,
                   help="data set(s) in MVTec layout, comma-separated: each category's train/good gives its prompts")
    p.add_argument("--heads", type=int, default=8, help="attention heads (not in the tensors; the authors': 8)")
    p.add_argument("--decoder", default="v2", choices=DECODERS,
                   help="v2: checkpoints of the current code (e93dec5, default); v1: the first release (0ca7e76)")
    p.add_argument("--prompt-selection", default="recipe", choices=SELECTIONS, help="recipe (default) or cosine-pool")
    p.add_argument("--pool-size", type=int, default=RecipeConfig().pool_size, help="cosine-pool: images per pool")
    p.add_argument("--fusion-scale", type=float, default=None,
                   help="c of the fused map; default: measured on --calib-data (else the prompt data's train/good)")


def import_from_args(args: argparse.Namespace) -> RunConfig:
    """``import-official --arch onenip``: :func:`import_official` with the command's options."""
    recipe = RecipeConfig(prompt_selection=args.prompt_selection, pool_size=args.pool_size)
    return import_official(args.checkpoint, args.out, prompt_data=args.prompt_data, heads=args.heads,
                           decoder=args.decoder, recipe=recipe, calibration=args.calibration,
                           fusion_scale=args.fusion_scale, version=args.version)

