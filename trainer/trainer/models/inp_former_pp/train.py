"""INP-Former++'s training: INP-Former's loop with ++'s losses, and the residual head on pseudo-anomalies.

Reconstruction branch [reimpl]: soft-mining cosine + MSE (``--mse-weight``) + 0.2 × the soft
coherence loss (``--coherence soft``; ``hard`` is INP-Former's), on good images only, through
INP-Former's own loop (``train_steps`` with this family's step loss) and feature cache.

Residual head: batches of ``--batch`` samples, half of them clean (``--clean-fraction``), the rest
pseudo-anomalies (trainer/anomalies.py: Perlin masks, textures, blending) and, with
``--defect-images``, real defects (``--defect-fraction`` of the anomalous share: the
semi-supervised setting; they train the head only, never the reconstruction branch). Loss: Dice on
the head's output at the crop size, weight 1. The residual is detached, so the head's loss never
reaches the decoder; ``--head-schedule joint`` trains both together (the decoder's current output
feeds the head), ``after`` trains the head once the reconstruction branch is done (its residuals
are then fixed and computed once). Both work [author, #53].

CPU economy (ours): the encoder is frozen, so the pseudo-anomalous images are drawn once
(``--anomaly-pool`` of them, deterministic per seed) and their encoder features cached like the
good images'; every head batch then flips and rotates each residual with its mask by a random
element of the dihedral group (the decoder works token by token against the image's prototypes,
so the residual of a rotated token grid is the rotated residual), which multiplies the pool by 8.

After training, the three components of the map are measured on the good training images and their
mean and std recorded in the recipe (recipe.py), which the exported graph bakes in.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from ...anomalies import AnomalyOptions, TextureSource, training_samples
from ...data import load_defects
from ...optim import StableAdamW, seed_everything
from ...registry import Trained, TrainJob
from ...run import RunConfig, save_checkpoint
from ..inp_former import train as inp_train
from ..inp_former.train import FeatureCache, TrainOptions, cache_features, train_steps
from .loss import coherence, dice_loss, soft_mining_loss
from .model import InpFormerPP, InpFormerPPConfig
from .recipe import NORMALISATIONS, RECON_TERMS, FusionRecipe, RunningMoments, components

SCHEDULES = ("joint", "after")
TEXTURE_SOURCES = ("procedural", "images")


@dataclass
class PPOptions:
    """INP-Former++'s own hyper-parameters (INP-Former's are ``TrainOptions``); see the module docstring."""

    coherence: str = "soft"
    mse_weight: float = 1.0
    head_loss_weight: float = 1.0
    head_schedule: str = "after"
    head_iterations: int = 0
    """``after``: steps of the head alone (0: as many as ``--iterations``)."""
    anomaly_pool: int = 512
    clean_fraction: float = 0.5
    defect_fraction: float = 0.25
    head_augment: bool = True


@dataclass
class HeadData:
    """What head batches are drawn from: the good images, the pseudo-anomaly pool, real defects."""

    clean: FeatureCache
    pool: FeatureCache
    pool_masks: torch.Tensor
    """``[P, 1, H, W]`` uint8 at the crop size."""
    defects: FeatureCache | None = None
    defect_masks: torch.Tensor | None = None
    residuals: dict[str, torch.Tensor] | None = None
    """``after``: each source's residuals, computed once by the finished decoder."""


def _sources(data: HeadData) -> dict[str, FeatureCache]:
    out = {"clean": data.clean, "pool": data.pool}
    if data.defects is not None:
        out["defects"] = data.defects
    return out


def head_batch(data: HeadData, size: int, step: int, seed: int, pp: PPOptions) -> dict[str, torch.Tensor]:
    """Indices per source for the head batch of ``step`` (own generator: resuming draws the same)."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + step) ^ 0x5EED5)
    n_clean = int(round(size * pp.clean_fraction))
    n_anom = size - n_clean
    n_def = int(round(n_anom * pp.defect_fraction)) if data.defects is not None else 0
    counts = {"clean": n_clean, "pool": n_anom - n_def, "defects": n_def}
    return {name: torch.randint(0, cache.tokens.shape[0], (counts[name],), generator=g)
            for name, cache in _sources(data).items() if counts[name] > 0}


def _masks(data: HeadData, name: str, idx: torch.Tensor, crop_hw: tuple[int, int]) -> torch.Tensor:
    if name == "clean":
        return torch.zeros((len(idx), 1, *crop_hw))
    masks = data.pool_masks if name == "pool" else data.defect_masks
    return masks[idx].to(torch.float32)


def residual_of(model: InpFormerPP, cache: FeatureCache, idx: torch.Tensor) -> torch.Tensor:
    """The head's (detached) input for cached images ``idx``, by the current decoder."""
    with torch.no_grad():
        decoded, _ = model.decode(cache.tokens[idx], cache.grid)
        return model.residual([g[idx] for g in cache.groups], decoded)


