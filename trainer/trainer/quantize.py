"""``export --int8``: post-training static quantization of an exported graph (ONNX Runtime, QDQ).

What runs in int8: the products with weights — MatMul, Gemm and Conv whose second input is a
constant — inside the family's network, which its :class:`~trainer.registry.ExportSpec` names by
node-name prefix (``int8_scope``; INP-Former: ``/model/``, the traced ``self.model``; a family
without one is refused).
Weights are int8, symmetric, one scale per output channel; activations uint8 with a zero point,
one scale per tensor, ranges by MinMax over calibration images. ONNX Runtime's CPU provider fuses
each DequantizeLinear → MatMul pair into MatMulIntegerToFloat (an integer GEMM with its float
output, VNNI where the CPU has it) and each Q/DQ → Conv → Q into QLinearConv; a MatMul's output
is left unquantized so that the float bias, residual and LayerNorm after it read it directly.

What stays float, and why (the manifest lists it by op type): LayerNormalization (its statistics
over a few outlier channels are what a per-tensor int8 scale loses), Softmax, GELU and the
residual adds (cheap, and where a per-tensor scale would clip), the attention's products of two
activations (q·kᵀ and attention·v: neither side has a fixed range; ranges taken on good images
would clip the very tokens a defect changes), and everything outside the network: the map recipe
(the cosine between encoder and decoder features, the resizes, the gaussian, top-k) and the
input normalisation.

Refusal. A one-class model's calibration images are all good, so "I-AUROC on the calibration
data" is measured on a labelled set made from them: the quantizer fits its ranges on one half
(even positions), and the other half is scored as it is (good) and with synthetic anomalies
(anomalies.py: Perlin-shaped regions of procedural texture, small — 0.1–3 % of the image — and
partly transparent), by the fp32 graph and the int8 graph in ONNX Runtime. The two figures come
from the very same images, so their difference is exactly the net share of (good, anomalous)
pairs whose order int8 reverses: no sampling noise between the two sides. The bundle is refused
when int8's figure falls more than ``margin_pt`` below fp32's (default 0.5 pt, the accuracy the
INT8 export is asked to keep on MVTec bottle: a smaller drop than the spread between training
seeds, and a larger one than ranking noise on a few hundred pairs). What the check cannot know is how real defects
differ from synthetic ones; ``linewatch eval`` on a labelled set is the figure to publish.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .anomalies import AnomalyOptions, TextureSource, pseudo_anomaly
from .evaluate import auroc
from .registry import ExportSpec

#: Ops that run in int8 when their second input (the weights) is a constant.
WEIGHTED_OPS = ("MatMul", "Gemm", "Conv")
#: Ops named in the manifest's record of what stayed float (the rest are shape plumbing).
RECORDED_FLOAT_OPS = (
    "LayerNormalization", "Softmax", "MatMul", "Gemm", "Conv", "Erf", "Gelu", "Add", "Mul", "Div",
    "ReduceL2", "ReduceSum", "ReduceMean", "Sqrt", "Resize", "TopK", "MaxPool", "AveragePool", "Relu",
    "Sigmoid", "Exp", "Pow",
)
#: The synthetic anomalies of the check: small and partly transparent, like the defects a line
#: looks for (DRAEM's own draws cover up to half the image and would all be trivially found).
#: Finer lattices (4–32 cells) and a higher noise threshold make small blobs the common draw, so
#: the coverage bound is met within the attempts at 224–392 px (DRAEM's 1–32 cells at 0.5 missed
#: it once in 40 images there).
CHECK_ANOMALIES = AnomalyOptions(coverage=(0.001, 0.03), beta_max=0.8, threshold=0.6, scale_exponents=(2, 5),
                                 attempts=256)
#: golden.json's tolerance for an int8 graph: ONNX Runtime builds differ in how they fuse and
#: round the requantisation, so outputs agree to about one activation step, not to 1e-4.
GOLDEN_TOLERANCE = 1e-2


class Int8Refused(ValueError):
    """The int8 graph ranks the check set worse than fp32 by more than the margin."""


@dataclass(frozen=True)
class Int8Options:
    """How ``export --int8`` quantizes and checks."""

    margin_pt: float = 0.5
    """Refuse when int8's I-AUROC on the check set is more than this many points below fp32's."""
    per_channel: bool = True
    """One weight scale per output channel (per tensor loses the small channels' precision)."""
    anomalies_per_image: int = 4
    """Synthetic anomalous versions of each held-out good image in the check set."""
    seed: int = 0
    """Seed of the synthetic anomalies (the check set is the same on every export)."""
    min_images: int = 8
    """Fewest calibration images: half fit the ranges, half check."""


@dataclass
class Int8Plan:
    """Which nodes of the fp32 graph are quantized, and what stays float (counted by op type)."""

    nodes: list[str]
    quantized: dict[str, int]
    float_network: dict[str, int]
    float_outside: dict[str, int]

    def record(self) -> dict[str, Any]:
        """The manifest's account of the split (``metrics.exportParity.int8``)."""
        return {
            "quantized": self.quantized,
            "keptFloat": {
                "network": self.float_network,
                "outsideNetwork": self.float_outside,
                "note": "network MatMul/Conv kept float are products of two activations (attention); "
                "outside the network: input normalisation and the map recipe (cosine, resizes, "
                "gaussian, top-k)",
            },
        }


def plan(model: Any, scope: Sequence[str]) -> Int8Plan:
    """Split an ONNX ``ModelProto``'s nodes: weighted products inside ``scope`` are quantized."""
    constants = {i.name for i in model.graph.initializer}
    constants |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    nodes: list[str] = []
    quantized: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    for n in model.graph.node:
        in_scope = any(n.name.startswith(p) for p in scope)
        if in_scope and n.op_type in WEIGHTED_OPS and len(n.input) > 1 and n.input[1] in constants:
            nodes.append(n.name)
            quantized[n.op_type] += 1
        elif n.op_type in RECORDED_FLOAT_OPS:
            (inside if in_scope else outside)[n.op_type] += 1
    if not nodes:
        msg = f"--int8: no MatMul/Gemm/Conv with constant weights under {', '.join(scope)} in the graph"
        raise ValueError(msg)
    return Int8Plan(nodes, dict(quantized), dict(inside), dict(outside))


def split(images: np.ndarray, options: Int8Options) -> tuple[np.ndarray, np.ndarray]:
    """(images the quantizer fits its ranges on, held-out images the check scores): even and odd positions."""
    if len(images) < options.min_images:
        msg = (f"--int8 needs at least {options.min_images} calibration images (half fit the int8 ranges, "
               f"half check the result), got {len(images)}")
        raise ValueError(msg)
    return images[0::2], images[1::2]


def quantize_file(src: Path, dst: Path, spec: ExportSpec, fit_images: np.ndarray, options: Int8Options) -> Int8Plan:
    """Write the QDQ int8 version of the fp32 graph ``src`` to ``dst``; returns what was quantized."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    if spec.int8_scope is None:
        msg = "--int8: this model family does not say which part of its graph may run in int8"
        raise ValueError(msg)
    p = plan(onnx.load(str(src)), spec.int8_scope)

    class Feeds(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = (spec.inputs_for(fit_images[i : i + 1]) for i in range(len(fit_images)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    # The quantizer logs a recommendation to run its shape pre-processing: the traced graph's
    # shapes are already inferred, and pre-processing would rename the nodes the plan chose.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_static(
            str(src), str(dst), Feeds(),
            quant_format=QuantFormat.QDQ,
            per_channel=options.per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=list(WEIGHTED_OPS),
            nodes_to_quantize=p.nodes,
            extra_options={"MatMulConstBOnly": True, "OpTypesToExcludeOutputQuantization": ["MatMul", "Gemm"]},
        )
    finally:
        root.setLevel(level)
    return p


Runner = Callable[[Path, dict[str, np.ndarray]], dict[str, np.ndarray]]


def final_outputs(run: Runner, path: Path, spec: ExportSpec, images: np.ndarray, batch: int | str,
                  chunk: int = 8) -> dict[str, np.ndarray]:
    """The graph's outputs in ONNX Runtime plus ``final_map``/``final_score`` (``spec.finish``),
    in chunks of the graph's fixed batch (the last one padded) or of ``chunk`` for a dynamic one."""
    step = chunk if batch == "dynamic" else int(batch)
    outs: dict[str, list[np.ndarray]] = {}
    for i in range(0, len(images), step):
        part = images[i : i + step]
        n = len(part)
        if n < step and batch != "dynamic":
            part = np.concatenate([part, np.repeat(part[-1:], step - n, axis=0)])
        got = {k: v[:n] for k, v in run(path, spec.inputs_for(part)).items()}
        fm, fs = spec.finish({k: torch.from_numpy(v) for k, v in got.items()})
        got["final_map"], got["final_score"] = fm.numpy(), fs.numpy()
        for k, v in got.items():
            outs.setdefault(k, []).append(np.asarray(v, dtype=np.float32))
    return {k: np.concatenate(v) for k, v in outs.items()}


def check_set(good: np.ndarray, options: Int8Options) -> tuple[np.ndarray, np.ndarray]:
    """The held-out good images and ``anomalies_per_image`` synthetic anomalies drawn on each:
    (images, labels 0/1). Anomaly j of image i has its own generator (seed, i, j)."""
    textures = TextureSource(procedural=True)
    bad = []
    for i, img in enumerate(good):
        for j in range(options.anomalies_per_image):
            rng = np.random.default_rng([options.seed, i, j])
            bad.append(pseudo_anomaly(img, rng, textures, CHECK_ANOMALIES)[0])
    images = np.concatenate([good, np.stack(bad)]) if bad else good
    labels = np.array([0] * len(good) + [1] * len(bad))
    return images, labels


@dataclass
class CheckResult:
    """fp32 and int8 on the check set."""

    auroc_fp32: float
    auroc_int8: float
    n_good: int
    n_anomalous: int
    pairs_reversed: int
    score_correlation: float
    max_abs_diff_score: float
    margin_pt: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """int8 within the margin of fp32."""
        return 100.0 * (self.auroc_fp32 - self.auroc_int8) <= self.margin_pt + 1e-9

    def record(self) -> dict[str, Any]:
        """``metrics.exportParity.int8.check``."""
        return {
            "set": f"{self.n_good} held-out good calibration images and {self.n_anomalous} synthetic anomalies "
            "drawn on them (anomalies.py: Perlin regions of 0.1–3 % of the image, procedural textures, "
            "β ~ U[0, 0.8))",
            "iAurocFp32": self.auroc_fp32,
            "iAurocInt8": self.auroc_int8,
            "marginPt": self.margin_pt,
            "pairsReversed": self.pairs_reversed,
            "pairs": self.n_good * self.n_anomalous,
            "scoreCorrelation": self.score_correlation,
            "maxAbsDiffScore": self.max_abs_diff_score,
            "passed": self.passed,
            **self.extra,
        }


def reversed_pairs(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> int:
    """(good, anomalous) pairs ranked correctly by scores ``a`` and wrongly by ``b`` (ties count half-wrong)."""
    good, bad = labels == 0, labels == 1
    ok_a = np.sign(a[bad][None, :] - a[good][:, None])
    ok_b = np.sign(b[bad][None, :] - b[good][:, None])
    return int(((ok_a > 0) & (ok_b <= 0)).sum())


def check(labels: np.ndarray, fp32_scores: np.ndarray, int8_scores: np.ndarray, options: Int8Options) -> CheckResult:
    """Compare the two graphs' scores on the check set (see the module docstring)."""
    return CheckResult(
        auroc_fp32=auroc(labels, fp32_scores),
        auroc_int8=auroc(labels, int8_scores),
        n_good=int((labels == 0).sum()),
        n_anomalous=int((labels == 1).sum()),
        pairs_reversed=reversed_pairs(labels, fp32_scores, int8_scores),
        score_correlation=float(np.corrcoef(fp32_scores, int8_scores)[0, 1]),
        max_abs_diff_score=float(np.abs(fp32_scores - int8_scores).max()),
        margin_pt=options.margin_pt,
    )


def ort_runner(threads: int) -> Runner:
    """A :data:`Runner` on ONNX Runtime's CPU provider, one session per file, kept for the export."""
    import onnxruntime as ort

    sessions: dict[Path, Any] = {}

    def run(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if path not in sessions:
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            sessions[path] = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        sess = sessions[path]
        names = [o.name for o in sess.get_outputs()]
        feed = {k: np.ascontiguousarray(v, dtype=np.float32 if v.dtype.kind == "f" else np.uint8)
                for k, v in feeds.items()}
        return dict(zip(names, sess.run(names, feed), strict=True))

    return run


@dataclass
class Int8Export:
    """What ``export --int8`` did: the split, the check, and the int8 graph's own figures."""

    plan: Int8Plan
    check: CheckResult
    seconds: float
    calib_scores: np.ndarray
    """The int8 graph's final scores ``[n]`` on every calibration image (the threshold's input)."""
    calib_maps: np.ndarray
    """Its final maps ``[n, H, W]`` on them."""
    golden_diff: dict[str, float] = field(default_factory=dict)
    """Largest |int8 − PyTorch fp32| per graph output on the golden cases."""

    def record(self) -> dict[str, Any]:
        """``metrics.exportParity.int8``."""
        return {
            "method": "onnxruntime.quantization static, QDQ: weights int8 symmetric per channel, "
            "activations uint8 per tensor (MinMax over half the calibration images)",
            **self.plan.record(),
            "check": self.check.record(),
            "maxAbsDiffFromFp32": self.golden_diff,
            "seconds": round(self.seconds, 1),
        }


def export_int8(run: Runner, src: Path, dst: Path, spec: ExportSpec, calib_images: np.ndarray,
                batch: int | str, options: Int8Options, bundle: str,
                say: Callable[[str], None]) -> Int8Export:
    """Quantize the fp32 graph ``src`` into ``dst`` and check it (module docstring); raises
    :class:`Int8Refused`, naming ``bundle`` and the points lost, when int8 ranks the check set
    worse than fp32 by more than ``options.margin_pt``."""
    t0 = time.perf_counter()
    fit, held = split(calib_images, options)
    say(f"quantizing to int8 (static QDQ, activation ranges from {len(fit)} calibration images)")
    p = quantize_file(src, dst, spec, fit, options)
    images, labels = check_set(held, options)
    say(f"checking int8 against fp32 on {len(held)} held-out good images and {int(labels.sum())} synthetic anomalies")
    result = check(labels, final_outputs(run, src, spec, images, batch)["final_score"],
                   final_outputs(run, dst, spec, images, batch)["final_score"], options)
    if not result.passed:
        lost = 100.0 * (result.auroc_fp32 - result.auroc_int8)
        msg = (f"{bundle}: int8 refused: it loses {lost:.2f} pt of I-AUROC against fp32 on the check set "
               f"({100 * result.auroc_int8:.2f} vs {100 * result.auroc_fp32:.2f}; {result.pairs_reversed} of "
               f"{result.n_good * result.n_anomalous} good/anomalous pairs reversed), more than the "
               f"{options.margin_pt:g} pt allowed (--int8-margin); nothing written. Export fp32, or try more "
               "or more varied --calib-data")
        raise Int8Refused(msg)
    say(f"int8 kept {100 * result.auroc_int8:.2f} vs fp32 {100 * result.auroc_fp32:.2f} I-AUROC on the check set; "
        "scoring the calibration images with the int8 graph")
    out = final_outputs(run, dst, spec, calib_images, batch)
    return Int8Export(p, result, time.perf_counter() - t0, out["final_score"], out["final_map"][:, 0])
