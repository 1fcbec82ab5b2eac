"""``export``: a RUN folder → a model bundle (ONNX opset 17 + model.json + golden.json).

The graph takes ``image`` uint8 NHWC ``[N, h, w, 3]`` RGB at the crop size and does /255 and the
ImageNet mean/std itself (manifest ``input.normalize = null``); the runtime resizes and crops. The
positional embedding is precomputed for the patch grid (no bicubic Resize in the graph).

``--map full`` (default): the graph runs the whole reference recipe and outputs ``anomaly_map``
``[N,1,256,256]`` and ``score`` ``[N]``. ``--map raw``: it outputs the mean group map at patch-grid
resolution; the manifest's ``runtimeSteps`` list the rest and the runtime computes the score.

After writing the ONNX file the export runs it in ONNX Runtime on the golden inputs and refuses
to write the bundle when it differs from PyTorch by more than 1e-4 (fp32; fp16 is reported only).
"""

from __future__ import annotations

import argparse
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
from .bundle import (
    GOLDEN_FORMAT,
    INPUT_NAME,
    MAP_NAME,
    SCORE_NAME,
    build_manifest,
    encode_array,
    output_spec,
    write_bundle,
)
from .model import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    InpFormer,
    finish_map,
    gaussian_kernel,
    grid_map,
    image_score,
    load_image,
    topk_count,
)
from .run import RunConfig, load_run

OPSET = 17
PARITY_TOLERANCE = 1e-4
FP16_TOLERANCE = 5e-2


class ExportGraph(nn.Module):
    """uint8 NHWC image → (anomaly_map, score) [full] or the grid map [raw]."""

    def __init__(self, model: InpFormer, config: RunConfig, map_mode: str = "full") -> None:
        super().__init__()
        if map_mode not in ("full", "raw"):
            msg = f"unknown map mode {map_mode!r} (full or raw)"
            raise ValueError(msg)
        self.model = model.eval()
        self.map_mode = map_mode
        self.crop_hw = config.geometry.crop_hw
        self.recipe = config.recipe
        with torch.no_grad():
            pos = model.encoder.pos_embed_for(*self.crop_hw).detach().clone()
        self.register_buffer("pos", pos)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
        k = config.recipe.gaussian_kernel
        self.register_buffer("kernel", gaussian_kernel(k, config.recipe.gaussian_sigma))
        self.k = topk_count(config.recipe.eval_height, config.recipe.eval_width, config.recipe.topk_fraction)

    def forward(self, image: torch.Tensor) -> Any:
        """See the module docstring."""
        x = image.to(torch.float32).permute(0, 3, 1, 2)
        x = (x - self.mean) / self.std
        out = self.model(x, pos=self.pos)
        raw = grid_map(out)
        if self.map_mode == "raw":
            return raw
        final = finish_map(raw, self.crop_hw, self.recipe)
        score = torch.topk(final.flatten(1), self.k, dim=1).values.mean(dim=1)
        return final, score


def reference_outputs(
    model: InpFormer, config: RunConfig, images: np.ndarray, map_mode: str, batch_size: int = 8
) -> dict[str, np.ndarray]:
    """PyTorch outputs for ``images`` uint8 ``[N,h,w,3]``.

    The graph's outputs plus the final reference map and score (``final_map``, ``final_score``),
    whatever the map mode.
    """
    graph = ExportGraph(model, config, map_mode).eval()
    outs: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[i : i + batch_size]))
            y = graph(x)
            if map_mode == "full":
                amap, score = y
                parts = {MAP_NAME: amap, SCORE_NAME: score, "final_map": amap, "final_score": score}
            else:
                final = finish_map(y, config.geometry.crop_hw, config.recipe)
                parts = {
                    MAP_NAME: y,
                    "final_map": final,
                    "final_score": image_score(final, config.recipe.topk_fraction),
                }
            for k, v in parts.items():
                outs.setdefault(k, []).append(v.numpy().astype(np.float32))
    return {k: np.concatenate(v, axis=0) for k, v in outs.items()}


