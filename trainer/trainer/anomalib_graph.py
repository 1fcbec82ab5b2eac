"""Reading an ONNX file exported by anomalib 2.x: its post-processor, what it does, the graph without it.

anomalib 2.x exports the whole ``AnomalibModule``: ``pre_processor`` (resize, ImageNet mean/std) →
``model`` (the raw anomaly map and score) → ``post_processor``, which bakes the thresholds and the
min/max normalisation learnt at fit time into the graph: ``clamp((raw − threshold) / (max − min)
+ 0.5, 0, 1)`` for ``pred_score`` and ``anomaly_map``, and ``pred_label``/``pred_mask`` = normalised
value > 1 − sensitivity. Each node says which module it came from: the dynamo exporter (anomalib ≥
2.7) in the metadata ``pkg.torch.onnx.name_scopes`` (``['', 'post_processor', …]``), the older
TorchScript exporter in the node name (``/post_processor/…``).

:func:`split` finds the tensors that enter the post-processor (the raw map and score);
:func:`cut` keeps only what computes them; :func:`probe` recovers the post-processor's constants
by running it alone in ONNX Runtime on chosen raw values, whatever form the constants took in the
graph (initialisers, folded expressions), and checks that it is that clamp of an affine map.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SCOPE_KEY = "pkg.torch.onnx.name_scopes"
POST, PRE = "post_processor", "pre_processor"
MAP_OUT, SCORE_OUT, LABEL_OUT, MASK_OUT = "anomaly_map", "pred_score", "pred_label", "pred_mask"


def module_of(node: onnx.NodeProto) -> str:
    """The top-level module a node was traced from ('' when unknown)."""
    for prop in node.metadata_props:
        if prop.key == SCOPE_KEY:
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return ""
            return str(scopes[1]) if len(scopes) > 1 else ""
    parts = node.name.split("/")
    return parts[1] if node.name.startswith("/") and len(parts) > 2 else ""


@dataclass
class Split:
    """Where the post-processor starts."""

    raw_map: str
    """The tensor the post-processor normalises into ``anomaly_map``."""
    raw_score: str
    """The tensor it normalises into ``pred_score``."""
    post: list[onnx.NodeProto]
    has_pre_processor: bool


def split(model: onnx.ModelProto, path: Path) -> Split:
    """The raw map and score entering the post-processor; errors name the file and what is missing."""
    g = model.graph
    outputs = [o.name for o in g.output]
    for name in (MAP_OUT, SCORE_OUT):
        if name not in outputs:
            msg = f"{path}: no output {name!r} (outputs: {', '.join(outputs)}); not an anomalib 2.x export"
            raise ValueError(msg)
    post = [n for n in g.node if module_of(n) == POST]
    if not post:
        msg = (f"{path}: no post_processor nodes: the thresholds and normalisation are not in the graph "
               "(exported with post_processor=False?); give them with --metadata or calibrate with --calib-data")
        raise ValueError(msg)
    inside = {o for n in post for o in n.output}
    constants = {i.name for i in g.initializer} | {o for n in g.node if n.op_type == "Constant" for o in n.output}
    producer = {o: n for n in post for o in n.output}

    def feeds_of(tensor: str) -> set[str]:
        found, stack, seen = set(), [tensor], set()
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            node = producer.get(t)
            if node is None:
                if t and t not in constants:
                    found.add(t)
                continue
            stack.extend(node.input)
        return found - inside

    raws = {}
    for name in (MAP_OUT, SCORE_OUT):
        feeds = feeds_of(name)
        if len(feeds) != 1:
            found = sorted(feeds) or "nothing"
            msg = f"{path}: {name!r} is computed by the post-processor from {found}, expected one tensor"
            raise ValueError(msg)
        raws[name] = feeds.pop()
    return Split(raws[MAP_OUT], raws[SCORE_OUT], post, any(module_of(n) == PRE for n in g.node))


def _used_initialisers(g: onnx.GraphProto, nodes: list[onnx.NodeProto]) -> list[onnx.TensorProto]:
    used = {t for n in nodes for t in n.input}
    return [i for i in g.initializer if i.name in used]


def cut(model: onnx.ModelProto, s: Split, map_name: str, score_name: str) -> onnx.ModelProto:
    """The graph up to the raw map and score, emitted as ``map_name`` ``[N,1,H,W]`` and ``score_name`` ``[N]``."""
    g = model.graph
    need, keep = {s.raw_map, s.raw_score}, []
    for node in reversed(g.node):
        if any(o in need for o in node.output):
            keep.append(node)
            need.update(node.input)
    keep.reverse()
    taken = {i.name for i in g.initializer} | {t for n in g.node for t in (*n.input, *n.output)}
    flat_name = "lw_flat_shape"
    while flat_name in taken:
        flat_name += "_"
    flat = numpy_helper.from_array(np.array([-1], dtype=np.int64), flat_name)
    nodes = [*keep, helper.make_node("Identity", [s.raw_map], [map_name], name="lw_raw_map"),
             helper.make_node("Reshape", [s.raw_score, flat.name], [score_name], name="lw_raw_score")]
    map_dims = next(o for o in g.output if o.name == MAP_OUT).type.tensor_type.shape.dim
    batch = next(o for o in g.output if o.name == SCORE_OUT).type.tensor_type.shape.dim[0]
    outputs = [
        helper.make_tensor_value_info(map_name, TensorProto.FLOAT, [d.dim_param or d.dim_value for d in map_dims]),
        helper.make_tensor_value_info(score_name, TensorProto.FLOAT, [batch.dim_param or batch.dim_value]),
    ]
    graph = helper.make_graph(nodes, g.name or "anomalib", list(g.input), outputs,
                              [*_used_initialisers(g, keep), flat])
    out = helper.make_model(graph, opset_imports=list(model.opset_import), producer_name=model.producer_name,
                            producer_version=model.producer_version)
    out.ir_version = model.ir_version
    onnx.checker.check_model(out)
    return out


@dataclass
class Normalisation:
    """One of the post-processor's clamp((raw − threshold) / range + 0.5, 0, 1), and its decision."""

    threshold: float
    range: float
    normalized_threshold: float | None
    """The normalised value above which anomalib says anomalous (1 − sensitivity), None without one."""
    max_abs_error: float
    """Largest |post-processor − the clamp above| over the probed raw values."""

    @property
    def decision(self) -> float:
        """The raw value at anomalib's decision boundary."""
        c = 0.5 if self.normalized_threshold is None else self.normalized_threshold
        return self.threshold + (c - 0.5) * self.range

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """What the post-processor makes of ``raw``."""
        return np.clip((raw.astype(np.float64) - self.threshold) / self.range + 0.5, 0.0, 1.0)


