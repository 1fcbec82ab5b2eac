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

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

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

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_model_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 NHWC RGB → normalised float NCHW (ImageNet mean/std), what ``InpFormer.forward`` takes."""
    x = torch.as_tensor(images).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


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


def reconstruct(model: nn.Module, tokens: torch.Tensor, grid: tuple[int, int]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Extractor → bottleneck → decoder from cached tokens: ``InpFormer.forward`` after the encoder.

    Returns the decoder groups ([B, D, h, w] each) and the prototypes [B, M, D].
    """
    b = tokens.shape[0]
    protos = model.prototype_token.unsqueeze(0).expand(b, -1, -1)
    for blk in model.aggregation:
        protos = blk(protos, tokens)
    y = tokens
    for blk in model.bottleneck:
        y = blk(y)
    outputs = []
    for blk in model.decoder:
        y = blk(y, protos)
        outputs.append(y)
    outputs = outputs[::-1]
    groups = [model._group(outputs, idx, grid[0], grid[1]) for idx in model.config.fuse_decoder]
    return groups, protos
