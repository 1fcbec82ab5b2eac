"""The table of scripts/onenip-figures.sh: per set, OneNIP beside INP-Former, and over the seeds.

    python scripts/onenip_figures_table.py OUT 2 3 4 [bottle]

Reads OUT/<set>/{onenip,inp}.json (trainer eval --json) and the RUNs' training time and, for OneNIP,
the refiner's state at the end of training (models/onenip/health.py: its median peak on the
synthetic defects over the last steps, "collapsed" below 0.05); prints Markdown: one row per set,
model and category, then the median [min–max] over the synthetic seeds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

KEYS = ("I-AUROC", "I-AP", "I-F1max", "P-AUROC", "P-AP", "P-F1max", "AUPRO")
MODELS = (("onenip", "OneNIP"), ("inp", "INP-Former"))


def load(out: Path, name: str, model: str) -> tuple[dict, float, int, str]:
    """(eval JSON, training seconds, steps, refiner state) of one run."""
    ev = json.loads((out / name / f"{model}.json").read_text())
    cfg = json.loads((out / name / model / "config.json").read_text())
    t = cfg["training"]
    refiner = t.get("refiner") or {}
    state = "" if not refiner else f"{refiner['peak']:.2f}" + (" collapsed" if refiner["collapsed"] else "")
    return ev, float(t.get("seconds_total", float("nan"))), int(t.get("iterations", 0)), state


def main(argv: list[str]) -> None:
    """Print the tables."""
    out, sets = Path(argv[0]), argv[1:]
    seeds = [s for s in sets if s != "bottle"]
    head = "| set | model | category | " + " | ".join(KEYS) + " | steps | train s | refiner |"
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    per_seed: dict[tuple[str, str], list[list[float]]] = {}
    for s in sets:
        name = s if s == "bottle" else f"s{s}"
        for model, label in MODELS:
            ev, secs, steps, refiner = load(out, name, model)
            cats = dict(ev["categories"])
            if len(cats) > 1:
                cats["mean"] = ev["mean"]
            for cat, m in cats.items():
                vals = [100 * m[k] for k in KEYS]
                print(f"| {name} | {label} | {cat} | " + " | ".join(f"{v:.1f}" for v in vals) + f" | {steps} | {secs:.0f} | {refiner} |")
                if s != "bottle":
                    per_seed.setdefault((label, cat), []).append(vals + [secs])
    if len(seeds) > 1:
        print()
        print(f"Median [min–max] over seeds {', '.join(seeds)}:")
        print()
        print("| model | category | " + " | ".join(KEYS) + " | train s |")
        print("|" + " --- |" * (len(KEYS) + 3))
        for (label, cat), rows in per_seed.items():
            a = np.array(rows)
            cells = [f"{np.median(a[:, i]):.1f} [{a[:, i].min():.1f}–{a[:, i].max():.1f}]" for i in range(a.shape[1])]
            print(f"| {label} | {cat} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
