"""Model bundles: ``model.onnx`` + ``model.json`` (+ ``golden.json``), written atomically.

``model.json`` follows ``src/models/manifest.ts`` (format ``linewatch-bundle/1``) field by field;
docs/model-bundle.md explains each one. The bundle is assembled in a temporary folder beside the
destination and renamed into place, so a failed export leaves nothing behind and a reader never
sees a half-written bundle.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from .preprocess import Geometry
from .run import staging_dir, write_json

BUNDLE_FORMAT = "linewatch-bundle/1"
GOLDEN_FORMAT = "linewatch-golden/1"
MANIFEST_FILE = "model.json"
ONNX_FILE = "model.onnx"
GOLDEN_FILE = "golden.json"

INPUT_NAME = "image"
MAP_NAME = "anomaly_map"
SCORE_NAME = "score"

#: ``ARCHITECTURES`` of src/models/manifest.ts.
ARCHITECTURES = ("inp-former", "inp-former++", "onenip", "anomalib", "generic")


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def encode_array(a: np.ndarray) -> dict[str, Any]:
    """``{"shape", "dtype", "base64"}``: the raw little-endian bytes, row-major."""
    a = np.ascontiguousarray(a)
    dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
    return {
        "shape": list(a.shape),
        "dtype": str(dt.name),
        "base64": base64.b64encode(a.astype(dt, copy=False).tobytes()).decode("ascii"),
    }


def decode_array(d: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode_array`."""
    raw = base64.b64decode(d["base64"])
    return np.frombuffer(raw, dtype=np.dtype(d["dtype"]).newbyteorder("<")).reshape(d["shape"]).copy()


def build_manifest(
    *,
    architecture: str,
    version: str,
    sha256: str,
    opset: int,
    geometry: Geometry,
    batch: int | str,
    outputs: dict[str, Any],
    calibration: dict[str, Any],
    prompt: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A complete ``model.json`` object (uint8 NHWC RGB input, normalisation in the graph)."""
    if architecture not in ARCHITECTURES:
        msg = f"architecture {architecture!r} not in {ARCHITECTURES}"
        raise ValueError(msg)
    return {
        "format": BUNDLE_FORMAT,
        "architecture": architecture,
        "version": version,
        "file": ONNX_FILE,
        "sha256": sha256,
        "opset": opset,
        "input": {
            "name": INPUT_NAME,
            "dtype": "uint8",
            "layout": "NHWC",
            "height": geometry.crop_height,
            "width": geometry.crop_width,
            "channels": 3,
            "colorOrder": "RGB",
            "valueRange": [0, 255],
            "normalize": None,
            "batch": batch,
        },
        "geometry": geometry.manifest(),
        "prompt": prompt,
        "outputs": outputs,
        "calibration": calibration,
        "training": training or {},
        "metrics": metrics or {},
    }


def _is_sha(x: Any) -> bool:
    return isinstance(x, str) and len(x) == 64 and all(c in "0123456789abcdef" for c in x)


def _prompt_problems(prompt: Any) -> list[str]:
    """What is wrong with the ``prompt`` block (null, or name + selection [+ pool] [+ embedding])."""
    if prompt is None:
        return []
    problems = []
    if not isinstance(prompt.get("name"), str) or not prompt["name"]:
        problems.append("prompt.name")
    if prompt.get("selection") not in ("recipe", "cosine-pool"):
        problems.append("prompt.selection")
    emb = prompt.get("embedding")
    if emb is None:
        if prompt.get("selection") == "cosine-pool":
            problems.append("prompt.embedding (cosine-pool needs one)")
    elif not (isinstance(emb.get("file"), str) and _is_sha(emb.get("sha256")) and emb.get("input")
              and emb.get("output") and isinstance(emb.get("dim"), int) and isinstance(emb.get("normalized"), bool)):
        problems.append("prompt.embedding")
    return problems


def validate_manifest(m: dict[str, Any]) -> None:
    """A Python mirror of the main checks of ``manifestSchema`` (raises ``ValueError``)."""
    problems: list[str] = []
    if m.get("format") != BUNDLE_FORMAT:
        problems.append("format")
    if m.get("architecture") not in ARCHITECTURES:
        problems.append("architecture")
    sha = m.get("sha256", "")
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        problems.append("sha256")
    inp = m.get("input", {})
    if inp.get("dtype") not in ("uint8", "float32", "float16") or inp.get("layout") not in ("NHWC", "NCHW"):
        problems.append("input")
    b = inp.get("batch")
    if not (b == "dynamic" or (isinstance(b, int) and b > 0)):
        problems.append("input.batch")
    out = m.get("outputs", {})
    am = out.get("anomalyMap", {})
    for step in [*am.get("appliedInGraph", []), *am.get("runtimeSteps", [])]:
        if step.get("op") not in ("resize", "gaussian"):
            problems.append(f"map step {step}")
    if out.get("score", {}).get("rule", {}).get("op") not in ("topk-mean", "max", "avgpool-max"):
        problems.append("outputs.score.rule")
    cal = m.get("calibration", {})
    for part in ("image", "pixel"):
        c = cal.get(part, {})
        if not all(isinstance(c.get(k), (int, float)) for k in ("threshold", "min", "max")):
            problems.append(f"calibration.{part}")
    if not cal.get("method"):
        problems.append("calibration.method")
    problems += _prompt_problems(m.get("prompt"))
    if problems:
        msg = "manifest does not match linewatch-bundle/1: " + ", ".join(problems)
        raise ValueError(msg)


def write_bundle(
    out: str | Path,
    onnx_path: str | Path,
    manifest: dict[str, Any],
    golden: dict[str, Any] | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    """Assemble a bundle at ``out``: copies the ONNX file, fills ``sha256``, writes the manifest.

    ``manifest['sha256']`` is (re)computed from the ONNX file. ``extra_files`` maps relative paths
    to bytes (e.g. sample images). Temporary folder, then rename.
    """
    out = Path(out)
    with staging_dir(out) as tmp:
        dst = tmp / ONNX_FILE
        dst.write_bytes(Path(onnx_path).read_bytes())
        manifest = dict(manifest)
        manifest["sha256"] = sha256_file(dst)
        manifest["file"] = ONNX_FILE
        validate_manifest(manifest)
        write_json(tmp / MANIFEST_FILE, manifest)
        if golden is not None:
            (tmp / GOLDEN_FILE).write_text(json.dumps(golden, separators=(",", ":")) + "\n")
        for rel, data in (extra_files or {}).items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
    return out


def read_manifest(bundle: str | Path) -> dict[str, Any]:
    """Read ``model.json`` and check the ONNX file's sha256."""
    bundle = Path(bundle)
    m = json.loads((bundle / MANIFEST_FILE).read_text())
    validate_manifest(m)
    actual = sha256_file(bundle / m.get("file", ONNX_FILE))
    if actual != m["sha256"]:
        msg = f"{bundle / m.get('file', ONNX_FILE)}: sha256 {actual} does not match model.json"
        raise ValueError(msg)
    emb = (m.get("prompt") or {}).get("embedding")
    if emb is not None:
        path = bundle / emb["file"]
        if not path.is_file() or sha256_file(path) != emb["sha256"]:
            msg = f"{path}: missing, or its sha256 does not match model.json prompt.embedding"
            raise ValueError(msg)
    return m
