"""Whether OneNIP's refiner is alive at the end of training, from what each step already computes.

The authors' Dice (train.py) scores every good image against an empty mask: 1 − 1/(Σp² + 1), so a
single pixel at p = 1 costs a good image as much as a perfect twin gains. Until the refiner can tell
a synthetic defect from the reconstruction's ordinary error, the cheapest answer is p ≈ 0
everywhere (Dice 0.5: good images 0, twins 1), and AdamW, which moves each weight by about the
learning rate whatever the gradient's size, keeps pushing the logits down until the sigmoid is
flat (logits near −20) and no gradient comes back. Seen here at lr 1e-3 (ten times the authors'):
every logit about −20 after 200 steps, so the fused map was the reconstruction's alone. At the
authors' 1e-4 the same refiner, fed the same inputs, learned (pixel AUROC on held-out twins 0.65 →
0.87 in 110 steps, logits about −2).

So each step records, besides its losses, the refiner's *peak*: over the step's twins, the mean of
its highest probability inside the defect's mask. A refiner whose peak stays under
:data:`PEAK_FLOOR` over the last steps adds under 5 % of c to any defect in the fused map: training
says so (the RUN's ``training.refiner``, and a warning).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

#: Below this (median peak over the last steps) the refiner counts as collapsed.
PEAK_FLOOR = 0.05
#: How many of the last steps the verdict looks at (fewer when the run is shorter).
WINDOW = 20


class StepRecord(NamedTuple):
    """What one training step measured."""

    loss: float
    mse: float
    dice: float
    peak: float
    """Mean over the step's twins of the refiner's highest probability inside the twin's mask."""


def refiner_peak(prob: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean over images of max(p · mask): ``prob`` and ``mask`` ``[N, 1, H, W]``, masks not empty."""
    return float((prob * mask).flatten(1).max(dim=1).values.mean())


def refiner_health(records: list[StepRecord], lr: float) -> dict[str, object]:
    """The verdict over the last :data:`WINDOW` steps: median peak and Dice, ``collapsed``, and
    ``warning`` (a sentence for the user) when it collapsed; ``{}`` when no step ran."""
    if not records:
        return {}
    last = records[-WINDOW:]
    peak = float(np.median([r.peak for r in last]))
    dice = float(np.median([r.dice for r in last]))
    out: dict[str, object] = {"steps": len(last), "peak": round(peak, 4), "dice": round(dice, 4),
                              "collapsed": peak < PEAK_FLOOR}
    if peak < PEAK_FLOOR:
        out["warning"] = (
            f"onenip: the refiner collapsed: over the last {len(last)} steps its highest probability on the "
            f"synthetic defects was {peak:.3g} (median; Dice {dice:.3f}), so the fused map is the reconstruction's "
            f"alone. The learning rate ({lr:g}) may be too high for it (the authors' is 1e-4) or the training too "
            "short for the reconstruction to show the defects.")
    return out