def dihedral(r: torch.Tensor, m: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each residual and its mask turned by a random multiple of 90° (square grids) and maybe mirrored."""
    square = r.shape[-1] == r.shape[-2] and m.shape[-1] == m.shape[-2]
    rs, ms = [], []
    for i in range(r.shape[0]):
        k = int(torch.randint(0, 4 if square else 1, (1,), generator=generator))
        flip = bool(torch.randint(0, 2, (1,), generator=generator))
        ri, mi = torch.rot90(r[i], k, dims=(-2, -1)), torch.rot90(m[i], k, dims=(-2, -1))
        if flip:
            ri, mi = ri.flip(-1), mi.flip(-1)
        rs.append(ri)
        ms.append(mi)
    return torch.stack(rs), torch.stack(ms)


def head_loss(model: InpFormerPP, data: HeadData, step: int, size: int, seed: int, pp: PPOptions,
              crop_hw: tuple[int, int]) -> torch.Tensor:
    """Dice of the head on the batch of ``step`` (residuals detached: no gradient reaches the decoder)."""
    picks = head_batch(data, size, step, seed, pp)
    rs, ms = [], []
    for name, idx in picks.items():
        if data.residuals is not None:
            rs.append(data.residuals[name][idx])
        else:
            rs.append(residual_of(model, _sources(data)[name], idx))
        ms.append(_masks(data, name, idx, crop_hw))
    r, m = torch.cat(rs), torch.cat(ms)
    if pp.head_augment:
        r, m = dihedral(r, m, torch.Generator().manual_seed(seed * 7_919 + step))
    prob = F.interpolate(model.head(r), size=crop_hw, mode="bilinear", align_corners=False)
    return dice_loss(prob, m)


def reconstruction_loss(model: InpFormerPP, cache: FeatureCache, idx: torch.Tensor, options: TrainOptions,
                        pp: PPOptions) -> torch.Tensor:
    """++'s reconstruction loss on good images ``idx``: mined cosine + MSE, plus the coherence loss."""
    tokens = cache.tokens[idx]
    decoded, prototypes = model.decode(tokens, cache.grid)
    loss = soft_mining_loss([g[idx] for g in cache.groups], decoded, options.gamma, pp.mse_weight)
    return loss + options.coherence_weight * coherence(tokens, prototypes, pp.coherence)


@torch.no_grad()
def precompute_residuals(model: InpFormerPP, data: HeadData, batch: int = 32) -> dict[str, torch.Tensor]:
    """Every source's residuals by the (finished) decoder, for ``--head-schedule after``."""
    out = {}
    for name, cache in _sources(data).items():
        n = cache.tokens.shape[0]
        out[name] = torch.cat([residual_of(model, cache, torch.arange(i, min(n, i + batch)))
                               for i in range(0, n, batch)])
    return out


@torch.no_grad()
def fusion_statistics(model: InpFormerPP, cache: FeatureCache, crop_hw: tuple[int, int], recipe: FusionRecipe,
                      batch: int = 16) -> dict[str, list[float]]:
    """Mean and std of each map component over every pixel of the good training images."""
    model.eval()
    moments = RunningMoments()
    n = cache.tokens.shape[0]
    for i in range(0, n, batch):
        idx = torch.arange(i, min(n, i + batch))
        en = [g[idx] for g in cache.groups]
        de, _ = model.decode(cache.tokens[idx], cache.grid)
        moments.add(components(en, de, model.head_map(en, de), crop_hw, recipe))
    return moments.stats()


def build_config(args: argparse.Namespace) -> InpFormerPPConfig:
    """INP-Former's architecture from the command line, with the head's channels."""
    return InpFormerPPConfig.from_inp_former(inp_train.build_config(args), head_channels=list(args.head_channels))


def _pp_options(args: argparse.Namespace) -> PPOptions:
    return PPOptions(coherence=args.coherence, mse_weight=args.mse_weight, head_loss_weight=args.head_loss_weight,
                     head_schedule=args.head_schedule, head_iterations=args.head_iterations or args.iterations,
                     anomaly_pool=args.anomaly_pool, clean_fraction=args.clean_fraction,
                     defect_fraction=args.defect_fraction, head_augment=args.head_augment == "dihedral")


def _head_data(model: InpFormerPP, args: argparse.Namespace, images: np.ndarray, job: TrainJob,
               clean: FeatureCache) -> tuple[HeadData, dict]:
    """The pseudo-anomaly pool (and real defects), drawn and encoded once; the record of both."""
    kinds = [k for k in args.textures.split(",") if k]
    unknown = sorted(set(kinds) - set(TEXTURE_SOURCES))
    if unknown:
        msg = f"--textures: unknown source(s) {', '.join(unknown)} (known: {', '.join(TEXTURE_SOURCES)})"
        raise ValueError(msg)
    textures = TextureSource(procedural="procedural" in kinds, images=images if "images" in kinds else None,
                             folder=args.texture_dir)
    anomaly_options = replace(AnomalyOptions(), clean_fraction=0.0)
    pool_images, pool_masks, _ = training_samples(images, args.anomaly_pool, args.seed, textures, anomaly_options)
    data = HeadData(clean, cache_features(model, pool_images),
                    torch.from_numpy(pool_masks).to(torch.uint8).unsqueeze(1))
    record = {"pool": args.anomaly_pool, "textures": textures.describe(), "options": asdict(anomaly_options),
              "meanCoverage": round(float(pool_masks.mean()), 4)}
    if args.defect_images:
        d_images, d_masks = load_defects(args.defect_images, job.geometry)
        data.defects = cache_features(model, d_images)
        data.defect_masks = torch.from_numpy(d_masks).to(torch.uint8).unsqueeze(1)
        record["defectImages"] = {"folder": str(args.defect_images), "count": len(d_images)}
    return data, record


def train(job: TrainJob) -> Trained:
    """``train --arch inp-former++``."""
    args = job.args
    options = TrainOptions(iterations=args.iterations, batch=args.batch, lr=args.lr, seed=args.seed,
                           warmup=args.warmup, checkpoint_every=args.checkpoint_every,
                           coherence_weight=args.coherence_weight)
    pp = _pp_options(args)
    images, train_paths = inp_train.training_images(job)
    config = build_config(args)
    model = InpFormerPP(config)
    t_start = time.monotonic()
    encoder_prep = inp_train.prepare_encoder_from_args(model, args, images)
    seed_everything(options.seed)
    model.reset_trainable(options.init_std)
    ckpt = inp_train.resume_state(job, model)
    cache = cache_features(model, images)
    with torch.no_grad():  # ours: the head's input scaled to order one (model.py)
        model.residual_scale.fill_(1.0 / max(1e-12, float(torch.stack([g.abs().mean() for g in cache.groups]).mean())))
    data, anomaly_record = _head_data(model, args, images, job, cache)
    t_cache = time.monotonic() - t_start
    crop_hw = job.geometry.crop_hw
    start = int(ckpt["step"]) if ckpt is not None else 0
    losses: list[float] = []

    def recon(m: InpFormerPP, c: FeatureCache, idx: torch.Tensor, step: int) -> torch.Tensor:
        return reconstruction_loss(m, c, idx, options, pp)

    def joint(m: InpFormerPP, c: FeatureCache, idx: torch.Tensor, step: int) -> torch.Tensor:
        return recon(m, c, idx, step) + pp.head_loss_weight * head_loss(m, data, step, options.batch, options.seed,
                                                                        pp, crop_hw)

    optimizer = StableAdamW(model.trainable_parameters() if pp.head_schedule == "joint"
                            else [p for p in model.trainable_parameters() if not _is_head(model, p)],
                            lr=options.lr, weight_decay=options.weight_decay)
    if ckpt is not None and start < options.iterations:
        optimizer.load_state_dict(ckpt["optimizer"])
    if start < options.iterations:
        losses += train_steps(model, cache, options, optimizer, start,
                              lambda s: save_checkpoint(job.partial, model.state_dict(), step=s,
                                                        optimizer=optimizer.state_dict()),
                              step_loss=joint if pp.head_schedule == "joint" else recon,
                              params=optimizer.param_groups[0]["params"])
    if pp.head_schedule == "after":
        losses += _train_head_after(model, data, options, pp, crop_hw, job, ckpt, start)
    # the evaluation map and score of a non-square input as INP-Former's (RecipeConfig.for_crop)
    recipe = replace(FusionRecipe.for_crop(crop_hw), recon_terms=args.recon_terms, head_weight=args.fusion_head_weight,
                     normalise=args.fusion_normalise, head_min_std=args.fusion_head_min_std)
    recipe.stats = fusion_statistics(model, cache, crop_hw, recipe)
    elapsed = time.monotonic() - t_start
    run_config = RunConfig(
        model=config,
        geometry=job.geometry,
        recipe=recipe,
        data=job.data_record(train_images=len(train_paths), shots=args.shots or None),
        training=inp_train.training_record(options, encoder_prep, losses, args, t_cache, elapsed,
                                           plusplus=asdict(pp), anomalies=anomaly_record),
        architecture="inp-former++",
        version=args.version,
    )
    total = options.iterations + (pp.head_iterations if pp.head_schedule == "after" else 0)
    return Trained(run_config, model.state_dict(), total)


def _is_head(model: InpFormerPP, p: torch.nn.Parameter) -> bool:
    return any(p is q for q in model.head_parameters())


def _train_head_after(model: InpFormerPP, data: HeadData, options: TrainOptions, pp: PPOptions,
                      crop_hw: tuple[int, int], job: TrainJob, ckpt: dict | None, start: int) -> list[float]:
    """``--head-schedule after``: the head alone on residuals of the finished decoder."""
    data.residuals = precompute_residuals(model, data)
    head_options = replace(options, iterations=pp.head_iterations)
    optimizer = StableAdamW(model.head_parameters(), lr=options.lr, weight_decay=options.weight_decay)
    head_start = max(0, start - options.iterations)
    if ckpt is not None and head_start > 0:
        optimizer.load_state_dict(ckpt["optimizer"])

    def step_loss(m: InpFormerPP, c: FeatureCache, idx: torch.Tensor, step: int) -> torch.Tensor:
        return head_loss(m, data, step, options.batch, options.seed, pp, crop_hw)

    return train_steps(model, data.clean, head_options, optimizer, head_start,
                       lambda s: save_checkpoint(job.partial, model.state_dict(), step=s,
                                                 optimizer=optimizer.state_dict()),
                       step_loss=step_loss, params=model.head_parameters(), offset=options.iterations)


def _channels(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError as e:
        msg = f"--head-channels: two integers, e.g. 256,64, not {text!r}"
        raise argparse.ArgumentTypeError(msg) from e
    if len(values) != 2 or min(values) < 1:
        msg = f"--head-channels: two positive integers, e.g. 256,64, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return values


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """INP-Former's options, then ++'s own."""
    inp_train.add_train_arguments(parser)
    d = PPOptions()
    g = parser.add_argument_group("INP-Former++")
    g.add_argument("--coherence", default=d.coherence, choices=("soft", "hard"),
                   help="coherence loss: soft (++, default) or hard (INP-Former's minimum)")
    g.add_argument("--coherence-weight", type=float, default=TrainOptions().coherence_weight,
                   help="weight of the coherence loss (default 0.2)")
    g.add_argument("--mse-weight", type=float, default=d.mse_weight,
                   help=f"weight of the mined MSE term beside the cosine (default {d.mse_weight}; 0: INP-Former's loss)")
    g.add_argument("--head-channels", type=_channels, default=[],
                   help="channels of the head's two transposed convolutions (default D/3,D/12 of the token width "
                        "D: 256,64 for ViT-B)")
    g.add_argument("--head-loss-weight", type=float, default=d.head_loss_weight,
                   help=f"weight of the head's Dice loss (default {d.head_loss_weight})")
    g.add_argument("--head-schedule", default=d.head_schedule, choices=SCHEDULES,
                   help="after: the head once the reconstruction branch is trained, on its fixed residuals "
                        "(default: as good here and far cheaper per step); joint: both together")
    g.add_argument("--head-iterations", type=int, default=0, help="after: the head's steps (default --iterations)")
    g.add_argument("--head-augment", default="dihedral", choices=("dihedral", "none"),
                   help="flip/rotate each head sample's residual and mask (default dihedral)")
    g.add_argument("--anomaly-pool", type=int, default=d.anomaly_pool,
                   help=f"pseudo-anomalous images drawn and encoded once (default {d.anomaly_pool})")
    g.add_argument("--clean-fraction", type=float, default=d.clean_fraction,
                   help=f"share of each head batch left clean (default {d.clean_fraction})")
    g.add_argument("--textures", default="procedural,images",
                   help="anomaly texture sources, comma-separated: procedural, images (the training images); "
                        "default both")
    g.add_argument("--texture-dir", default=None, help="also take anomaly textures from this folder (e.g. DTD)")
    g.add_argument("--defect-images", default=None,
                   help="a few real defective images with masks (MVTec layout or X.png + X_mask.png): "
                        "semi-supervised, for the head only")
    g.add_argument("--defect-fraction", type=float, default=d.defect_fraction,
                   help=f"share of a head batch's anomalous samples taken from --defect-images "
                        f"(default {d.defect_fraction})")
    g.add_argument("--recon-terms", default="cos+l2", choices=RECON_TERMS,
                   help="reconstruction map: cos+l2 (default) or cos (INP-Former's)")
    g.add_argument("--fusion-normalise", default="zscore", choices=NORMALISATIONS,
                   help="each map component by the good training images' mean/std (zscore, default) or raw (none)")
    g.add_argument("--fusion-head-weight", type=float, default=0.5,
                   help="weight of the head's mask in the final map (default 0.5: the mean)")
    g.add_argument("--fusion-head-min-std", type=float, default=FusionRecipe.head_min_std,
                   help=f"floor of the head's std in the normalisation (default {FusionRecipe.head_min_std})")