def _onnx_export_kwargs() -> dict[str, Any]:
    params = inspect.signature(torch.onnx.export).parameters
    return {"dynamo": False} if "dynamo" in params else {}


def export_onnx(graph: ExportGraph, path: str | Path, *, batch: int | str, opset: int = OPSET) -> None:
    """Trace ``graph`` to ONNX at ``path`` (batch fixed or 'dynamic'; spatial size fixed)."""
    h, w = graph.crop_hw
    n = 2 if batch == "dynamic" else int(batch)
    dummy = torch.zeros((n, h, w, 3), dtype=torch.uint8)
    outputs = [MAP_NAME, SCORE_NAME] if graph.map_mode == "full" else [MAP_NAME]
    dyn = {name: {0: "N"} for name in [INPUT_NAME, *outputs]} if batch == "dynamic" else None
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about Python ints taken from shapes (the spatial size is fixed by design)
        # and torch 1.13 about shape inference of custom ops; neither concerns this graph.
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*shape inference.*")
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
        torch.onnx.export(
            graph,
            (dummy,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=outputs,
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


def ort_outputs(path: str | Path, images: np.ndarray) -> dict[str, np.ndarray]:
    """Run the ONNX file in ONNX Runtime (CPU) on uint8 ``[N,h,w,3]``."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = min(4, os.cpu_count() or 1)
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    res = sess.run(names, {INPUT_NAME: np.ascontiguousarray(images, dtype=np.uint8)})
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
    cases: list[GoldenCase], torch_out: list[dict[str, np.ndarray]], map_mode: str, tolerance: float
) -> dict[str, Any]:
    """The ``golden.json`` object (see docs/model-bundle.md)."""
    out_cases = []
    for case, ref in zip(cases, torch_out, strict=True):
        outputs = {MAP_NAME: encode_array(ref[MAP_NAME])}
        if map_mode == "full":
            outputs[SCORE_NAME] = encode_array(ref[SCORE_NAME])
        out_cases.append(
            {
                "name": case.name,
                "labels": case.labels,
                "inputs": {INPUT_NAME: encode_array(case.images)},
                "outputs": outputs,
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


def export_bundle(
    model: InpFormer,
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
) -> dict[str, Any]:
    """Export, calibrate, check parity and write the bundle. Returns the manifest written."""
    model = model.eval()
    crop_hw = config.geometry.crop_hw
    if calib_images.ndim != 4 or tuple(calib_images.shape[1:3]) != crop_hw:
        msg = f"calibration images must be uint8 [n,{crop_hw[0]},{crop_hw[1]},3], got {calib_images.shape}"
        raise ValueError(msg)

    # Calibration: the reference recipe on held-out good images (same in both map modes).
    scores, maps = [], []
    bs = 8
    it = range(0, len(calib_images), bs)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="calibrate", unit="batch", leave=False)
    for i in it:
        ref = reference_outputs(model, config, calib_images[i : i + bs], "full", bs)
        scores.append(ref["final_score"])
        maps.append(ref["final_map"])
    calibration = cal.calibrate(np.concatenate(scores), np.concatenate(maps), margin=margin, source=calib_source)

    cases = golden or default_golden_cases(calib_images, batch, crop_hw)
    torch_out = [reference_outputs(model, config, c.images, map_mode) for c in cases]

    graph = ExportGraph(model, config, map_mode)
    grid_hw = model.encoder.grid_size(*crop_hw)
    say = (lambda m: print(f"export: {m}", file=sys.stderr, flush=True)) if progress else (lambda m: None)
    with tempfile.TemporaryDirectory(prefix="lw-export-") as td:
        onnx_path = Path(td) / "model.onnx"
        say(f"tracing to ONNX (opset {opset}, map {map_mode}, batch {batch})")
        export_onnx(graph, onnx_path, batch=batch, opset=opset)
        if fp16:
            say("converting to fp16 (LayerNorm and the map recipe stay fp32)")
            convert_fp16(onnx_path)
        say(f"checking ONNX Runtime against PyTorch on {sum(len(c.images) for c in cases)} golden images")
        tol = FP16_TOLERANCE if fp16 else PARITY_TOLERANCE
        diff_map, diff_score = 0.0, 0.0
        for case, ref in zip(cases, torch_out, strict=True):
            got = ort_outputs(onnx_path, case.images)
            diff_map = max(diff_map, float(np.abs(got[MAP_NAME] - ref[MAP_NAME]).max()))
            if map_mode == "full":
                diff_score = max(diff_score, float(np.abs(got[SCORE_NAME] - ref[SCORE_NAME]).max()))
        if not fp16 and max(diff_map, diff_score) > tol:
            msg = f"ONNX Runtime differs from PyTorch: map {diff_map:.3g}, score {diff_score:.3g} > {tol:g}"
            raise RuntimeError(msg)

        all_metrics = dict(metrics or {})
        all_metrics["exportParity"] = {
            "runtime": "onnxruntime-cpu",
            "maxAbsDiffMap": diff_map,
            "maxAbsDiffScore": diff_score,
            "tolerance": tol,
            "cases": [c.name for c in cases],
        }
        train_info = {
            "model": {
                "encoder": config.model.encoder.size,
                "embedDim": config.model.embed_dim,
                "encoderWeights": config.model.encoder.weights,
                "encoderStem": config.model.encoder.stem,
                "targetLayers": config.model.target_layers,
                "prototypes": config.model.num_prototypes,
            },
            "recipe": config.recipe.to_dict(),
            "mapMode": map_mode,
            "fp16": fp16,
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
            outputs=output_spec(map_mode, config.geometry, config.recipe, grid_hw),
            calibration=calibration,
            training=train_info,
            metrics=all_metrics,
        )
        gold = golden_json(cases, torch_out, map_mode, tol)
        write_bundle(out, onnx_path, manifest, gold, extra_files)
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
        choices=("full", "raw"),
        default="full",
        help="full: the graph applies the whole recipe (default); raw: grid map, the runtime does the rest",
    )
    p.add_argument("--calib-data", help="folder of held-out good images (overrides what the run recorded)")
    p.add_argument("--max-calib", type=int, default=200, help="use at most this many calibration images (200)")
    p.add_argument("--margin", type=float, default=cal.DEFAULT_MARGIN, help="threshold margin (1.05)")
    p.add_argument("--opset", type=int, default=OPSET, help="ONNX opset (17)")


def main(args: argparse.Namespace) -> int:
    """Run ``export``."""
    run = load_run(args.run)
    config = run.config
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
    from tqdm import tqdm

    imgs = np.stack([load_image(p, config.geometry) for p in tqdm(paths, desc="load calibration", leave=False)])
    manifest = export_bundle(
        run.model,
        config,
        args.out,
        calib_images=imgs,
        calib_source=f"{source} ({len(paths)} images)",
        map_mode=args.map,
        batch=args.batch,
        fp16=args.fp16,
        margin=args.margin,
        metrics=run.metrics,
        training={"data": _summarise_data(config.data), "run": config.training},
        opset=args.opset,
    )
    par = manifest["metrics"]["exportParity"]
    print(
        f"wrote {args.out}: {manifest['outputs']['anomalyMap']['name']} "
        f"{manifest['outputs']['anomalyMap']['height']}x{manifest['outputs']['anomalyMap']['width']}, "
        f"batch {manifest['input']['batch']}, image threshold {manifest['calibration']['image']['threshold']:.5g}, "
        f"parity map {par['maxAbsDiffMap']:.2g} score {par['maxAbsDiffScore']:.2g}"
    )
    return 0
