"""``import-anomalib``: an ONNX file exported by anomalib 2.x → a linewatch bundle (architecture ``anomalib``).

anomalib bakes its thresholds and min/max normalisation into the graph (anomalib_graph.py). A
linewatch bundle keeps them in the manifest instead, so that ``linewatch calibrate`` and hot
threshold changes work: the importer cuts the graph where the post-processor starts, so the
bundle emits the raw ``anomaly_map`` ``[N,1,H,W]`` and ``score`` ``[N]``, and writes what the
post-processor did into ``calibration``. anomalib normalises exactly as linewatch does
(``clamp((raw − threshold) / (max − min) + 0.5, 0, 1)``), so with ``min``/``max`` set to the
decision threshold ∓ half anomalib's range, linewatch's ``normScore`` is anomalib's
``pred_score`` and a reject is anomalib's ``pred_label`` (at a sensitivity other than 0.5 the
threshold moves to anomalib's decision boundary and normScore is shifted by the same amount).

Before writing, both graphs run in ONNX Runtime on probe images and the bundle is refused unless
the recovered normalisation applied to the cut graph's outputs gives anomalib's outputs within 1e-5.
The input stays anomalib's: float32 NCHW RGB in [0, 1], mean/std in the graph (its pre-processor).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from . import anomalib_graph as ag
from . import calibrate as cal
from .bundle import MAP_NAME, SCORE_NAME, sha256_file, write_bundle
from .export import code_revision
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, Geometry, load_image

TOLERANCE = 1e-5
#: ``--metadata`` keys used (anomalib 1.x's metadata.json names); 2.x writes no metadata file.
METADATA_KEYS = ("image_threshold", "pixel_threshold", "image_min", "image_max", "pixel_min", "pixel_max")


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def input_spec(model: onnx.ModelProto, path: Path, size: tuple[int, int] | None) -> tuple[str, int, int, int | str]:
    """(name, height, width, batch) of the image input; ``size`` for a graph with dynamic height/width."""
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        msg = f"{path}: expected one input (the image), found {[i.name for i in inputs]}"
        raise ValueError(msg)
    inp = inputs[0]
    dims = _dims(inp)
    if len(dims) != 4 or dims[1] != 3 or inp.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        msg = f"{path}: input {inp.name!r} is {dims}, expected float32 [N, 3, H, W]"
        raise ValueError(msg)
    h, w = dims[2], dims[3]
    if not (isinstance(h, int) and h > 0 and isinstance(w, int) and w > 0):
        if size is None:
            msg = (f"{path}: input {inp.name!r} has a dynamic size {dims}: give the size anomalib was trained at, "
                   "--input-size H,W")
            raise ValueError(msg)
        h, w = size
    elif size is not None and tuple(size) != (h, w):
        msg = f"{path}: --input-size {size[0]},{size[1]} but the graph's input is fixed at {h}x{w}"
        raise ValueError(msg)
    batch = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else "dynamic"
    return inp.name, int(h), int(w), batch


def _session(model: onnx.ModelProto):  # noqa: ANN202 - an onnxruntime session
    import onnxruntime as ort

    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def probe_images(h: int, w: int, extra: np.ndarray | None) -> np.ndarray:
    """float32 NCHW in [0, 1]: two seeded smooth patterns (and ``extra`` uint8 NHWC images)."""
    rng = np.random.default_rng(7)
    low = rng.uniform(0, 1, (2, 3, 4, 4)).astype(np.float32)
    x = np.repeat(np.repeat(low, -(-h // 4), axis=2), -(-w // 4), axis=3)[:, :, :h, :w]
    x = np.clip(x + rng.normal(0, 0.05, x.shape).astype(np.float32), 0, 1)
    if extra is not None and len(extra):
        x = np.concatenate([x, extra.transpose(0, 3, 1, 2).astype(np.float32) / 255.0])
    return np.ascontiguousarray(x, dtype=np.float32)


def _run(sess, name: str, x: np.ndarray, batch: int | str) -> list[dict[str, np.ndarray]]:  # noqa: ANN001
    step = len(x) if batch == "dynamic" else int(batch)
    outs = []
    for i in range(0, len(x) - step + 1, step):
        res = sess.run(None, {name: x[i : i + step]})
        outs.append({o.name: r for o, r in zip(sess.get_outputs(), res, strict=True)})
    return outs


def check(original: onnx.ModelProto, cut: onnx.ModelProto, name: str, x: np.ndarray, batch: int | str,
          norms: dict[str, ag.Normalisation]) -> dict[str, float]:
    """|anomalib's outputs − the recovered normalisation of the cut graph's| over ``x``; refuses above 1e-5."""
    a = _run(_session(original), name, x, batch)
    b = _run(_session(cut), name, x, batch)
    score_diff = max(float(np.abs(norms[ag.SCORE_OUT].apply(o[SCORE_NAME]) - p[ag.SCORE_OUT].reshape(-1)).max())
                     for o, p in zip(b, a, strict=True))
    map_diff = max(float(np.abs(norms[ag.MAP_OUT].apply(o[MAP_NAME]) - p[ag.MAP_OUT]).max())
                   for o, p in zip(b, a, strict=True))
    if max(score_diff, map_diff) > TOLERANCE:
        msg = (f"the cut graph does not reproduce anomalib's outputs: pred_score {score_diff:.3g}, "
               f"anomaly_map {map_diff:.3g}")
        raise RuntimeError(msg)
    return {"maxAbsDiffScore": score_diff, "maxAbsDiffMap": map_diff, "images": int(len(x))}


def _band(threshold: float, rng: float) -> dict[str, float]:
    return {"threshold": threshold, "min": threshold - rng / 2, "max": threshold + rng / 2}


def recovered_calibration(norms: dict[str, ag.Normalisation], source: str) -> dict[str, Any]:
    """The manifest ``calibration`` from anomalib's post-processor."""
    img, pix = norms[ag.SCORE_OUT], norms[ag.MAP_OUT]
    method = (
        f"anomalib post-processor in {source}: normalised = clamp((raw - threshold) / (max - min) + 0.5, 0, 1) with "
        f"image threshold {img.threshold:.7g}, max - min {img.range:.7g}; pixel threshold {pix.threshold:.7g}, "
        f"max - min {pix.range:.7g}; threshold here = anomalib's decision boundary (normalised "
        f"{0.5 if img.normalized_threshold is None else img.normalized_threshold:g} = 1 - sensitivity), "
        "min/max = threshold -/+ (max - min)/2"
    )
    return {"method": method, "image": _band(img.decision, img.range), "pixel": _band(pix.decision, pix.range)}


