"""``import-official``: a checkpoint trained with the authors' code → a RUN folder.

The authors save ``model.state_dict()`` of their ``INP_Former`` (encoder included, about 620 MB
for ViT-B): keys ``prototype_token``, ``encoder.*`` (DINOv2 with registers), ``bottleneck.0.*``,
``aggregation.0.*``, ``decoder.{0..7}.*``. Our module uses the same names, so the import is a
strict load plus the configuration, which is read from the tensors' shapes (width, depth, heads,
registers, positional grid, number of INPs) and checked against ``--encoder``.

Any missing, unexpected or mis-shaped key is an error that names the file and the keys; the RUN
folder is written to a temporary name and renamed, so nothing is half-written.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import torch

from .calibrate import list_images
from .model import (
    DEFAULT_TARGET_LAYERS,
    ENCODER_SIZES,
    OFFICIAL_ENCODER_NAMES,
    EncoderConfig,
    Geometry,
    InpFormer,
    InpFormerConfig,
    RecipeConfig,
    load_tensors,
)
from .run import RunConfig, create_run

#: ``--encoder custom``: read every size from the checkpoint (tests, or a retrained small ViT).
CUSTOM = "custom"


class CheckpointError(ValueError):
    """The checkpoint does not fit; the message names the file and the keys."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a checkpoint on the CPU (bare state_dict, or under 'model'/'state_dict'); strip 'module.'."""
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: checkpoint not found"
        raise CheckpointError(msg)
    try:
        obj = load_tensors(path)
    except Exception as e:  # noqa: BLE001 - torch.load raises many kinds
        msg = f"{path}: cannot read checkpoint ({e})"
        raise CheckpointError(msg) from e
    if isinstance(obj, dict):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        msg = f"{path}: not a state_dict of tensors"
        raise CheckpointError(msg)
    return {k[len("module.") :] if k.startswith("module.") else k: v for k, v in obj.items()}


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


def check_keys(model: InpFormer, state: dict[str, torch.Tensor], path: Path) -> None:
    """Raise :class:`CheckpointError` naming missing, unexpected and mis-shaped keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"missing keys ({len(missing)}): {', '.join(missing[:12])}{' …' if len(missing) > 12 else ''}")
    if unexpected:
        parts.append(
            f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:12])}{' …' if len(unexpected) > 12 else ''}"
        )
    if shapes:
        parts.append(
            "wrong shapes: "
            + ", ".join(f"{k} {tuple(state[k].shape)} (expected {tuple(own[k].shape)})" for k in shapes[:12])
        )
    msg = f"{path}: does not match INP-Former: " + "; ".join(parts)
    raise CheckpointError(msg)


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
    check_keys(model, state, path)
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


def add_arguments(p: argparse.ArgumentParser) -> None:
    """CLI arguments of ``import-official``."""
    p.add_argument("--checkpoint", required=True, help="the authors' model.pth (INP_Former state_dict)")
    p.add_argument(
        "--encoder",
        required=True,
        help=f"{', '.join(sorted(OFFICIAL_ENCODER_NAMES))}, or {CUSTOM} (sizes read from the checkpoint)",
    )
    p.add_argument("--out", required=True, help="RUN folder to write")
    p.add_argument("--resize", type=int, default=448, help="resize side before the crop (448)")
    p.add_argument("--crop", type=int, default=392, help="centre crop side, a multiple of 14 (392)")
    p.add_argument("--eval-size", type=int, default=256, help="side of the evaluation map (256)")
    p.add_argument("--calib-data", help="held-out good images that export will calibrate on (recorded in the run)")
    p.add_argument("--version", help="model version for the manifest (default official-<checkpoint name>)")


def main(args: argparse.Namespace) -> int:
    """Run ``import-official``."""
    calib = None
    if args.calib_data:
        list_images(args.calib_data)  # fail now, not at export
        calib = [str(Path(args.calib_data).resolve())]
    run = import_official(
        args.checkpoint,
        args.encoder,
        args.out,
        geometry=Geometry(args.resize, args.resize, args.crop, args.crop),
        recipe=RecipeConfig(eval_height=args.eval_size, eval_width=args.eval_size),
        calibration=calib,
        version=args.version,
    )
    m = run.model
    print(
        f"wrote {args.out}: INP-Former {m.encoder.size} ({m.embed_dim} dims, {m.encoder.depth} blocks, "
        f"{m.num_prototypes} INPs), input {args.crop}x{args.crop} from {args.resize}"
    )
    return 0
