"""OneNIP's training, as the authors train it, on one or several categories at once.

Each step draws ``batch`` good images (uniformly over all training images, every category), gives
each a random prompt of its own category and an anomalous twin (synthetic.py: CutPaste or a Perlin
texture, half the time each), and reconstructs the 2·batch targets (good images, then twins) from
their prompts with feature jitter (scale 20) on the tokens. Loss = MSE(reconstruction, the good
image's features — for the twin too) + 0.5 × Dice(sigmoid(refiner logit), mask), the mask empty
for the good images; Dice as the authors': 1 − (Σpt + 1) / (Σp² + Σt² + 1) per image, averaged.
AdamW lr 1e-4, betas (0.9, 0.999), weight decay 1e-4, gradient-norm clip 0.1, lr × 0.1 after 80 %
of the steps (the authors: StepLR at epoch 800 of 1000), batch 8, xavier-uniform initialisation.

Each step also records the refiner's peak on the twins' defects (health.py); at the end the RUN's
``training.refiner`` says whether the refiner collapsed (p ≈ 0 everywhere, the fused map then the
reconstruction's alone), and train warns when it did.

The backbone is frozen, so the good images' features are computed once; only the twins go through
it each step. Batches, twins, prompts, jitter and dropout come from generators seeded by (seed,
step), so ``--resume`` continues exactly as an uninterrupted run. At the end, c (recipe.py) is
measured on the held-out good images, each with its prompt, and stored in the RUN.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...anomalies import TextureSource
from ...data import load_images
from ...preprocess import to_model_input
from ...registry import Trained, TrainJob
from ...run import CHECKPOINT_FILE, RunConfig, load_checkpoint, save_checkpoint
from .backbone import BACKBONES, STRIDE, BackboneConfig, ConvBackbone
from .efficientnet import load_efficientnet_weights
from .health import StepRecord, refiner_health, refiner_peak
from .model import OneNip, OneNipConfig
from .prompts import PromptChooser, prompt_record, recorded_prompts
from .recipe import SELECTIONS, RecipeConfig, fusion_scale
from .synthetic import SyntheticOptions, synthetic_anomaly
from .transformer import DECODERS


@dataclass
class TrainOptions:
    """Hyper-parameters; defaults are the authors'."""

    iterations: int = 5000
    batch: int = 8
    lr: float = 1e-4
    weight_decay: float = 1e-4
    clip_norm: float = 0.1
    dice_weight: float = 0.5
    lr_drop_at: float = 0.8
    """Fraction of the steps after which the lr is multiplied by 0.1."""
    seed: int = 1
    checkpoint_every: int = 200


