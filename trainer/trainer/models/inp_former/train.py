"""INP-Former's training: the reconstruction branch on good images, as the authors train it.

Loss: soft-mining global cosine per group (loss.py) + 0.2 × the INP coherence loss. StableAdamW
(AMSGrad, update clipped by its RMS), lr 1e-3 → 1e-4 cosine after 100 linear warm-up iterations,
weight decay 1e-4, betas (0.9, 0.999), eps 1e-10, gradient-norm clip 0.1, batch 16, trunc-normal
init std 0.01. The encoder is frozen, so its features are computed once and cached (an epoch then
costs only the extractor, bottleneck and decoder: on CPU this is what makes training feasible);
few-shot expands each support image into the 22 fixed views first.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ...data import few_shot_expand, load_images, pick_shots
from ...optim import StableAdamW, seed_everything, warm_cosine_lr
from ...preprocess import to_model_input
from ...progress import progress
from ...registry import Trained, TrainJob
from ...run import CHECKPOINT_FILE, RunConfig, load_checkpoint, save_checkpoint
from .encoder import ENCODER_SIZES, EncoderConfig, load_dinov2_weights
from .loss import soft_mining_cosine
from .model import InpFormer, InpFormerConfig, coherence_distance
from .recipe import RecipeConfig
from .ssl import METHODS, prepare_encoder

@dataclass
class TrainOptions:
    """Hyper-parameters; defaults are the authors'."""

    iterations: int = 5000
    """Optimiser steps (the authors: 200 epochs × images / batch)."""
    batch: int = 16
    lr: float = 1e-3
    final_lr: float = 1e-4
    warmup: int = 100
    weight_decay: float = 1e-4
    clip_norm: float = 0.1
    coherence_weight: float = 0.2
    gamma: float = 3.0
    init_std: float = 0.01
    seed: int = 1
    checkpoint_every: int = 200
    """Save a resumable checkpoint every this many steps."""



# ---- frozen-encoder feature cache

@dataclass
class FeatureCache:
    """What the frozen encoder says about each training image, computed once."""

    tokens: torch.Tensor
    """Mean of the kept layers, [N, h·w, D]: the decoder's and extractor's input."""
    groups: list[torch.Tensor]
    """Encoder groups, each [N, D, h, w]: the reconstruction targets."""
    grid: tuple[int, int]


@torch.no_grad()
def cache_features(model: nn.Module, images: np.ndarray, batch: int = 8) -> FeatureCache:
    """Run the encoder once over uint8 NHWC ``images``."""
    model.eval()
    h, w = images.shape[1:3]
    gh, gw = model.encoder.grid_size(h, w)
    pos = model.encoder.pos_embed_for(h, w)
    tokens, groups = [], [[] for _ in model.config.fuse_encoder]
    for start in progress(range(0, len(images), batch), "encoder features", unit="batch"):
        layers = model.encode(to_model_input(images[start : start + batch]), pos)
        tokens.append(torch.stack(layers, dim=1).mean(dim=1))
        for g, idx in enumerate(model.config.fuse_encoder):
            groups[g].append(model._group(layers, idx, gh, gw))
    return FeatureCache(torch.cat(tokens), [torch.cat(g) for g in groups], (gh, gw))


# ---- the training loop


#: ``(model, cache, batch indices, step) → loss`` of one optimiser step.
StepLoss = Callable[[nn.Module, FeatureCache, torch.Tensor, int], torch.Tensor]


def reconstruction_loss(model: nn.Module, cache: FeatureCache, idx: torch.Tensor, step: int,
                        options: TrainOptions) -> torch.Tensor:
    """INP-Former's loss on the cached images ``idx``: soft-mining cosine + weight × coherence."""
    tokens = cache.tokens[idx]
    decoded, prototypes = model.decode(tokens, cache.grid)
    loss = soft_mining_cosine([g[idx] for g in cache.groups], decoded, options.gamma)
    return loss + options.coherence_weight * coherence_distance(tokens, prototypes).mean()


