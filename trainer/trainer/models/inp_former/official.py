"""INP-Former's ``import-official``: the authors' checkpoint → a RUN folder.

The authors save ``model.state_dict()`` of their ``INP_Former`` (encoder included, about 620 MB
for ViT-B): keys ``prototype_token``, ``encoder.*`` (DINOv2 with registers), ``bottleneck.0.*``,
``aggregation.0.*``, ``decoder.{0..7}.*``. Our module uses the same names, so the import is a
strict load plus the configuration, which is read from the tensors' shapes (width, depth, heads,
registers, positional grid, number of INPs) and checked against ``--encoder``.

Any missing, unexpected or mis-shaped key is an error that names the file and the keys
(``check_keys`` in trainer/import_official.py, which also reads the file); the RUN folder is
written to a temporary name and renamed, so nothing is half-written.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import torch

from ...import_official import CheckpointError, check_keys, read_state_dict
from ...preprocess import Geometry
from ...run import RunConfig, create_run
from .encoder import DEFAULT_TARGET_LAYERS, ENCODER_SIZES, OFFICIAL_ENCODER_NAMES, EncoderConfig
from .model import InpFormer, InpFormerConfig
from .recipe import RecipeConfig

#: ``--encoder custom``: read every size from the checkpoint (tests, or a retrained small ViT).
CUSTOM = "custom"


def infer_config(state: dict[str, torch.Tensor], encoder: str, path: Path) -> InpFormerConfig:
    """The architecture from the tensors' shapes, checked against the encoder name."""
    need = [
        "prototype_token",
        "encoder.pos_embed",
        "encoder.register_tokens",
        "encoder.patch_embed.proj.weight",
        "decoder.0.attn.learn_scale",
    ]
    missing = [k for k in need if k not in state]
    if missing:
        msg = f"{path}: not an INP-Former checkpoint: missing keys {missing}"
        raise CheckpointError(msg)
    num_protos, dim = state["prototype_token"].shape
    depth = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"encoder\.blocks\.(\d+)\.", k)))
    dec_depth = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"decoder\.(\d+)\.", k)))
    heads = int(state["decoder.0.attn.learn_scale"].shape[0])
    npos = state["encoder.pos_embed"].shape[1] - 1
    grid = int(math.isqrt(npos))
    patch = int(state["encoder.patch_embed.proj.weight"].shape[-1])
    regs = int(state["encoder.register_tokens"].shape[1])
    hidden = state.get("encoder.blocks.0.mlp.fc1.weight")
    mlp_ratio = hidden.shape[0] / dim if hidden is not None else 4.0
    if encoder == CUSTOM:
        size = "custom"
        target = list(range(2, 2 + dec_depth)) if depth >= 2 + dec_depth else list(range(depth - dec_depth, depth))
    else:
        if encoder not in OFFICIAL_ENCODER_NAMES:
            msg = f"unknown encoder {encoder!r}; expected one of {sorted(OFFICIAL_ENCODER_NAMES)} or {CUSTOM!r}"
            raise CheckpointError(msg)
        size = OFFICIAL_ENCODER_NAMES[encoder]
        want = ENCODER_SIZES[size]
        got = {"embed_dim": dim, "depth": depth, "num_heads": heads, "pretrain_grid": grid}
        bad = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
        if bad:
            detail = ", ".join(f"{k} {g} (expected {w})" for k, (g, w) in bad.items())
            msg = f"{path}: does not fit --encoder {encoder}: {detail}"
            raise CheckpointError(msg)
        target = list(DEFAULT_TARGET_LAYERS[size])
    enc = EncoderConfig(
        size=size,
        embed_dim=dim,
        depth=depth,
        num_heads=heads,
        patch_size=patch,
        num_register_tokens=regs,
        pretrain_grid=grid,
        mlp_ratio=mlp_ratio,
        weights=f"import-official {path.name}",
    )
    return InpFormerConfig(
        encoder=enc,
        target_layers=target,
        num_prototypes=int(num_protos),
        decoder_depth=dec_depth,
        mlp_ratio=mlp_ratio,
    )


def import_official(
    checkpoint: str | Path,
    encoder: str,
    out: str | Path,
    *,
    geometry: Geometry | None = None,
    recipe: RecipeConfig | None = None,
    calibration: list[str] | None = None,
    version: str | None = None,
) -> RunConfig:
    """Read, check and write the RUN folder; returns its config."""
    path = Path(checkpoint)
    state = read_state_dict(path)
    config = infer_config(state, encoder, path)
    model = InpFormer(config)
    check_keys(model.state_dict(), state, path, "INP-Former")
    model.load_state_dict(state, strict=True)
    geometry = geometry or Geometry()
    model.encoder.grid_size(*geometry.crop_hw)  # the crop must be a multiple of the patch size
    run = RunConfig(
        model=config,
        geometry=geometry,
        recipe=recipe or RecipeConfig(),
        data={"calibration": calibration or []},
        training={"source": "import-official", "checkpoint": str(path), "encoder": encoder},
        version=version or f"official-{path.stem}",
    )
    create_run(out, run, model.state_dict(), extra={"imported_from": str(path)})
    return run


def add_import_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``import-official --arch inp-former``."""
    p.add_argument(
        "--encoder",
        required=True,
        help=f"{', '.join(sorted(OFFICIAL_ENCODER_NAMES))}, or {CUSTOM} (sizes read from the checkpoint)",
    )
    p.add_argument("--resize", type=int, default=448, help="resize side before the crop (448)")
    p.add_argument("--crop", type=int, default=392, help="centre crop side, a multiple of 14 (392)")
    p.add_argument("--eval-size", type=int, default=256, help="side of the evaluation map (256)")


def import_from_args(args: argparse.Namespace) -> RunConfig:
    """``import-official --arch inp-former``: :func:`import_official` with the command's options."""
    return import_official(
        args.checkpoint,
        args.encoder,
        args.out,
        geometry=Geometry(args.resize, args.resize, args.crop, args.crop),
        recipe=RecipeConfig(eval_height=args.eval_size, eval_width=args.eval_size),
        calibration=args.calibration,
        version=args.version,
    )
