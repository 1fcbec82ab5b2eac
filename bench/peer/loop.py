"""The peer of `linewatch bench --cameras`: the Python loop a user would write around the same bundle.

For each frame, in turn (N cameras = their frames one after the other, batch 1, one process, no
pipelining — what a plain user loop does): PIL resize and centre crop as the bundle's model.json
says, the input tensor in its dtype/layout/range, `InferenceSession.run`, the map steps the graph
left to the runtime (scipy), the image score, the calibrated pixel threshold and
`scipy.ndimage.label` (8-connected) for the defect regions, and the verdict. The camera replays
the folder's images, sorted by name and decoded once (raw pixels, as linewatch's `preload`).

A prompted bundle (model.json `prompt`, OneNIP with `selection: recipe`) takes `--prompt FILE`: one
good image, decoded and prepared exactly as a frame (same resize, crop, dtype, layout, range) once
before the loop, and fed as the graph's prompt input (`prompt.name`) with every frame — a user's
loop keeps the prepared array and passes it each run, as linewatch prepares a product's prompt once.
Bundles the loop does not cover (tiles, a cosine-pool of prompts) are refused: exit 3, the reason on
stderr, naming the bundle. `--check` stops there: exit 0 when the loop would run the bundle.

    trainer/.venv/bin/python bench/peer/loop.py --model DIR --frames-from DIR --frames 200 \
        --cameras 4 --threads 1 [--scores K] [--prompt FILE] [--check]

Prints one JSON object on stdout: frames/s over the measured frames (the first tenth is warm-up),
per-frame p50/p99 in ms and the median of each stage (preprocess, session.run, post-processing),
and with --scores K the raw scores of the first K frames.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import PIL
import scipy
from PIL import Image
from scipy import ndimage

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}
EIGHT = np.ones((3, 3), dtype=bool)


def load_frames(folder: Path, channels: int) -> list[tuple[str, np.ndarray]]:
    """The folder's images, sorted by name (byte order, as linewatch's folder source), decoded once."""
    names = sorted((p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS), key=lambda s: s.encode())
    if not names:
        msg = f"{folder}: no images"
        raise SystemExit(msg)
    mode = "L" if channels == 1 else "RGB"
    return [(Path(n).stem, np.asarray(Image.open(folder / n).convert(mode))) for n in names]


def refusal(model_dir: Path, m: dict, prompt: Path | None) -> str | None:
    """Why the loop does not run this bundle (with this prompt), or None."""
    what = f"model bundle {model_dir}"
    if m["geometry"].get("tiles") is not None:
        return f"{what}: the peer loop covers bundles without tiles (geometry.tiles: each frame is cut into tiles whose maps the runtime merges)"
    p = m.get("prompt")
    if p is not None:
        if p["selection"] != "recipe":
            return f"{what}: the peer loop takes one prompt per product (prompt.selection recipe), not a {p['selection']} (choosing each frame's prompt from a pool by embed.onnx)"
        if prompt is None:
            return f"{what} takes a prompt image beside each frame (graph input {p['name']!r}): give one with --prompt FILE"
        if not prompt.is_file():
            return f"{what}: the prompt {prompt} is not a file"
    return None


def gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """INP-Former's normalised 2-D gaussian kernel."""
    d = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k1 = np.exp(-(d**2) / (2 * sigma**2))
    k1 /= k1.sum()
    return np.outer(k1, k1)