def train_steps(
    model: nn.Module,
    cache: FeatureCache,
    options: TrainOptions,
    optimizer: StableAdamW,
    start: int = 0,
    on_checkpoint: Callable[[int], None] | None = None,
    progress: bool = True,
    step_loss: StepLoss | None = None,
    params: list[nn.Parameter] | None = None,
    offset: int = 0,
) -> list[float]:
    """Steps ``start`` … ``options.iterations − 1`` on cached features; returns the loss per step.

    Batches are drawn with a generator seeded by (seed, step), so a resumed run draws the same
    batches as an uninterrupted one. ``step_loss`` (default :func:`reconstruction_loss`) and
    ``params`` (default all trainable ones; gradient-norm clipped) let a family that extends
    INP-Former run its own loss through this loop; ``offset`` is added to the step numbers given to
    ``on_checkpoint`` (a second phase continues the first's count).
    """
    if step_loss is None:
        def step_loss(m: nn.Module, c: FeatureCache, i: torch.Tensor, s: int) -> torch.Tensor:
            return reconstruction_loss(m, c, i, s, options)
    params = model.trainable_parameters() if params is None else params
    n = cache.tokens.shape[0]
    losses: list[float] = []
    model.train()
    steps = range(start, options.iterations)
    bar = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=options.iterations, initial=start, desc="train", unit="step", leave=False)
        except ImportError:
            bar = None
    for step in steps:
        lr = warm_cosine_lr(step, options.iterations, options.lr, options.final_lr, options.warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        generator = torch.Generator().manual_seed(options.seed * 1_000_003 + step)
        idx = torch.randint(0, n, (min(options.batch, n),), generator=generator)
        loss = step_loss(model, cache, idx, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, options.clip_norm)
        optimizer.step()
        losses.append(float(loss.item()))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{lr:.1e}")
        if on_checkpoint is not None and (step + 1) % options.checkpoint_every == 0 and step + 1 < options.iterations:
            on_checkpoint(offset + step + 1)
    if bar is not None:
        bar.close()
    model.eval()
    return losses


# ---- from the command line


def build_config(args: argparse.Namespace) -> InpFormerConfig:
    """Architecture from the command line: a DINOv2 size, optionally narrowed (--embed-dim/--heads)."""
    overrides = {}
    if args.embed_dim:
        overrides["embed_dim"] = args.embed_dim
    if args.heads:
        overrides["num_heads"] = args.heads
    pretrained = bool(args.encoder_weights) and args.encoder_weights != "none"
    if getattr(args, "ssl", "pca") == "conv":
        if pretrained:
            raise ValueError("--ssl conv builds its own convolutional stem: it is for --encoder-weights none only")
        overrides["stem"] = "conv"
    encoder = EncoderConfig.for_size(args.encoder, **overrides)
    if encoder.embed_dim % encoder.num_heads:
        raise ValueError(f"--embed-dim {encoder.embed_dim} is not a multiple of --heads {encoder.num_heads}")
    return InpFormerConfig.for_size(args.encoder, encoder=encoder)



def training_images(job: TrainJob) -> tuple[np.ndarray, list]:
    """The good training images of every category (uint8 NHWC crops) and their paths; with
    ``--shots k``, k images per category picked by seed, each expanded into the 22 fixed views."""
    args = job.args
    train_paths = []
    for kept in job.train_paths.values():
        train_paths += pick_shots(kept, args.shots, args.seed) if args.shots else kept
    images = load_images(train_paths, job.geometry, desc="load images")
    if args.shots:
        images = few_shot_expand(images)
    return images, train_paths


def prepare_encoder_from_args(model: InpFormer, args: argparse.Namespace, images: np.ndarray) -> dict:
    """Pretrained weights (``--encoder-weights``) or a weight-free encoder (``--ssl``); the record of it."""
    if args.encoder_weights and args.encoder_weights != "none":
        load_dinov2_weights(model.encoder, args.encoder_weights)
        return {"method": "pretrained", "weights": str(args.encoder_weights)}
    return prepare_encoder(model, images, args.ssl, args.layer_scale, args.whiten)


def resume_state(job: TrainJob, model: nn.Module) -> dict | None:
    """The checkpoint in ``RUN.partial`` when ``--resume`` is given and one is there (loaded into ``model``)."""
    if not (job.args.resume and (job.partial / CHECKPOINT_FILE).is_file()):
        return None
    ckpt = load_checkpoint(job.partial)
    model.load_state_dict(ckpt["state_dict"], strict=True)
    print(f"train: resuming {job.partial} at step {int(ckpt['step'])}", file=sys.stderr)
    return ckpt


def training_record(options: object, encoder_prep: dict, losses: list[float], args: argparse.Namespace,
                    seconds_features: float, seconds_total: float, **extra: object) -> dict:
    """The RUN's ``training`` block: hyper-parameters, encoder, losses, times, the command."""
    return {
        **asdict(options),
        "encoder": encoder_prep,
        "loss_first": losses[0] if losses else None,
        "loss_last": float(np.mean(losses[-20:])) if losses else None,
        **extra,
        "threads": args.threads,
        "seconds_features": round(seconds_features, 1),
        "seconds_total": round(seconds_total, 1),
        "command": "python3 -m trainer " + " ".join(sys.argv[1:]),
    }


def train(job: TrainJob) -> Trained:
    """``train --arch inp-former``: encoder prepared (pretrained or ssl), decoder trained on cached features."""
    args = job.args
    options = TrainOptions(iterations=args.iterations, batch=args.batch, lr=args.lr, seed=args.seed,
                           warmup=args.warmup, checkpoint_every=args.checkpoint_every)
    images, train_paths = training_images(job)
    config = build_config(args)
    model = InpFormer(config)
    t_start = time.monotonic()
    encoder_prep = prepare_encoder_from_args(model, args, images)
    seed_everything(options.seed)
    model.reset_trainable(options.init_std)
    optimizer = StableAdamW(model.trainable_parameters(), lr=options.lr, weight_decay=options.weight_decay)
    start = 0
    ckpt = resume_state(job, model)
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        start = int(ckpt["step"])
    cache = cache_features(model, images)
    t_cache = time.monotonic() - t_start

    def checkpoint(step: int) -> None:
        save_checkpoint(job.partial, model.state_dict(), step=step, optimizer=optimizer.state_dict())

    losses = train_steps(model, cache, options, optimizer, start, checkpoint)
    elapsed = time.monotonic() - t_start
    run_config = RunConfig(
        model=config,
        geometry=job.geometry,
        recipe=RecipeConfig.for_crop(job.geometry.crop_hw),
        data=job.data_record(train_images=len(train_paths), shots=args.shots or None),
        training=training_record(options, encoder_prep, losses, args, t_cache, elapsed),
        version=args.version,
    )
    return Trained(run_config, model.state_dict(), options.iterations)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``train --arch inp-former``."""
    d = TrainOptions()
    parser.add_argument("--encoder", default="base", choices=sorted(ENCODER_SIZES), help="DINOv2 size (default base)")
    parser.add_argument("--embed-dim", type=int, default=0, help="narrow the encoder to this width (random/ssl only)")
    parser.add_argument("--heads", type=int, default=0, help="attention heads with --embed-dim")
    parser.add_argument("--encoder-weights", default="none",
                        help="official DINOv2 checkpoint file, or 'none' to start random (default none)")
    parser.add_argument("--ssl", default="pca", choices=METHODS,
                        help="how to make a random encoder useful without weights: pca (textures), conv (real objects), "
                             "none (default pca; see ssl.py)")
    parser.add_argument("--layer-scale", type=float, default=0.1, help="LayerScale of the ssl encoder's blocks (0.1)")
    parser.add_argument("--whiten", type=float, default=None,
                        help="ssl: component k scaled by (λk + λ̄)^(-w/2); 0 raw, 1 partial, 2 flattens the top "
                             "(default 1.5 for pca, 1 for conv)")
    parser.add_argument("--iterations", type=int, default=d.iterations, help=f"optimiser steps (default {d.iterations})")
    parser.add_argument("--batch", type=int, default=d.batch, help=f"batch size (default {d.batch})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    parser.add_argument("--warmup", type=int, default=d.warmup, help=f"linear warm-up steps (default {d.warmup})")
    parser.add_argument("--shots", type=int, default=0, help="few-shot: k images per category, 22 views each")
