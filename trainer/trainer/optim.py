"""Optimiser, schedule and seeding shared by the architectures' training loops."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

import numpy as np
import torch
from torch import nn


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