def dice_loss(prob: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """The authors' Dice: mean over images of 1 − (Σpt + s) / (Σp² + Σt² + s)."""
    p, t = prob.flatten(1), target.flatten(1)
    return (1 - ((p * t).sum(1) + smooth) / ((p * p).sum(1) + (t * t).sum(1) + smooth)).mean()


@torch.no_grad()
def cache_features(model: OneNip, images: np.ndarray, batch: int = 8) -> torch.Tensor:
    """The frozen backbone + neck over uint8 NHWC images, once: ``[N, C, h, w]``."""
    model.eval()
    return torch.cat([model.features(to_model_input(images[i : i + batch])) for i in range(0, len(images), batch)])


class Sampler:
    """Draws a step's batch: good images, their prompts (same category) and anomalous twins."""

    def __init__(self, images: np.ndarray, category_of: np.ndarray, textures: TextureSource,
                 options: SyntheticOptions, seed: int) -> None:
        self.images = images
        self.category_of = category_of
        self.members = {int(c): np.flatnonzero(category_of == c) for c in np.unique(category_of)}
        self.textures = textures
        self.options = options
        self.seed = seed

    def draw(self, step: int, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(good indices, prompt indices, twins uint8 NHWC, masks ``[B, H, W]``) for ``step``."""
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, step])
        idx = rng.integers(0, len(self.images), size=min(batch, len(self.images)))
        prompts = np.array([rng.choice(self.members[int(self.category_of[i])]) for i in idx])
        twins, masks = zip(*(synthetic_anomaly(self.images[i], rng, self.textures, self.options) for i in idx),
                           strict=True)
        return idx, prompts, np.stack(twins), np.stack(masks)


def train_step(model: OneNip, feats: torch.Tensor, sampler: Sampler, step: int, options: TrainOptions
               ) -> tuple[torch.Tensor, StepRecord]:
    """One forward pass: the loss to back-propagate and what the step measured (health.py)."""
    idx, prompt_idx, twins, masks = sampler.draw(step, options.batch)
    with torch.no_grad():
        twin_feats = model.features(to_model_input(twins))
    good = feats[torch.from_numpy(idx)]
    targets = torch.cat([good, twin_feats])
    prompts = feats[torch.from_numpy(prompt_idx)]
    torch.manual_seed(options.seed * 1_000_003 + step)  # jitter and dropout, reproducible on resume
    rec = model.reconstruct(targets, prompts, jitter=True)
    _, logit = model.maps(targets, rec)
    mask = torch.cat([torch.zeros(len(idx), *masks.shape[1:]), torch.from_numpy(masks)]).unsqueeze(1)
    mse = F.mse_loss(rec, torch.cat([good, good]))
    prob = torch.sigmoid(logit)
    dice = dice_loss(prob, mask)
    loss = mse + options.dice_weight * dice
    twins = slice(len(idx), None)
    return loss, StepRecord(float(loss), float(mse), float(dice), refiner_peak(prob[twins].detach(), mask[twins]))


def train_steps(model: OneNip, feats: torch.Tensor, sampler: Sampler, options: TrainOptions,
                optimizer: torch.optim.Optimizer, start: int = 0, on_checkpoint=None,  # noqa: ANN001
                progress: bool = True) -> list[StepRecord]:
    """Steps ``start`` … ``iterations − 1``; returns what each step measured."""
    params = model.trainable_parameters()
    records: list[StepRecord] = []
    model.train()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=options.iterations, initial=start, desc="train onenip", unit="step", leave=False)
    for step in range(start, options.iterations):
        lr = options.lr * (0.1 if step >= options.lr_drop_at * options.iterations else 1.0)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, record = train_step(model, feats, sampler, step, options)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, options.clip_norm)
        optimizer.step()
        records.append(record)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(mse=f"{record.mse:.4f}", dice=f"{record.dice:.3f}", peak=f"{record.peak:.2f}", lr=f"{lr:.1e}")
        if on_checkpoint is not None and (step + 1) % options.checkpoint_every == 0 and step + 1 < options.iterations:
            on_checkpoint(step + 1)
    if bar is not None:
        bar.close()
    model.eval()
    return records


@torch.no_grad()
def measure_fusion_scale(model: OneNip, images: np.ndarray, chooser: PromptChooser, batch: int = 8) -> float:
    """c over the rec maps of good ``images``, each with the prompt ``chooser`` gives it."""
    model.eval()
    lo, hi = float("inf"), float("-inf")
    for i in range(0, len(images), batch):
        chunk = images[i : i + batch]
        out = model(to_model_input(chunk), to_model_input(chooser.prompts(chunk)))
        lo, hi = min(lo, float(out.rec_map.min())), max(hi, float(out.rec_map.max()))
    return fusion_scale(torch.tensor([lo, hi]))


def build_config(args: argparse.Namespace, image_size: int) -> OneNipConfig:
    """Architecture from the command line."""
    if image_size % STRIDE:
        msg = f"onenip: the input side ({image_size}) must be a multiple of {STRIDE}"
        raise ValueError(msg)
    if args.backbone == "efficientnet-b4" and args.backbone_weights in (None, "", "none"):
        msg = ("onenip: --backbone efficientnet-b4 needs --backbone-weights FILE (e.g. the ImageNet "
               "efficientnet-b4-6ed6700e.pth, EfficientNet-PyTorch layout); without weights use --backbone conv")
        raise ValueError(msg)
    backbone = BackboneConfig(kind=args.backbone)
    return OneNipConfig(backbone=backbone, image_size=image_size, hidden_dim=args.hidden_dim, heads=args.heads,
                        ffn_dim=args.ffn_dim, encoder_layers=args.encoder_layers,
                        decoder_layers=args.decoder_layers, decoder=args.decoder)


def prepare_backbone(model: OneNip, args: argparse.Namespace, images: np.ndarray) -> dict:
    """Load the EfficientNet weights, or standardise the conv backbone on the training images."""
    if model.config.backbone.kind == "efficientnet-b4":
        load_efficientnet_weights(model.backbone, args.backbone_weights)
        model.config.backbone.weights = str(args.backbone_weights)
        return {"method": "pretrained", "weights": str(args.backbone_weights)}
    assert isinstance(model.backbone, ConvBackbone)
    step = max(1, len(images) // 64)  # a spread of images: per-channel moments, bounded memory
    model.backbone.standardise(to_model_input(images[::step][:64]))
    model.config.backbone.weights = "standardised"
    return {"method": "conv-standardised", "images": int(min(64, len(images[::step])))}


def train(job: TrainJob) -> Trained:
    """``train --arch onenip``."""
    args = job.args
    g = job.geometry
    if g.crop_height != g.crop_width:
        msg = f"onenip: square inputs only (got {g.crop_height}x{g.crop_width})"
        raise ValueError(msg)
    options = TrainOptions(iterations=args.iterations, batch=args.batch, lr=args.lr, seed=args.seed,
                           checkpoint_every=args.checkpoint_every)
    recipe = RecipeConfig(prompt_selection=args.prompt_selection, pool_size=args.pool_size)
    names = list(job.train_paths)
    paths = [p for name in names for p in job.train_paths[name]]
    category_of = np.array([i for i, name in enumerate(names) for _ in job.train_paths[name]])
    t0 = time.monotonic()
    images = load_images(paths, g)
    config = build_config(args, g.crop_height)
    torch.manual_seed(options.seed)
    model = OneNip(config)
    backbone_prep = prepare_backbone(model, args, images)
    model.reset_trainable()
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=options.lr, betas=(0.9, 0.999),
                                  weight_decay=options.weight_decay)
    start = 0
    if args.resume and (job.partial / CHECKPOINT_FILE).is_file():
        ckpt = load_checkpoint(job.partial)
        model.load_state_dict(ckpt["state_dict"], strict=True)
        optimizer.load_state_dict(ckpt["optimizer"])
        start = int(ckpt["step"])
        print(f"train: resuming {job.partial} at step {start}", file=sys.stderr)
    feats = cache_features(model, images)
    textures = TextureSource(procedural=True, folder=args.textures)
    sampler = Sampler(images, category_of, textures, SyntheticOptions(), options.seed)
    t_prep = time.monotonic() - t0

    def checkpoint(step: int) -> None:
        save_checkpoint(job.partial, model.state_dict(), step=step, optimizer=optimizer.state_dict())

    records = train_steps(model, feats, sampler, options, optimizer, start, checkpoint)
    health = refiner_health(records, options.lr)
    if "warning" in health:
        print(f"train: {health['warning']}", file=sys.stderr)
    losses = [r.loss for r in records]
    prompts = prompt_record(job.train_paths, recipe.pool_size)
    chooser = PromptChooser(model, load_images([Path(p) for p in recorded_prompts(prompts, recipe.prompt_selection)], g))
    calib = load_images(job.calib_paths, g) if job.calib_paths else images
    recipe.fusion_scale = measure_fusion_scale(model, calib, chooser)
    elapsed = time.monotonic() - t0
    run_config = RunConfig(
        model=config, geometry=g, recipe=recipe,
        data=job.data_record(train_images=len(paths), prompts=prompts),
        training={
            **asdict(options),
            "backbone": backbone_prep,
            "textures": textures.describe(),
            "fusion_scale_from": f"{len(calib)} {'held-out good' if job.calib_paths else 'training'} images",
            "loss_first": losses[0] if losses else None,
            "loss_last": float(np.mean(losses[-20:])) if losses else None,
            "refiner": health,
            "threads": args.threads,
            "seconds_prepare": round(t_prep, 1),
            "seconds_total": round(elapsed, 1),
            "command": "python3 -m trainer " + " ".join(sys.argv[1:]),
        },
        architecture="onenip",
        version=args.version,
    )
    return Trained(run_config, model.state_dict(), options.iterations)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``train --arch onenip``."""
    d, m, r = TrainOptions(), OneNipConfig(), RecipeConfig()
    parser.add_argument("--backbone", default="conv", choices=BACKBONES,
                        help="conv: random conv stages standardised on the training images (no weights needed; "
                             "default); efficientnet-b4: the authors', needs --backbone-weights")
    parser.add_argument("--backbone-weights", default="none",
                        help="EfficientNet-B4 weights file in the EfficientNet-PyTorch layout (never downloaded)")
    parser.add_argument("--hidden-dim", type=int, default=m.hidden_dim, help=f"token width ({m.hidden_dim})")
    parser.add_argument("--heads", type=int, default=m.heads, help=f"attention heads ({m.heads})")
    parser.add_argument("--ffn-dim", type=int, default=m.ffn_dim, help=f"feed-forward width ({m.ffn_dim})")
    parser.add_argument("--encoder-layers", type=int, default=m.encoder_layers, help=f"({m.encoder_layers})")
    parser.add_argument("--decoder-layers", type=int, default=m.decoder_layers, help=f"({m.decoder_layers})")
    parser.add_argument("--decoder", default=m.decoder, choices=DECODERS, help="v2 (e93dec5, default) or v1")
    parser.add_argument("--iterations", type=int, default=d.iterations, help=f"optimiser steps ({d.iterations})")
    parser.add_argument("--batch", type=int, default=d.batch, help=f"good images per step, each with a twin ({d.batch})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"AdamW learning rate ({d.lr})")
    parser.add_argument("--textures", default=None,
                        help="folder of texture images for the Perlin anomalies (e.g. DTD); procedural ones always")
    parser.add_argument("--prompt-selection", default=r.prompt_selection, choices=SELECTIONS,
                        help="how eval and the bundle choose prompts (recipe: one per category)")
    parser.add_argument("--pool-size", type=int, default=r.pool_size, help=f"cosine-pool: images per pool ({r.pool_size})")
