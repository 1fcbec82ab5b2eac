"""The committed tiny OneNIP bundle (test/fixtures/models/tiny-onenip) is sound, and its prompt decides."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainer.bundle import decode_array, read_manifest
from trainer.export import ort_outputs
from trainer.models.onenip import fixture

D = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "models" / fixture.NAME


def _sample(name: str) -> np.ndarray:
    return np.asarray(Image.open(D / "samples" / f"{name}.png").convert("RGB"))[None]


def test_manifest_declares_the_prompt_contract() -> None:
    m = read_manifest(D)  # schema mirror, model.onnx's and embed.onnx's sha256
    assert m["architecture"] == "onenip" and m["input"]["batch"] == "dynamic"
    assert m["prompt"]["name"] == "prompt" and m["prompt"]["selection"] == "recipe"
    emb = m["prompt"]["embedding"]
    assert (emb["file"], emb["input"], emb["output"], emb["dim"], emb["normalized"]) == \
        ("embed.onnx", "image", "global_feature", 16, True)
    assert m["outputs"]["score"]["rule"] == {"op": "avgpool-max", "kernel": 16}
    assert sum(p.stat().st_size for p in D.rglob("*") if p.is_file()) < 1_500_000


def test_onnx_runtime_reproduces_the_goldens_and_the_labels() -> None:
    m = json.loads((D / "model.json").read_text())
    g = json.loads((D / "golden.json").read_text())
    thr = m["calibration"]["image"]["threshold"]
    for case in g["cases"]:
        inputs = {k: decode_array(v) for k, v in case["inputs"].items()}
        assert sorted(inputs) == ["image", "prompt"]
        got = ort_outputs(D / "model.onnx", inputs)
        for k, v in case["outputs"].items():
            assert np.abs(got[k] - decode_array(v)).max() <= g["tolerance"], (case["name"], k)
        emb = case["aux"]["embed.onnx"]
        got = ort_outputs(D / "embed.onnx", {k: inputs[k] for k in emb["inputs"]})
        assert np.abs(got["global_feature"] - decode_array(emb["outputs"]["global_feature"])).max() <= 1e-5
        score, labels = decode_array(case["reference"]["score"]), np.array(case["labels"])
        assert (score[labels == 1] > thr).all() and (score[labels == 0] < thr).all(), case["name"]


def test_the_samples_are_the_golden_inputs_and_the_prompt_decides() -> None:
    g = {c["name"]: c for c in json.loads((D / "golden.json").read_text())["cases"]}
    np.testing.assert_array_equal(decode_array(g["good-a"]["inputs"]["image"]), _sample("good-a"))
    np.testing.assert_array_equal(decode_array(g["good-a"]["inputs"]["prompt"]), _sample("prompt-a"))
    np.testing.assert_array_equal(decode_array(g["defect-b"]["inputs"]["prompt"]), _sample("prompt-b"))
    thr = json.loads((D / "model.json").read_text())["calibration"]["image"]["threshold"]
    model = D / "model.onnx"
    for p, q in (("a", "b"), ("b", "a")):
        own = ort_outputs(model, {"image": _sample(f"good-{p}"), "prompt": _sample(f"prompt-{p}")})["score"][0]
        other = ort_outputs(model, {"image": _sample(f"good-{p}"), "prompt": _sample(f"prompt-{q}")})["score"][0]
        assert own < thr < other, (p, own, other)
    # cosine-pool: each good frame's nearest prompt is its own product's
    pool = ort_outputs(D / "embed.onnx", np.concatenate([_sample("prompt-a"), _sample("prompt-b")]))["global_feature"]
    for i, p in enumerate(("a", "b")):
        frame = ort_outputs(D / "embed.onnx", _sample(f"defect-{p}"))["global_feature"][0]
        assert int(np.argmax(pool @ frame)) == i


@pytest.mark.skipif(not os.environ.get("LW_REGEN_FIXTURES"), reason="set LW_REGEN_FIXTURES=1 (a minute or two)")
def test_regeneration_is_deterministic(tmp_path) -> None:
    fixture.generate(tmp_path)
    a = json.loads((tmp_path / fixture.NAME / "model.json").read_text())
    b = json.loads((D / "model.json").read_text())
    assert a["sha256"] == b["sha256"] and a["prompt"]["embedding"]["sha256"] == b["prompt"]["embedding"]["sha256"]
    c = json.loads((tmp_path / fixture.POOL_NAME / "model.json").read_text())
    assert c["sha256"] == b["sha256"] and c["prompt"]["selection"] == "cosine-pool"


POOL = D.parent / fixture.POOL_NAME


def test_the_pool_bundle_is_the_same_model_with_selection_cosine_pool() -> None:
    m = read_manifest(POOL)  # schema mirror, both sha256
    r = read_manifest(D)
    assert m["prompt"]["selection"] == "cosine-pool" and m["training"]["recipe"]["pool_size"] == 2
    assert (m["sha256"], m["prompt"]["embedding"]["sha256"]) == (r["sha256"], r["prompt"]["embedding"]["sha256"])
    assert (POOL / "model.onnx").read_bytes() == (D / "model.onnx").read_bytes()
    g = json.loads((POOL / "golden.json").read_text())
    for case in g["cases"]:
        inputs = {k: decode_array(v) for k, v in case["inputs"].items()}
        got = ort_outputs(POOL / "model.onnx", inputs)
        for k, v in case["outputs"].items():
            assert np.abs(got[k] - decode_array(v)).max() <= g["tolerance"], (case["name"], k)


def test_in_the_pool_bundle_each_good_sample_is_nearest_to_its_own_products_pool() -> None:
    names = ["prompt-a", "pool-a", "prompt-b", "pool-b"]
    pool = np.concatenate([np.asarray(Image.open(POOL / "samples" / f"{n}.png").convert("RGB"))[None] for n in names])
    feats = ort_outputs(POOL / "embed.onnx", {"image": pool})["global_feature"]
    for p in ("a", "b"):
        f = ort_outputs(POOL / "embed.onnx", {"image": _sample(f"good-{p}")})["global_feature"][0]
        assert names[int(np.argmax(feats @ f))].endswith(p)