def metadata_calibration(meta: dict[str, Any], path: Path) -> dict[str, Any]:
    """The manifest ``calibration`` from an anomalib metadata file (thresholds and min/max)."""
    missing = [k for k in METADATA_KEYS if not isinstance(meta.get(k), (int, float))]
    if missing:
        msg = f"{path}: no number for {', '.join(missing)} (the keys used: {', '.join(METADATA_KEYS)})"
        raise ValueError(msg)
    part = {p: {"threshold": float(meta[f"{p}_threshold"]), "min": float(meta[f"{p}_min"]),
                "max": float(meta[f"{p}_max"])} for p in ("image", "pixel")}
    return {"method": f"anomalib metadata {path.name}: thresholds and min/max as anomalib computed them", **part}


def import_anomalib(onnx_path: str | Path, out: str | Path, *, metadata: str | Path | None = None,
                    input_size: tuple[int, int] | None = None, calib_data: str | Path | None = None,
                    margin: float = cal.DEFAULT_MARGIN, version: str | None = None) -> dict[str, Any]:
    """Read, cut, check and write the bundle; returns the manifest."""
    path = Path(onnx_path)
    if not path.is_file():
        msg = f"{path}: ONNX file not found"
        raise FileNotFoundError(msg)
    try:
        model = onnx.load(str(path))  # external weights (model.onnx.data) are read from beside it
    except Exception as e:  # noqa: BLE001 - onnx raises many kinds
        msg = f"{path}: cannot read ONNX ({e})"
        raise ValueError(msg) from e
    name, h, w, batch = input_spec(model, path, input_size)
    meta = json.loads(Path(metadata).read_text()) if metadata else None
    split = ag.split(model, path) if meta is None else None
    norms = ag.probe(model, split) if split is not None else None
    cut = ag.cut(model, split, MAP_NAME, SCORE_NAME) if split is not None else _rename_outputs(model, path)
    geometry = Geometry(h, w, h, w)
    calib = None
    if calib_data:
        paths = cal.list_images(calib_data)
        calib = np.stack([load_image(p, geometry) for p in paths])
    x = probe_images(h, w, calib)
    parity = check(model, cut, name, x, batch, norms) if norms is not None else None
    if calib is not None:
        res = _run(_session(cut), name, x[2:], batch)
        scores = np.concatenate([r[SCORE_NAME] for r in res])
        maps = np.concatenate([r[MAP_NAME] for r in res])
        source = f"--calib-data {calib_data} ({len(paths)} images)"
        calibration = cal.calibrate(scores, maps, margin=margin, source=source)
    elif norms is not None:
        calibration = recovered_calibration(norms, path.name)
    else:
        calibration = metadata_calibration(meta, Path(metadata))
    map_dims = next(o for o in cut.graph.output if o.name == MAP_NAME).type.tensor_type.shape.dim
    has_pre = split.has_pre_processor if split is not None else any(
        ag.module_of(n) == ag.PRE for n in model.graph.node)
    manifest = {
        "format": "linewatch-bundle/1",
        "architecture": "anomalib",
        "version": version or f"anomalib-{path.stem}",
        "file": "model.onnx",
        "sha256": "0" * 64,
        "opset": next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None),
        "input": {"name": name, "dtype": "float32", "layout": "NCHW", "height": h, "width": w, "channels": 3,
                  "colorOrder": "RGB", "valueRange": [0, 1],
                  "normalize": None if has_pre else {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
                  "batch": batch},
        "geometry": geometry.manifest() | {"crop": None},
        "prompt": None,
        "outputs": {"anomalyMap": {"name": MAP_NAME, "height": map_dims[2].dim_value, "width": map_dims[3].dim_value,
                                   "appliedInGraph": [], "runtimeSteps": []},
                    "score": {"name": SCORE_NAME, "rule": {"op": "max"}}, "extra": []},
        "calibration": calibration,
        "training": {"anomalib": {
            "onnx": path.name, "sha256": sha256_file(path),
            "producer": f"{model.producer_name} {model.producer_version}",
            "preProcessorInGraph": has_pre,
            "postProcessor": None if norms is None else {
                k: {"threshold": n.threshold, "range": n.range, "normalizedThreshold": n.normalized_threshold}
                for k, n in norms.items()},
            "metadata": None if meta is None else {k: meta[k] for k in METADATA_KEYS},
        }, "importedWith": {"codeRevision": code_revision()}},
        "metrics": {} if parity is None else {"importCheck": parity},
    }
    with tempfile.TemporaryDirectory(prefix="lw-anomalib-") as td:
        onnx.save(cut, str(Path(td) / "model.onnx"))
        write_bundle(out, Path(td) / "model.onnx", manifest)
    from .bundle import read_manifest

    return read_manifest(out)