def _post_session(model: onnx.ModelProto, s: Split):  # noqa: ANN202 - an onnxruntime session
    import onnxruntime as ort

    g = model.graph
    outs = [o for o in g.output if o.name in {MAP_OUT, SCORE_OUT, LABEL_OUT, MASK_OUT}]
    inputs = [helper.make_tensor_value_info(s.raw_map, TensorProto.FLOAT, None),
              helper.make_tensor_value_info(s.raw_score, TensorProto.FLOAT, None)]
    produced = {o for n in s.post for o in n.output}
    extra_inputs = {t for n in s.post for t in n.input if t and t not in produced} - {s.raw_map, s.raw_score}
    extra_inputs -= {i.name for i in g.initializer}
    if extra_inputs:
        msg = f"the post-processor reads {sorted(extra_inputs)} besides the raw map and score"
        raise ValueError(msg)
    graph = helper.make_graph(
        s.post, "post_processor", inputs,
        [helper.make_tensor_value_info(o.name, o.type.tensor_type.elem_type, None) for o in outs],
        _used_initialisers(g, s.post),
    )
    m = helper.make_model(graph, opset_imports=list(model.opset_import))
    m.ir_version = model.ir_version
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


def _run(sess, s: Split, xs: np.ndarray) -> dict[str, np.ndarray]:  # noqa: ANN001
    x = xs.astype(np.float32)
    res = sess.run(None, {s.raw_map: x.reshape(1, 1, 1, -1), s.raw_score: x.reshape(-1, 1)})
    return {o.name: r.reshape(-1) for o, r in zip(sess.get_outputs(), res, strict=True)}


def _fit(xs: np.ndarray, ys: np.ndarray, what: str) -> tuple[float, float]:
    lin = (ys > 1e-3) & (ys < 1 - 1e-3)
    if lin.sum() < 3:
        msg = f"the post-processor's {what} is not a clamped affine map of the raw value (no normalisation baked in?)"
        raise ValueError(msg)
    a, b = np.polyfit(xs[lin].astype(np.float64), ys[lin].astype(np.float64), 1)
    return float((0.5 - b) / a), float(1.0 / a)


def _boundary(sess, s: Split, lo: float, hi: float, value: str, label: str) -> float | None:  # noqa: ANN001
    """The normalised value where ``label`` turns true, bracketed twice on a grid of 4001 raw values."""
    for _ in range(2):
        xs = np.linspace(lo, hi, 4001)
        r = _run(sess, s, xs)
        flips = np.flatnonzero(r[label].astype(bool))
        if len(flips) == 0 or flips[0] == 0:
            return None
        i = int(flips[0])
        lo, hi = float(xs[i - 1]), float(xs[i])
    r = _run(sess, s, np.array([lo, hi]))
    return float(r[value].astype(np.float64).mean())


def probe(model: onnx.ModelProto, s: Split) -> dict[str, Normalisation]:
    """The image (``pred_score``) and pixel (``anomaly_map``) normalisations, recovered by running them."""
    sess = _post_session(model, s)
    wide = np.concatenate([-np.logspace(9, -6, 1500), [0.0], np.logspace(-6, 9, 1500)])
    labels = {SCORE_OUT: LABEL_OUT, MAP_OUT: MASK_OUT}
    out = {}
    for name in (SCORE_OUT, MAP_OUT):
        t, r = _fit(wide, _run(sess, s, wide)[name], name)
        fine = np.linspace(t - r, t + r, 4001)
        t, r = _fit(fine, _run(sess, s, fine)[name], name)
        t, r = float(np.float32(t)), float(np.float32(r))  # the graph's constants are float32: the fit lands on them
        xs = np.concatenate([wide, np.linspace(t - 2 * r, t + 2 * r, 4001)])
        got = _run(sess, s, xs)
        want = np.clip((xs.astype(np.float32).astype(np.float64) - t) / r + 0.5, 0, 1)
        err = float(np.abs(got[name] - want).max())
        if err > 1e-5:
            msg = f"the post-processor's {name} is not clamp((raw - threshold) / range + 0.5, 0, 1) (off by {err:.3g})"
            raise ValueError(msg)
        c = _boundary(sess, s, t - r, t + r, name, labels[name]) if labels[name] in got else None
        if c is not None and abs(c - 0.5) < 1e-6:
            c = 0.5
        out[name] = Normalisation(t, r, c, err)
    return out
