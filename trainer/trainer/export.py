"""``export``: a RUN folder → a model bundle (ONNX opset 17 + model.json + golden.json).

Common to every architecture: tracing the architecture's graph (``export_spec`` in registry.py;
INP-Former: models/inp_former/graph.py) to ONNX with a dynamic or fixed batch, the optional fp16
conversion, calibration on held-out good images by the reference recipe, ``golden.json``, and the
parity check: the ONNX file is run in ONNX Runtime on the golden inputs and the bundle is refused
when it differs from PyTorch by more than 1e-4 (fp32; fp16 is reported only) on an output whose
values stay within ±1 (INP-Former's cosine maps), and by more than 1e-4 of its largest magnitude on
one that goes beyond (a z-scored or unnormalised map reaching 30 or 50 carries float32 rounding of
a few 1e-6 of that, which an absolute bound would refuse for nothing). Every graph input
is uint8 NHWC at the crop size (the image, and a prompted model's prompt); the runtime resizes and
crops as the manifest's ``geometry`` says.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import os
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import calibrate as cal
from . import linecheck, quantize, registry
from .bundle import GOLDEN_FORMAT, INPUT_NAME, MAP_NAME, SCORE_NAME, build_manifest, encode_array, write_bundle
from .data import load_images
from .export_scores import image_scores, labelled_test_images, spec_outputs
from .registry import AuxGraph, ExportSpec
from .run import RunConfig, load_run

OPSET = 17
#: ``--map``: what the graph outputs. An architecture refuses a mode it lacks, naming the ones it has.
MAP_MODES = ("full", "raw", "zero-shot")
PARITY_TOLERANCE = 1e-4
FP16_TOLERANCE = 5e-2
#: ONNX Runtime's intra-op threads for the parity check (``--threads``; at most 4 by default).
ORT_THREADS = min(4, os.cpu_count() or 1)

__all__ = ["export_bundle", "ort_outputs", "reference_outputs", "spec_outputs"]


def export_spec(model: nn.Module, config: RunConfig, map_mode: str) -> ExportSpec:
    """The architecture's graph for ``map_mode`` (one of :data:`MAP_MODES`)."""
    return registry.get(config.architecture).export_spec(model, config, map_mode)


def reference_outputs(
    model: nn.Module, config: RunConfig, images: np.ndarray, map_mode: str, batch_size: int = 8
) -> dict[str, np.ndarray]:
    """PyTorch outputs for uint8 crops ``images`` ``[N,h,w,3]``.

    The graph's outputs plus the final reference map and score (``final_map``, ``final_score``),
    whatever the map mode.
    """
    spec = export_spec(model, config, map_mode)
    return spec_outputs(spec, spec.inputs_for(images), batch_size)


def _onnx_export_kwargs() -> dict[str, Any]:
    params = inspect.signature(torch.onnx.export).parameters
    return {"dynamo": False} if "dynamo" in params else {}


def export_onnx(spec: ExportSpec | AuxGraph, crop_hw: tuple[int, int], path: str | Path, *, batch: int | str,
                opset: int = OPSET) -> None:
    """Trace ``spec.graph`` to ONNX at ``path`` (batch fixed or 'dynamic'; spatial size fixed)."""
    h, w = crop_hw
    n = 2 if batch == "dynamic" else int(batch)
    dummies = tuple(torch.zeros((n, h, w, 3), dtype=torch.uint8) for _ in spec.input_names)
    names = [*spec.input_names, *spec.output_names]
    dyn = {name: {0: "N"} for name in names} if batch == "dynamic" else None
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about Python ints taken from shapes (the spatial size is fixed by design)
        # and torch 1.13 about shape inference of custom ops; neither concerns this graph.
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*shape inference.*")
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
        torch.onnx.export(
            spec.graph,
            dummies,
            str(path),
            input_names=list(spec.input_names),
            output_names=list(spec.output_names),
            dynamic_axes=dyn,
            opset_version=opset,
            do_constant_folding=True,
            **_onnx_export_kwargs(),
        )


