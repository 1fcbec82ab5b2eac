"""What a threshold does on a line: escapes and false rejects, in plain words.

``eval`` and ``export`` print this at the threshold the bundle is (or would be) calibrated with,
and warn when escapes are high. A threshold from good images alone (export's 1.05 × p99.5) keeps
false rejects down but says nothing about defects: on the issue's real sets 96–100 % of defective
parts passed it. The same rule and wording are in the runtime (src/eval/line-check.ts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Above this share of defective parts passing, say so loudly (the same in src/eval/line-check.ts).
HIGH_ESCAPE_RATE = 0.05

#: The command the warning points to (README: "First day on a real line").
CALIBRATE_HINT = ("linewatch calibrate --model BUNDLE --good GOOD_DIR --defective DEFECT_DIR "
                  "--target-escape-rate 0.01 --write")


@dataclass(frozen=True)
class LineCheck:
    """Confusion at one image threshold (reject when score ≥ threshold)."""

    threshold: float
    rule: str
    """How the threshold was set, for the reader."""
    good: int
    false_rejects: int
    defective: int
    escapes: int

    @property
    def escape_rate(self) -> float | None:
        """Share of defective parts that pass; ``None`` without defective parts."""
        return self.escapes / self.defective if self.defective else None

    @property
    def false_reject_rate(self) -> float | None:
        """Share of good parts rejected; ``None`` without good parts."""
        return self.false_rejects / self.good if self.good else None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (the manifest's ``metrics.lineCheck``)."""
        return {"threshold": self.threshold, "rule": self.rule, "good": self.good, "falseRejects": self.false_rejects,
                "defective": self.defective, "escapes": self.escapes}


def check(good: Sequence[float] | np.ndarray, defective: Sequence[float] | np.ndarray, threshold: float,
          rule: str) -> LineCheck:
    """Counts at ``threshold`` over good and defective image scores."""
    g = np.asarray(good, dtype=np.float64)
    d = np.asarray(defective, dtype=np.float64)
    return LineCheck(threshold, rule, int(g.size), int((g >= threshold).sum()), int(d.size), int((d < threshold).sum()))


def _pct(n: int, of: int) -> str:
    return f"{100 * n / of:.1f} %" if of else "–"


def report(c: LineCheck) -> list[str]:
    """One line with the counts; a warning and the remedy when escapes are high."""
    lines = [
        f"at the image threshold {c.threshold:.5g} ({c.rule}): {c.escapes} of {c.defective} defective parts pass "
        f"(escapes {_pct(c.escapes, c.defective)}), {c.false_rejects} of {c.good} good parts are rejected "
        f"(false rejects {_pct(c.false_rejects, c.good)})"
    ]
    rate = c.escape_rate
    if rate is not None and rate > HIGH_ESCAPE_RATE:
        lines.append(
            f"WARNING: {c.escapes} of {c.defective} defective parts ({_pct(c.escapes, c.defective)}) would pass this "
            f"threshold. A threshold from good images alone says nothing about how far defects score above them: "
            f"before a line relies on it, set it with some defective samples: {CALIBRATE_HINT} "
            f"(README, 'First day on a real line')."
        )
    return lines