def resize_map(m: np.ndarray, h: int, w: int, align_corners: bool) -> np.ndarray:
    """Bilinear resize of a map as PyTorch's F.interpolate (no antialiasing)."""
    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if align_corners:
            x = np.arange(n_out) * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        else:
            x = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
        i0 = np.minimum(np.floor(x).astype(int), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (x - i0).astype(np.float32)

    y0, y1, fy = axis(m.shape[0], h)
    x0, x1, fx = axis(m.shape[1], w)
    top = m[y0][:, x0] * (1 - fx) + m[y0][:, x1] * fx
    bottom = m[y1][:, x0] * (1 - fx) + m[y1][:, x1] * fx
    return (top * (1 - fy)[:, None] + bottom * fy[:, None]).astype(np.float32)


def score_of(m: np.ndarray, rule: dict) -> float:
    """The image score by the manifest's rule, from the final map."""
    if rule["op"] == "max":
        return float(m.max())
    if rule["op"] == "topk-mean":
        k = max(1, math.floor(m.size * rule["fraction"]))
        return float(np.partition(m.ravel(), m.size - k)[m.size - k :].mean())
    k = rule["kernel"]
    r = k // 2
    pooled = ndimage.uniform_filter(m.astype(np.float64), size=k, mode="constant")
    return float(pooled[r : m.shape[0] - (k - 1 - r), r : m.shape[1] - (k - 1 - r)].max())


def main() -> None:
    """Run the loop and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--frames-from", type=Path)
    ap.add_argument("--frames", type=int, default=200, help="frames in all, all cameras together")
    ap.add_argument("--cameras", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    ap.add_argument("--scores", type=int, default=0, help="report the raw scores of the first K frames")
    ap.add_argument("--prompt", type=Path, help="a prompted bundle's prompt: one good image, prepared as a frame, fed with every frame")
    ap.add_argument("--check", action="store_true", help="only say whether the loop runs this bundle (exit 0) or why not (exit 3)")
    args = ap.parse_args()

    m = json.loads((args.model / "model.json").read_text())
    inp, geo, outs, cal = m["input"], m["geometry"], m["outputs"], m["calibration"]
    why = refusal(args.model, m, args.prompt)
    if why is not None:
        print(why, file=sys.stderr)
        sys.exit(3)
    if args.check:
        return
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(args.model / m["file"]), so, providers=["CPUExecutionProvider"])

    frames = load_frames(args.frames_from or args.model / "samples", inp["channels"])
    size = (geo["resize"]["width"], geo["resize"]["height"])
    resample = FILTERS[geo["resize"]["method"]]
    crop = geo.get("crop")
    box = None
    if crop is not None:
        left = round((size[0] - crop["width"]) / 2)
        top = round((size[1] - crop["height"]) / 2)
        box = (left, top, left + crop["width"], top + crop["height"])
    lo, hi = inp["valueRange"]
    norm = inp["normalize"]
    map_name, score_name = outs["anomalyMap"]["name"], outs["score"]["name"]
    wanted = [map_name] if score_name is None else [map_name, score_name]
    steps = outs["anomalyMap"]["runtimeSteps"]
    pixel_threshold = cal["pixel"]["threshold"]  # the default rule: normalised 0.5 = the calibrated boundary
    img_cal = cal["image"]

    def prepare(pixels: np.ndarray) -> np.ndarray:
        """A decoded image as the graph's input batch: PIL resize (antialiased when shrinking, as
        torchvision on PIL images), centre crop, channel order, dtype and range, layout."""
        img = Image.fromarray(pixels).resize(size, resample)
        if box is not None:
            img = img.crop(box)
        x = np.asarray(img)
        if x.ndim == 2:
            x = x[:, :, None]
        if inp["colorOrder"] == "BGR":
            x = x[:, :, ::-1]
        if inp["dtype"] == "uint8":
            x = np.ascontiguousarray(x)
        else:
            x = x.astype(np.float32) * ((hi - lo) / 255.0) + lo
            if norm is not None:
                x = (x - np.asarray(norm["mean"], np.float32)) / np.asarray(norm["std"], np.float32)
        if inp["layout"] == "NCHW":
            x = x.transpose(2, 0, 1)
        x = np.ascontiguousarray(x[None])
        if isinstance(inp["batch"], int) and inp["batch"] > 1:  # a fixed-batch graph: pad with zeros
            x = np.concatenate([x, np.zeros((inp["batch"] - 1, *x.shape[1:]), x.dtype)])
        return x

    # The prompt, decoded as the frames are and prepared once: the loop passes this array every run.
    prompt = None
    if args.prompt is not None and m.get("prompt") is not None:
        mode = "L" if inp["channels"] == 1 else "RGB"
        prompt = prepare(np.asarray(Image.open(args.prompt).convert(mode)))

    times: list[float] = []
    stages: dict[str, list[float]] = {"preprocess": [], "run": [], "post": []}
    scores: list[dict] = []
    rejects = 0
    per_camera = max(1, math.ceil(args.frames / args.cameras))
    warm = min(max(2 * args.cameras, (per_camera * args.cameras) // 10), per_camera * args.cameras - 1)
    t_start = 0.0
    k = 0
    for i in range(per_camera):
        for camera in range(args.cameras):
            if k == warm:
                t_start = time.perf_counter()
            t0 = time.perf_counter()
            name, pixels = frames[i % len(frames)]
            x = prepare(pixels)
            t1 = time.perf_counter()
            # Inference (a prompted bundle: the prepared prompt beside the frame, the same array each run).
            out = session.run(wanted, {inp["name"]: x} if prompt is None else {inp["name"]: x, m["prompt"]["name"]: prompt})
            t2 = time.perf_counter()
            amap = out[0][0, 0]
            # Post-processing: the steps the graph left, the score, the regions at the pixel threshold.
            for s in steps:
                if s["op"] == "resize":
                    amap = resize_map(amap, s["height"], s["width"], s["alignCorners"])
                else:
                    mode = "constant" if s["padding"] == "zero" else "mirror"
                    amap = ndimage.convolve(amap, gaussian_kernel(s["kernel"], s["sigma"]).astype(np.float32), mode=mode, cval=0.0)
            score = float(out[1][0]) if score_name is not None else score_of(amap, outs["score"]["rule"])
            rng = img_cal["max"] - img_cal["min"]
            norm_score = min(1.0, max(0.0, (score - img_cal["threshold"]) / rng + 0.5)) if rng > 0 else float(score > img_cal["threshold"])
            labels, n = ndimage.label(amap >= pixel_threshold, structure=EIGHT)
            # Each region's box, area and peak from its slice (ndimage.maximum(amap, labels, index)
            # says the same but costs ~5 ms a frame in scipy 1.10: the peer should not pay for that).
            defects = []
            for r, sl in enumerate(ndimage.find_objects(labels)):
                inside = labels[sl] == r + 1
                peak = float(amap[sl][inside].max())
                defects.append((sl[1].start, sl[0].start, sl[1].stop - sl[1].start, sl[0].stop - sl[0].start, int(inside.sum()), peak))
            if norm_score >= 0.5:
                rejects += 1
            t3 = time.perf_counter()
            times.append((t3 - t0) * 1000)
            for stage, ms in (("preprocess", t1 - t0), ("run", t2 - t1), ("post", t3 - t2)):
                stages[stage].append(ms * 1000)
            if k < args.scores:
                scores.append({"name": name, "camera": camera, "score": score, "normScore": norm_score, "defects": len(defects)})
            k += 1
    elapsed = time.perf_counter() - t_start
    measured = sorted(times[warm:])
    pick = lambda p: measured[min(len(measured) - 1, max(0, math.ceil(p / 100 * len(measured)) - 1))]  # noqa: E731
    with_prompt = f", prompt {args.prompt.name} prepared once and fed with every frame" if prompt is not None else ""
    padded = f" (padded to the graph's fixed {inp['batch']})" if isinstance(inp["batch"], int) and inp["batch"] > 1 else ""
    report = {
        "loop": f"{args.cameras} camera(s) in turn, batch 1{padded}{with_prompt}, one process (python {'.'.join(map(str, sys.version_info[:3]))})",
        "versions": {"onnxruntime": ort.__version__, "pillow": PIL.__version__, "scipy": scipy.__version__, "numpy": np.__version__},
        "cameras": args.cameras,
        "threads": args.threads,
        "frames": k,
        "measuredFrames": len(measured),
        "fps": len(measured) / elapsed if elapsed > 0 else 0.0,
        "p50Ms": pick(50),
        "p99Ms": pick(99),
        "stagesMsP50": {s: float(np.median(v[warm:])) for s, v in stages.items()},
        "rejects": rejects,
        "scores": scores,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