def convert_fp16(path: str | Path) -> None:
    """Convert the ONNX file at ``path`` to fp16 weights and compute, in place.

    Kept in fp32: LayerNormalization (eps 1e-8 underflows in fp16), softmax, the reductions of the
    cosine maps, the resizes, the gaussian and TopK; the input stays uint8 and the outputs fp32.
    """
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = onnx.load(str(path))
    blocked = [
        *DEFAULT_OP_BLOCK_LIST,
        "LayerNormalization",
        "Softmax",
        "ReduceSum",
        "ReduceMean",
        "ReduceL2",
        "Sqrt",
        "Resize",
        "TopK",
        "Div",
        "Sub",
        "Clip",
    ]
    # The gaussian Conv of the recipe is the graph's last Conv; the patch embedding is the first.
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    node_block = convs[1:] if len(convs) > 1 else []
    model16 = convert_float_to_float16(
        model, keep_io_types=True, op_block_list=blocked, node_block_list=node_block
    )
    onnx.save(model16, str(path))


def ort_outputs(path: str | Path, inputs: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the ONNX file in ONNX Runtime (CPU) on uint8 ``[N,h,w,3]`` images (input ``image``), or
    on every input by name (float arrays as float32, anything else as uint8)."""
    import onnxruntime as ort

    if not isinstance(inputs, dict):
        inputs = {INPUT_NAME: inputs}
    so = ort.SessionOptions()
    so.intra_op_num_threads = ORT_THREADS
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    feed = {k: np.ascontiguousarray(v, dtype=np.float32 if v.dtype.kind == "f" else np.uint8) for k, v in inputs.items()}
    res = sess.run(names, feed)
    return dict(zip(names, res, strict=True))


@dataclass
class GoldenCase:
    """Fixed inputs saved with the bundle; ``labels`` (0 good, 1 defective) when known."""

    name: str
    images: np.ndarray
    labels: list[int] | None = None


def default_golden_cases(calib: np.ndarray, batch: int | str, crop_hw: tuple[int, int]) -> list[GoldenCase]:
    """A good image (the first calibration image) and a seeded pattern, at batch 1 and 2."""
    rng = np.random.default_rng(1234)
    h, w = crop_hw
    yy, xx = np.mgrid[0:h, 0:w]
    pattern = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) % 256], -1)
    pattern = np.clip(pattern + rng.integers(-20, 21, size=(h, w, 3)), 0, 255).astype(np.uint8)
    first = calib[0] if len(calib) else pattern
    pool = np.stack([first, pattern])
    if batch == "dynamic":
        return [GoldenCase("single", pool[:1]), GoldenCase("pair", pool)]
    n = int(batch)
    return [GoldenCase(f"batch{n}", pool[np.arange(n) % 2])]


def golden_json(
    spec: ExportSpec, cases: list[GoldenCase], torch_out: list[dict[str, np.ndarray]], map_mode: str,
    tolerance: float,
) -> dict[str, Any]:
    """The ``golden.json`` object (see docs/model-bundle.md)."""
    out_cases = []
    for case, ref in zip(cases, torch_out, strict=True):
        inputs = spec.inputs_for(case.images)
        out_cases.append(
            {
                "name": case.name,
                "labels": case.labels,
                "inputs": {name: encode_array(inputs[name]) for name in spec.input_names},
                "outputs": {name: encode_array(ref[name]) for name in spec.output_names},
                "reference": {
                    "map": encode_array(ref["final_map"]),
                    "score": encode_array(ref["final_score"]),
                },
            }
        )
    return {
        "format": GOLDEN_FORMAT,
        "tolerance": tolerance,
        "mapMode": map_mode,
        "note": "outputs: what model.onnx must produce (PyTorch, fp32); reference: the final map and "
        "score after the whole recipe (equal to outputs for map=full)",
        "cases": out_cases,
    }


def code_revision() -> str | None:
    """``git rev-parse HEAD`` of this checkout, or None."""
    try:
        here = Path(__file__).resolve().parent
        r = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _parity(spec: ExportSpec, onnx_path: Path, cases: list[GoldenCase],
            torch_out: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Largest |ONNX Runtime − PyTorch| per output over the golden cases."""
    diffs = dict.fromkeys(spec.output_names, 0.0)
    for case, ref in zip(cases, torch_out, strict=True):
        got = ort_outputs(onnx_path, spec.inputs_for(case.images))
        for name in spec.output_names:
            diffs[name] = max(diffs[name], float(np.abs(got[name] - ref[name]).max()))
    return diffs


def parity_scales(refs: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """What each output's parity bound is a fraction of: max(1, its largest |PyTorch value|)."""
    scales: dict[str, float] = {}
    for ref in refs:
        for name, v in ref.items():
            scales[name] = max(scales.get(name, 1.0), float(np.abs(v).max()) if v.size else 1.0)
    return scales


def parity_failures(diffs: dict[str, float], scales: dict[str, float], tol: float) -> dict[str, float]:
    """The outputs whose |ONNX Runtime − PyTorch| exceeds ``tol`` × their scale, with that difference."""
    return {k: d for k, d in diffs.items() if d > tol * scales.get(k, 1.0)}


def aux_outputs(spec: ExportSpec, aux: AuxGraph, images: np.ndarray) -> dict[str, np.ndarray]:
    """PyTorch outputs of an aux graph on the inputs ``spec.inputs_for(images)`` it takes."""
    inputs = spec.inputs_for(images)
    with torch.no_grad():
        y = aux.graph.eval()(*(torch.from_numpy(np.ascontiguousarray(inputs[k])) for k in aux.input_names))
    return {k: v.numpy().astype(np.float32)
            for k, v in zip(aux.output_names, y if isinstance(y, tuple) else (y,), strict=True)}


def _aux_parity(spec: ExportSpec, aux: AuxGraph, path: Path, cases: list[GoldenCase],
                refs: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Largest |ONNX Runtime − PyTorch| per output of an aux graph over the golden cases."""
    diffs = dict.fromkeys(aux.output_names, 0.0)
    for case, ref in zip(cases, refs, strict=True):
        inputs = spec.inputs_for(case.images)
        got = ort_outputs(path, {k: inputs[k] for k in aux.input_names})
        for name in aux.output_names:
            diffs[name] = max(diffs[name], float(np.abs(got[name] - ref[name]).max()))
    return diffs


def _fill_aux_sha(block: Any, shas: dict[str, str]) -> None:
    """Set ``sha256`` in every dict under ``block`` whose ``file`` is an aux graph written."""
    if isinstance(block, dict):
        if block.get("file") in shas:
            block["sha256"] = shas[block["file"]]
        for v in block.values():
            _fill_aux_sha(v, shas)


def export_bundle(
    model: nn.Module,
    config: RunConfig,
    out: str | Path,
    *,
    calib_images: np.ndarray,
    calib_source: str,
    map_mode: str = "full",
    batch: int | str = "dynamic",
    fp16: bool = False,
    margin: float = cal.DEFAULT_MARGIN,
    golden: list[GoldenCase] | None = None,
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    extra_files: dict[str, bytes] | None = None,
    opset: int = OPSET,
    progress: bool = True,
    line_check: tuple[np.ndarray, np.ndarray, str] | None = None,
    int8: quantize.Int8Options | None = None,
) -> dict[str, Any]:
    """Export, calibrate, check parity and write the bundle. Returns the manifest written.

    ``calib_images`` are model inputs (for a tiled geometry, each image's tiles in order).
    ``line_check``: model inputs, labels and a description of labelled test images; escapes and
    false rejects at the calibrated threshold go into ``metrics.lineCheck``.
    ``int8``: write the int8 graph instead (quantize.py), calibrated and line-checked on its own
    scores; raises :class:`~trainer.quantize.Int8Refused` when it loses more than its margin.
    """
    model = model.eval()
    crop_hw = config.geometry.crop_hw
    if calib_images.ndim != 4 or tuple(calib_images.shape[1:3]) != crop_hw:
        msg = f"calibration images must be uint8 [n,{crop_hw[0]},{crop_hw[1]},3], got {calib_images.shape}"
        raise ValueError(msg)
    spec = export_spec(model, config, map_mode)
    if int8 is not None and (fp16 or config.geometry.is_tiled):
        msg = "--int8 cannot be combined with --fp16 or a tiled geometry (--tile)"
        raise ValueError(msg)

    # Calibration: the reference recipe on held-out good images (the same final map in every map
    # mode), each image's tiles merged as the runtime merges them; an int8 bundle's comes from
    # the int8 graph below.
    if int8 is None:
        scores, maps = image_scores(spec, calib_images, config.geometry, "calibrate" if progress else None)
        calibration = cal.calibrate(scores, maps, margin=margin, source=calib_source)

    cases = golden or default_golden_cases(calib_images, batch, crop_hw)
    torch_out = [spec_outputs(spec, spec.inputs_for(c.images)) for c in cases]

    say = (lambda m: print(f"export: {m}", file=sys.stderr, flush=True)) if progress else (lambda m: None)
    with tempfile.TemporaryDirectory(prefix="lw-export-") as td:
        onnx_path = Path(td) / "model.onnx"
        say(f"tracing to ONNX (opset {opset}, map {map_mode}, batch {batch})")
        export_onnx(spec, crop_hw, onnx_path, batch=batch, opset=opset)
        if fp16:
            say("converting to fp16 (LayerNorm and the map recipe stay fp32)")
            convert_fp16(onnx_path)
        say(f"checking ONNX Runtime against PyTorch on {sum(len(c.images) for c in cases)} golden images")
        tol = FP16_TOLERANCE if fp16 else PARITY_TOLERANCE
        diffs = _parity(spec, onnx_path, cases, torch_out)
        aux_files: dict[str, bytes] = {}
        aux_refs: dict[str, list[dict[str, np.ndarray]]] = {}
        for aux in spec.aux:
            aux_path = Path(td) / aux.file
            say(f"tracing {aux.file}")
            export_onnx(aux, crop_hw, aux_path, batch=batch, opset=opset)
            if fp16:
                convert_fp16(aux_path)
            aux_refs[aux.file] = [aux_outputs(spec, aux, c.images) for c in cases]
            for name, d in _aux_parity(spec, aux, aux_path, cases, aux_refs[aux.file]).items():
                diffs[f"{aux.file}:{name}"] = d
            aux_files[aux.file] = aux_path.read_bytes()
        scales = parity_scales(torch_out)
        for aux_file, refs in aux_refs.items():
            scales.update({f"{aux_file}:{k}": v for k, v in parity_scales(refs).items()})
        failed = parity_failures(diffs, scales, tol)
        if not fp16 and failed:
            detail = ", ".join(f"{k} {v:.3g}" + (f" (of values up to {scales[k]:.3g})" if scales[k] > 1 else "")
                               for k, v in failed.items())
            msg = f"ONNX Runtime differs from PyTorch: {detail} > {tol:g} × max(1, largest |value|)"
            raise RuntimeError(msg)

        q = None
        if int8 is not None:
            run8 = quantize.ort_runner(ORT_THREADS)
            q = quantize.export_int8(run8, onnx_path, Path(td) / "model.int8.onnx", spec, calib_images, batch,
                                     int8, str(out), say)
            onnx_path = Path(td) / "model.int8.onnx"
            scores, maps = q.calib_scores, q.calib_maps
            calibration = cal.calibrate(scores, maps, margin=margin, source=f"{calib_source}, scored by the int8 graph")
            # golden.json: what the int8 graph computes (the runtime must reproduce it), and the
            # distance from fp32 in exportParity.int8.
            int8_out = [quantize.final_outputs(run8, onnx_path, spec, c.images, batch) for c in cases]
            q.golden_diff = {n: max(float(np.abs(o[n] - t[n]).max()) for o, t in zip(int8_out, torch_out, strict=True))
                              for n in spec.output_names}
            torch_out, tol = int8_out, quantize.GOLDEN_TOLERANCE
        checked = None
        if line_check is not None:
            if q is None:
                test_scores, _ = image_scores(spec, line_check[0], config.geometry, "line check" if progress else None)
            else:
                test_scores = quantize.final_outputs(run8, onnx_path, spec, line_check[0], batch)["final_score"]
            labels = line_check[1]
            checked = linecheck.check(test_scores[labels == 0], test_scores[labels == 1],
                                      calibration["image"]["threshold"],
                                      f"{margin:g} x p{cal.IMAGE_QUANTILE * 100:g} of {len(scores)} held-out good "
                                      f"images; on {line_check[2]}")

        all_metrics = dict(metrics or {})
        if checked is not None:
            all_metrics["lineCheck"] = checked.to_dict()
        extra = {k: v for k, v in diffs.items() if k not in (MAP_NAME, SCORE_NAME)}
        all_metrics["exportParity"] = {
            "runtime": "onnxruntime-cpu",
            "maxAbsDiffMap": diffs.get(MAP_NAME, 0.0),
            "maxAbsDiffScore": diffs.get(SCORE_NAME, 0.0),
            **({"maxAbsDiffExtra": extra} if extra else {}),
            "tolerance": tol,
            "toleranceRule": "max |ONNX Runtime - PyTorch| <= tolerance x max(1, largest |PyTorch value|), per output",
            "scales": {k: round(v, 6) for k, v in scales.items()},
            "cases": [c.name for c in cases],
            **({"int8": q.record()} if q is not None else {}),
        }
        train_info = {
            "model": spec.model_record,
            "recipe": config.recipe.to_dict(),
            "mapMode": map_mode,
            "fp16": fp16,
            "int8": int8 is not None,
            "codeRevision": code_revision(),
            "exportedWith": {"torch": torch.__version__},
            **(training or {}),
        }
        manifest = build_manifest(
            architecture=config.architecture,
            version=config.version,
            sha256="0" * 64,
            opset=opset,
            geometry=config.geometry,
            batch=batch,
            outputs=spec.outputs,
            calibration=calibration,
            prompt=spec.prompt,
            training=train_info,
            metrics=all_metrics,
        )
        _fill_aux_sha(manifest, {f: hashlib.sha256(b).hexdigest() for f, b in aux_files.items()})
        gold = golden_json(spec, cases, torch_out, map_mode, tol)
        if q is not None:
            gold["note"] = ("outputs: what the int8 model.onnx computes in ONNX Runtime (CPU); reference: the final "
                            "map and score after the whole recipe; metrics.exportParity.int8 says how far from fp32")
        for f, refs in aux_refs.items():
            names = next(a.input_names for a in spec.aux if a.file == f)
            for case, ref in zip(gold["cases"], refs, strict=True):
                case.setdefault("aux", {})[f] = {"inputs": list(names),
                                                  "outputs": {k: encode_array(v) for k, v in ref.items()}}
        write_bundle(out, onnx_path, manifest, gold, {**aux_files, **(extra_files or {})})
    from .bundle import read_manifest

    return read_manifest(out)


def _summarise_data(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, list) and len(v) > 8:
            out[k] = {"count": len(v), "first": v[:3]}
        else:
            out[k] = v
    return out


def parse_batch(text: str) -> int | str:
    """``--batch``: a positive int or 'dynamic'."""
    if text == "dynamic":
        return text
    try:
        n = int(text)
    except ValueError as e:
        msg = f"--batch must be a positive integer or 'dynamic', not {text!r}"
        raise argparse.ArgumentTypeError(msg) from e
    if n < 1:
        msg = "--batch must be ≥ 1"
        raise argparse.ArgumentTypeError(msg)
    return n


def add_arguments(p: argparse.ArgumentParser) -> None:
    """CLI arguments of ``export``."""
    p.add_argument("--run", required=True, help="RUN folder (from train or import-official)")
    p.add_argument("--out", required=True, help="bundle folder to write (replaced atomically)")
    p.add_argument("--fp16", action="store_true", help="fp16 weights/compute (LayerNorm and the map recipe stay fp32)")
    p.add_argument("--batch", type=parse_batch, default="dynamic", help="fixed batch size N, or 'dynamic' (default)")
    p.add_argument(
        "--map",
        choices=MAP_MODES,
        default="full",
        help="full: the graph applies the whole recipe (default); raw: grid map, the runtime does the rest; "
        "zero-shot: each token's distance to the nearest prototype (a model trained on other data)",
    )
    p.add_argument("--zero-shot", action="store_true",
                   help="same as --map zero-shot: a bundle for a product the model never saw (pass --calib-data "
                        "with good images of that product for its thresholds)")
    p.add_argument("--calib-data", help="folder of held-out good images (overrides what the run recorded)")
    p.add_argument("--max-calib", type=int, default=200, help="use at most this many calibration images (200)")
    p.add_argument("--margin", type=float, default=cal.DEFAULT_MARGIN, help="threshold margin (1.05)")
    p.add_argument("--opset", type=int, default=OPSET, help="ONNX opset (17)")
    p.add_argument("--eval-data", default=None, metavar="DIR[,DIR…]|none",
                   help="labelled test images (MVTec layout) for the escapes and false rejects printed at the calibrated "
                        "threshold (default: the test/ folders of the data the RUN was trained on; none: skip)")
    p.add_argument("--int8", action="store_true",
                   help="int8 graph (static quantization on half the calibration images, checked on the other half; "
                        "LayerNorm, softmax, attention and the map recipe stay float)")
    p.add_argument("--int8-margin", type=float, default=quantize.Int8Options.margin_pt, metavar="PT",
                   help="refuse the int8 bundle when its check-set I-AUROC is more than PT points below fp32's (0.5)")
    p.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime CPU threads (default 2)")


def main(args: argparse.Namespace) -> int:
    """Run ``export``."""
    global ORT_THREADS
    torch.set_num_threads(max(1, args.threads))
    ORT_THREADS = max(1, args.threads)
    run = load_run(args.run)
    config = run.config
    map_mode = "zero-shot" if args.zero_shot else args.map
    if args.zero_shot and args.map not in ("full", "zero-shot"):
        msg = f"--zero-shot and --map {args.map} contradict each other"
        raise ValueError(msg)
    if map_mode == "zero-shot" and not args.calib_data:
        msg = ("--zero-shot: the run's held-out images are of the data it was trained on; the thresholds must come "
               "from good images of the new product: pass --calib-data DIR")
        raise ValueError(msg)
    if args.calib_data:
        paths = cal.list_images(args.calib_data)
        source = f"--calib-data {args.calib_data}"
    else:
        recorded = config.data.get("calibration") or []
        if not recorded:
            msg = f"{Path(args.run) / 'config.json'}: no held-out good images recorded; pass --calib-data DIR"
            raise ValueError(msg)
        paths = cal.resolve_images(recorded, Path(args.run))
        source = "held-out good images recorded in the run"
    paths = paths[: args.max_calib]
    imgs = load_images(paths, config.geometry, desc="load calibration images")
    eval_roots = config.data.get("train", []) if args.eval_data is None else [
        d for d in str(args.eval_data).split(",") if d and d != "none"]
    labelled = labelled_test_images(eval_roots, config.geometry) if eval_roots else None
    manifest = export_bundle(
        run.model,
        config,
        args.out,
        calib_images=imgs,
        calib_source=f"{source} ({len(paths)} images)",
        map_mode=map_mode,
        batch=args.batch,
        fp16=args.fp16,
        margin=args.margin,
        metrics=run.metrics,
        training={"data": _summarise_data(config.data), "run": config.training},
        opset=args.opset,
        line_check=labelled,
        int8=quantize.Int8Options(margin_pt=args.int8_margin) if args.int8 else None,
    )
    par = manifest["metrics"]["exportParity"]
    print(
        f"wrote {args.out}: {manifest['outputs']['anomalyMap']['name']} "
        f"{manifest['outputs']['anomalyMap']['height']}x{manifest['outputs']['anomalyMap']['width']}, "
        f"batch {manifest['input']['batch']}, image threshold {manifest['calibration']['image']['threshold']:.5g}, "
        f"parity map {par['maxAbsDiffMap']:.2g} score {par['maxAbsDiffScore']:.2g}"
    )
    q = par.get("int8")
    if q is not None:
        c = q["check"]
        print(f"int8: I-AUROC {100 * c['iAurocInt8']:.2f} vs fp32 {100 * c['iAurocFp32']:.2f} on {c['pairs']} good/anomalous "
              f"pairs of the check set ({c['pairsReversed']} reversed, margin {c['marginPt']:g} pt); "
              f"max |score - fp32| {q['maxAbsDiffFromFp32'].get('score', float('nan')):.3g}")
    check = manifest["metrics"].get("lineCheck")
    if labelled is not None and check is not None:
        for line in linecheck.report(linecheck.LineCheck(check["threshold"], check["rule"], check["good"],
                                                         check["falseRejects"], check["defective"], check["escapes"])):
            print(line)
    elif args.eval_data != "none":
        print("no labelled test images (test/<defect>/ with masks) beside the training data: escapes at this threshold "
              f"are unknown; it comes from good images alone. Measure it: {linecheck.CALIBRATE_HINT}")
    return 0
