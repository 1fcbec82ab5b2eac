"""``train``: INP-Former's reconstruction branch on good images, as the authors train it.

Loss: soft-mining global cosine per group (encoder side detached; the gradient at each position is
scaled by (d/mean d)^3, d = 1 − cos over channels, no gradient through the weight) + 0.2 × the INP
coherence loss. StableAdamW (AMSGrad, update clipped by its RMS), lr 1e-3 → 1e-4 cosine after 100
linear warm-up iterations, weight decay 1e-4, betas (0.9, 0.999), eps 1e-10, gradient-norm clip
0.1, batch 16, trunc-normal init std 0.01. The encoder is frozen, so its features are computed
once and cached (an epoch then costs only the extractor, bottleneck and decoder: on CPU this is
what makes training feasible); few-shot expands each support image into the 22 fixed views first.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import DatasetError, check_uniform, discover, few_shot_expand, load_images, pick_shots
from .model import ENCODER_SIZES, EncoderConfig, Geometry, InpFormer, InpFormerConfig, coherence_distance
from .model import load_dinov2_weights, normalize
from .run import CHECKPOINT_FILE, RunConfig, create_run, load_checkpoint, save_checkpoint
from .ssl import METHODS, prepare_encoder

# ---- loss


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; backward multiplies the incoming gradient by a fixed weight."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        ctx.save_for_backward(weight)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: ANN001
        (weight,) = ctx.saved_tensors
        return grad * weight, None


def soft_mining_cosine(
    encoder_groups: Iterable[torch.Tensor], decoder_groups: Iterable[torch.Tensor], gamma: float = 3.0
) -> torch.Tensor:
    """Mean over groups of 1 − cos(flattened E, flattened D), hard positions weighted.

    Each group is ``[B, C, h, w]``. The value is the plain global cosine loss; only its gradient is
    re-weighted: at each position by (d / mean d)^gamma with d = 1 − cos over channels, computed
    without gradient, so well-reconstructed positions stop dominating (the authors' soft mining).
    """
    total = torch.zeros(())
    groups = list(zip(encoder_groups, decoder_groups))
    for en, de in groups:
        en = en.detach()
        with torch.no_grad():
            d = 1.0 - torch.nn.functional.cosine_similarity(en, de, dim=1).unsqueeze(1)
            weight = (d / d.mean()).pow(gamma)
        de = _ScaleGrad.apply(de, weight)
        cos = torch.nn.functional.cosine_similarity(en.flatten(1), de.flatten(1), dim=1)
        total = total + (1.0 - cos).mean()
    return total / len(groups)


# ---- optimiser and schedule


class StableAdamW(torch.optim.Optimizer):
    """AdamW whose step is divided by max(1, RMS(g² / v̂)) per tensor (Wortsman et al. 2023).

    With ``amsgrad`` the running maximum of the second moment is used, as the authors configure
    it. The RMS clip keeps a sudden large gradient from taking a step the second moment has not
    caught up with, which is what made lr 1e-3 stable for the authors.
    """

    def __init__(
        self,
        params: Iterable[nn.Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-10,
        weight_decay: float = 1e-4,
        amsgrad: bool = True,
    ) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad})

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001, ANN201 - torch's signature
        """One update of every parameter that has a gradient."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                second = exp_avg_sq
                if group["amsgrad"]:
                    torch.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
                    second = state["max_exp_avg_sq"]
                v_hat = second / (1 - beta2**t)
                rms = (grad.pow(2) / v_hat.clamp(min=group["eps"] ** 2)).mean().sqrt().item()
                lr = group["lr"] / max(1.0, rms)
                p.mul_(1 - lr * group["weight_decay"])
                p.addcdiv_(exp_avg / (1 - beta1**t), v_hat.sqrt().add_(group["eps"]), value=-lr)
        return loss


def warm_cosine_lr(step: int, total: int, base: float = 1e-3, final: float = 1e-4, warmup: int = 100) -> float:
    """Linear warm-up from 0 to ``base`` over ``warmup`` steps, then cosine down to ``final``."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return final + 0.5 * (base - final) * (1 + math.cos(math.pi * progress))


def seed_everything(seed: int) -> None:
    """Python, numpy and torch generators (CPU determinism; a GPU may still differ slightly)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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

def to_model_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 NHWC RGB → normalised float NCHW, exactly what the exported graph does."""
    return normalize(torch.as_tensor(images))


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
    for start in range(0, len(images), batch):
        layers = model.encode(to_model_input(images[start : start + batch]), pos)
        tokens.append(torch.stack(layers, dim=1).mean(dim=1))
        for g, idx in enumerate(model.config.fuse_encoder):
            groups[g].append(model._group(layers, idx, gh, gw))
    return FeatureCache(torch.cat(tokens), [torch.cat(g) for g in groups], (gh, gw))


# ---- the training loop


def train_steps(
    model: nn.Module,
    cache: FeatureCache,
    options: TrainOptions,
    optimizer: StableAdamW,
    start: int = 0,
    on_checkpoint: Callable[[int], None] | None = None,
    progress: bool = True,
) -> list[float]:
    """Steps ``start`` … ``options.iterations − 1`` on cached features; returns the loss per step.

    Batches are drawn with a generator seeded by (seed, step), so a resumed run draws the same
    batches as an uninterrupted one.
    """
    params = model.trainable_parameters()
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
        tokens = cache.tokens[idx]
        decoded, prototypes = model.decode(tokens, cache.grid)
        loss = soft_mining_cosine([g[idx] for g in cache.groups], decoded, options.gamma)
        loss = loss + options.coherence_weight * coherence_distance(tokens, prototypes).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, options.clip_norm)
        optimizer.step()
        losses.append(float(loss.item()))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{lr:.1e}")
        if on_checkpoint is not None and (step + 1) % options.checkpoint_every == 0 and step + 1 < options.iterations:
            on_checkpoint(step + 1)
    if bar is not None:
        bar.close()
    model.eval()
    return losses


# ---- command line


def _split_holdout(paths: list[Path], fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """(train, held-out good images for calibration); at least 1 held out when fraction > 0."""
    if fraction <= 0:
        return list(paths), []
    k = max(1, int(round(len(paths) * fraction)))
    if k >= len(paths):
        raise DatasetError(f"--calib-holdout {fraction} leaves no training images in {paths[0].parent}")
    order = np.random.default_rng(seed).permutation(len(paths))
    held = set(order[:k].tolist())
    return [p for i, p in enumerate(paths) if i not in held], [p for i, p in enumerate(paths) if i in held]


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


def _partial_dir(out: Path) -> Path:
    """Where checkpoints of an unfinished run live; RUN itself appears only when training ends."""
    return out.parent / f"{out.name}.partial"


def run_training(args: argparse.Namespace) -> Path:
    """Everything ``train`` does; returns the RUN folder."""
    torch.set_num_threads(max(1, args.threads))
    out = Path(args.out)
    options = TrainOptions(iterations=args.iterations, batch=args.batch, lr=args.lr, seed=args.seed,
                           warmup=args.warmup, checkpoint_every=args.checkpoint_every)
    seed_everything(options.seed)
    categories = discover(args.data)
    geometry = Geometry(args.resize, args.resize, args.crop, args.crop)
    train_paths: list[Path] = []
    calib_paths: list[Path] = []
    for category in categories:
        check_uniform(category.train)
        kept, held = _split_holdout(category.train, args.calib_holdout, options.seed)
        if args.shots:
            kept = pick_shots(kept, args.shots, options.seed)
        train_paths += kept
        calib_paths += held
    images = load_images(train_paths, geometry)
    if args.shots:
        images = few_shot_expand(images)
    config = build_config(args)
    model = InpFormer(config)
    t_start = time.monotonic()
    if args.encoder_weights and args.encoder_weights != "none":
        load_dinov2_weights(model.encoder, args.encoder_weights)
        encoder_prep = {"method": "pretrained", "weights": str(args.encoder_weights)}
    else:
        encoder_prep = prepare_encoder(model, images, args.ssl, args.layer_scale, args.whiten)
    seed_everything(options.seed)
    model.reset_trainable(options.init_std)
    optimizer = StableAdamW(model.trainable_parameters(), lr=options.lr, weight_decay=options.weight_decay)
    partial = _partial_dir(out)
    start = 0
    if args.resume and (partial / CHECKPOINT_FILE).is_file():
        ckpt = load_checkpoint(partial)
        model.load_state_dict(ckpt["state_dict"], strict=True)
        optimizer.load_state_dict(ckpt["optimizer"])
        start = int(ckpt["step"])
        print(f"train: resuming {partial} at step {start}", file=sys.stderr)
    cache = cache_features(model, images)
    t_cache = time.monotonic() - t_start

    def checkpoint(step: int) -> None:
        save_checkpoint(partial, model.state_dict(), step=step, optimizer=optimizer.state_dict())

    losses = train_steps(model, cache, options, optimizer, start, checkpoint)
    elapsed = time.monotonic() - t_start
    run_config = RunConfig(
        model=config,
        geometry=geometry,
        data={
            "train": [str(Path(d).resolve()) for d in str(args.data).split(",") if d],
            "categories": [c.name for c in categories],
            "train_images": len(train_paths),
            "shots": args.shots or None,
            "calibration": [str(p.resolve()) for p in calib_paths],
        },
        training={
            **asdict(options),
            "encoder": encoder_prep,
            "loss_first": losses[0] if losses else None,
            "loss_last": float(np.mean(losses[-20:])) if losses else None,
            "threads": args.threads,
            "seconds_features": round(t_cache, 1),
            "seconds_total": round(elapsed, 1),
            "command": "python3 -m trainer " + " ".join(sys.argv[1:]),
        },
        version=args.version,
    )
    create_run(out, run_config, model.state_dict(), step=options.iterations)
    shutil.rmtree(partial, ignore_errors=True)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python3 -m trainer train``."""
    d = TrainOptions()
    parser.add_argument("--data", required=True, help="dataset folder(s) in MVTec layout, comma-separated")
    parser.add_argument("--arch", default="inp-former", choices=["inp-former"], help="architecture (inp-former)")
    parser.add_argument("--out", required=True, help="RUN folder to write (appears only when training ends)")
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
    parser.add_argument("--resize", type=int, default=448, help="resize side in px (default 448)")
    parser.add_argument("--crop", type=int, default=392, help="centre crop side in px, a multiple of 14 (default 392)")
    parser.add_argument("--iterations", type=int, default=d.iterations, help=f"optimiser steps (default {d.iterations})")
    parser.add_argument("--batch", type=int, default=d.batch, help=f"batch size (default {d.batch})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    parser.add_argument("--warmup", type=int, default=d.warmup, help=f"linear warm-up steps (default {d.warmup})")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    parser.add_argument("--shots", type=int, default=0, help="few-shot: k images per category, 22 views each")
    parser.add_argument("--calib-holdout", type=float, default=0.1,
                        help="fraction of train/good held out for export's calibration (default 0.1)")
    parser.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every,
                        help=f"resumable checkpoint every N steps in RUN.partial (default {d.checkpoint_every})")
    parser.add_argument("--resume", action="store_true", help="continue from RUN.partial/checkpoint.pt")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--version", default="0.1.0", help="model version written to the RUN (default 0.1.0)")


def main(args: argparse.Namespace) -> int:
    """Entry point of ``python3 -m trainer train``."""
    out = run_training(args)
    print(json.dumps({"run": str(out)}))
    return 0