def _rename_outputs(model: onnx.ModelProto, path: Path) -> onnx.ModelProto:
    """A graph without a post-processor (``--metadata``): its raw ``anomaly_map`` and ``pred_score`` renamed."""
    outs = {o.name for o in model.graph.output}
    if not {ag.MAP_OUT, ag.SCORE_OUT} <= outs:
        msg = f"{path}: outputs {sorted(outs)}, expected anomaly_map and pred_score"
        raise ValueError(msg)
    if any(ag.module_of(n) == ag.POST for n in model.graph.node):
        msg = f"{path}: the graph has its own post-processor; import it without --metadata"
        raise ValueError(msg)
    s = ag.Split(ag.MAP_OUT, ag.SCORE_OUT, [], False)
    for node in model.graph.node:  # free the output names for the cut graph's
        node.output[:] = [f"lw_{o}" if o in (ag.MAP_OUT, ag.SCORE_OUT) else o for o in node.output]
        node.input[:] = [f"lw_{i}" if i in (ag.MAP_OUT, ag.SCORE_OUT) else i for i in node.input]
    s.raw_map, s.raw_score = f"lw_{ag.MAP_OUT}", f"lw_{ag.SCORE_OUT}"
    return ag.cut(model, s, MAP_NAME, SCORE_NAME)


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.split(","))
    except ValueError as e:
        msg = f"--input-size must be H,W, not {text!r}"
        raise argparse.ArgumentTypeError(msg) from e
    return h, w


def add_arguments(p: argparse.ArgumentParser) -> None:
    """CLI arguments of ``import-anomalib``."""
    p.add_argument("--onnx", required=True, help="model.onnx from anomalib's Engine.export(export_type=ONNX)")
    p.add_argument("--out", required=True, help="bundle folder to write (replaced atomically)")
    p.add_argument("--metadata", help="anomalib metadata JSON with image/pixel thresholds and min/max, for a graph "
                                      "exported without its post-processor")
    p.add_argument("--input-size", type=_size, help="H,W the model was trained at, for a graph with a dynamic size")
    p.add_argument("--calib-data", help="good images: calibrate by linewatch's rule instead of anomalib's thresholds")
    p.add_argument("--margin", type=float, default=cal.DEFAULT_MARGIN, help="threshold margin with --calib-data (1.05)")
    p.add_argument("--version", help="model version for the manifest (default anomalib-<file name>)")


def main(args: argparse.Namespace) -> int:
    """Run ``import-anomalib``."""
    m = import_anomalib(args.onnx, args.out, metadata=args.metadata, input_size=args.input_size,
                        calib_data=args.calib_data, margin=args.margin, version=args.version)
    c = m["calibration"]
    check_note = m["metrics"].get("importCheck")
    print(f"wrote {args.out}: anomalib, input {m['input']['height']}x{m['input']['width']} float32 NCHW, "
          f"image threshold {c['image']['threshold']:.6g}, pixel threshold {c['pixel']['threshold']:.6g}"
          + (f", check against anomalib's outputs {check_note['maxAbsDiffScore']:.2g} / "
             f"{check_note['maxAbsDiffMap']:.2g}"
             if check_note else ""))
    return 0
