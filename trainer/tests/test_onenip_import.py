"""OneNIP's fidelity to the authors: a checkpoint with their key names → import-official → export.

The checkpoint holds random values under the authors' 856 keys (``module.`` prefix, wrapped in
``{"state_dict": …}``): the EfficientNet-B4 at its real shapes, the reconstruction at a small
width (32 dims, 4 heads, 4 + 4 layers) on a 4×4 token grid (64 px). The reference forward below is
written from shared/MODELS.md with functional ops (``F.multi_head_attention_forward`` for every
attention, the B4's "same" padding re-derived for 380 px here); it shares no code with
trainer.models. ONNX Runtime's maps and scores must match it within 1e-4 at batch 1 and 2, every
image with its own prompt; a first-release (``v1``) checkpoint's imported module must match the
reference with that decoder, and not with the other.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trainer import import_official as io
from trainer.cli import main as cli_main
from trainer.export import ort_outputs
from trainer.synth import SynthOptions, synthesize

D, HEADS, FFN, REFINE, GRID, LAYERS = 32, 4, 64, 16, 4, 4
SIZE = 16 * GRID
C_FIXED = 0.7
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
# EfficientNet-B4 (width 1.4, depth 1.8): per stage (blocks, kernel, stride, expand, out channels).
B4 = [(2, 3, 1, 1, 24), (4, 3, 2, 6, 32), (4, 5, 2, 6, 56), (6, 3, 2, 6, 112), (6, 5, 1, 6, 160),
      (8, 5, 2, 6, 272), (2, 3, 1, 6, 448)]


def b4_blocks() -> list[dict]:
    """Each block's shapes and its static padding, derived for a 380 px input."""
    blocks, cin, size = [], 48, math.ceil(380 / 2)
    for n, k, s, e, cout in B4:
        for r in range(n):
            stride = s if r == 0 else 1
            out = math.ceil(size / stride)
            total = max((out - 1) * stride + k - size, 0)
            blocks.append({"cin": cin, "cout": cout, "k": k, "s": stride, "e": e,
                           "pad": (total // 2, total - total // 2, total // 2, total - total // 2)})
            cin, size = cout, out
    return blocks


def authors_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random values under the authors' key names (with ``module.``)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int, s: float = 0.1) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * s

    def conv(o: int, i: int, k: int, gain: float = 1.0) -> torch.Tensor:
        return r(o, i, k, k, s=gain / math.sqrt(i * k * k))

    def bn(p: str, c: int) -> dict[str, torch.Tensor]:
        return {f"{p}.weight": 1 + r(c), f"{p}.bias": r(c), f"{p}.running_mean": r(c),
                f"{p}.running_var": 0.5 + torch.rand(c, generator=g), f"{p}.num_batches_tracked": torch.tensor(7)}

    def lin(p: str, o: int, i: int) -> dict[str, torch.Tensor]:
        return {f"{p}.weight": r(o, i, s=1 / math.sqrt(i)), f"{p}.bias": r(o, s=0.05)}

    def ln(p: str) -> dict[str, torch.Tensor]:
        return {f"{p}.weight": 1 + r(D), f"{p}.bias": r(D)}

    def mha(p: str) -> dict[str, torch.Tensor]:
        return {f"{p}.in_proj_weight": r(3 * D, D, s=1 / math.sqrt(D)), f"{p}.in_proj_bias": r(3 * D, s=0.05),
                **lin(f"{p}.out_proj", D, D)}

    sd = {"backbone._conv_stem.weight": conv(48, 3, 3), **bn("backbone._bn0", 48)}
    for i, b in enumerate(b4_blocks()):
        p, mid = f"backbone._blocks.{i}", b["cin"] * b["e"]
        if b["e"] != 1:
            sd |= {f"{p}._expand_conv.weight": conv(mid, b["cin"], 1)} | bn(f"{p}._bn0", mid)
        sd |= {f"{p}._depthwise_conv.weight": r(mid, 1, b["k"], b["k"], s=1 / b["k"])} | bn(f"{p}._bn1", mid)
        sq = max(1, int(b["cin"] * 0.25))
        sd |= {f"{p}._se_reduce.weight": conv(sq, mid, 1), f"{p}._se_reduce.bias": r(sq),
               f"{p}._se_expand.weight": conv(mid, sq, 1), f"{p}._se_expand.bias": r(mid)}
        sd |= {f"{p}._project_conv.weight": conv(b["cout"], mid, 1, 0.5)} | bn(f"{p}._bn2", b["cout"])
    sd |= {"backbone._conv_head.weight": conv(1792, 448, 1)} | bn("backbone._bn1", 1792)
    sd |= lin("backbone._fc", 1000, 1792)
    q = "reconstruction"
    sd |= {f"{q}.pos_embed.row_embed.weight": torch.rand(GRID, D // 2, generator=g),
           f"{q}.pos_embed.col_embed.weight": torch.rand(GRID, D // 2, generator=g)}
    sd |= lin(f"{q}.input_proj", D, 272) | lin(f"{q}.output_proj", 272, D)
    for i in range(LAYERS):
        p = f"{q}.transformer.encoder.layers.{i}"
        sd |= mha(f"{p}.self_attn") | lin(f"{p}.linear1", FFN, D) | lin(f"{p}.linear2", D, FFN)
        sd |= ln(f"{p}.norm1") | ln(f"{p}.norm2")
        p = f"{q}.transformer.decoder.layers.{i}"
        sd |= mha(f"{p}.cross_attn_prompt_to_image") | mha(f"{p}.cross_attn_image_to_prompt")
        sd |= lin(f"{p}.mlp.lin1", FFN, D) | lin(f"{p}.mlp.lin2", D, FFN)
        sd |= ln(f"{p}.norm1") | ln(f"{p}.norm2") | ln(f"{p}.norm3")
    sd |= mha(f"{q}.transformer.decoder.final_attn_token_to_image") | ln(f"{q}.transformer.decoder.norm")
    for k, cin in ((1, 272), (2, REFINE)):
        p = f"{q}.seghead.upconv{k}"
        sd |= {f"{p}.0.weight": conv(REFINE, cin, 3)} | bn(f"{p}.1", REFINE)
        sd |= {f"{p}.3.weight": r(REFINE, REFINE, 2, 2, s=0.5 / math.sqrt(REFINE)), f"{p}.3.bias": r(REFINE)}
    sd |= {f"{q}.seghead.predictor.weight": conv(1, REFINE, 1), f"{q}.seghead.predictor.bias": r(1)}
    return {f"module.{k}": v for k, v in sd.items()}


def reference_forward(sd: dict[str, torch.Tensor], image: np.ndarray, prompt: np.ndarray, decoder: str,
                      c: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MODELS.md, step by step: (final map [B,1,S,S], score [B], rec map [B,1,S,S])."""
    w = {k[len("module."):]: v for k, v in sd.items()}.__getitem__

    def bn(x: torch.Tensor, p: str) -> torch.Tensor:
        return F.batch_norm(x, w(p + ".running_mean"), w(p + ".running_var"), w(p + ".weight"), w(p + ".bias"),
                            False, 0.0, 1e-3)

    def swish(x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)

    def features(img: np.ndarray) -> torch.Tensor:
        x = (torch.from_numpy(img).float().permute(0, 3, 1, 2) / 255 - MEAN) / STD
        x = swish(bn(F.conv2d(F.pad(x, (0, 1, 0, 1)), w("backbone._conv_stem.weight"), stride=2), "backbone._bn0"))
        levels = []
        for i, b in enumerate(b4_blocks()[:22]):
            p = f"backbone._blocks.{i}"
            y = x
            if b["e"] != 1:
                y = swish(bn(F.conv2d(y, w(p + "._expand_conv.weight")), p + "._bn0"))
            y = F.conv2d(F.pad(y, b["pad"]), w(p + "._depthwise_conv.weight"), stride=b["s"], groups=y.shape[1])
            y = swish(bn(y, p + "._bn1"))
            s = F.conv2d(swish(F.conv2d(y.mean((2, 3), keepdim=True), w(p + "._se_reduce.weight"),
                                        w(p + "._se_reduce.bias"))), w(p + "._se_expand.weight"), w(p + "._se_expand.bias"))
            y = bn(F.conv2d(torch.sigmoid(s) * y, w(p + "._project_conv.weight")), p + "._bn2")
            x = y + x if (b["s"] == 1 and b["cin"] == b["cout"]) else y
            if i in (1, 5, 9, 21):
                levels.append(F.interpolate(x, size=(GRID, GRID), mode="bilinear", align_corners=True))
        return torch.cat(levels, 1)  # [B, 272, g, g]

    q = "reconstruction."
    pos = torch.cat([w(q + "pos_embed.col_embed.weight").unsqueeze(0).expand(GRID, GRID, -1),
                     w(q + "pos_embed.row_embed.weight").unsqueeze(1).expand(GRID, GRID, -1)], -1).reshape(-1, 1, D)
    ys, xs = torch.div(torch.arange(GRID * GRID), GRID, rounding_mode="floor"), torch.arange(GRID * GRID) % GRID
    near = ((ys[:, None] - ys[None]).abs() <= (GRID // 2) // 2) & ((xs[:, None] - xs[None]).abs() <= (GRID // 2) // 2)
    mask = torch.zeros(GRID * GRID, GRID * GRID).masked_fill(near, float("-inf"))

    def attn(p: str, qq: torch.Tensor, kk: torch.Tensor, vv: torch.Tensor, m: torch.Tensor | None) -> torch.Tensor:
        return F.multi_head_attention_forward(
            qq, kk, vv, D, HEADS, w(p + ".in_proj_weight"), w(p + ".in_proj_bias"), None, None, False, 0.0,
            w(p + ".out_proj.weight"), w(p + ".out_proj.bias"), training=False, need_weights=False, attn_mask=m)[0]

    def norm(x: torch.Tensor, p: str) -> torch.Tensor:
        return F.layer_norm(x, (D,), w(p + ".weight"), w(p + ".bias"))

    def lin(x: torch.Tensor, p: str) -> torch.Tensor:
        return F.linear(x, w(p + ".weight"), w(p + ".bias"))

    def encode(feat: torch.Tensor) -> torch.Tensor:  # seq-first [L, B, D], post-norm
        x = lin(feat.flatten(2).permute(2, 0, 1), q + "input_proj")
        for i in range(LAYERS):
            p = f"{q}transformer.encoder.layers.{i}"
            x = norm(x + attn(p + ".self_attn", x + pos, x + pos, x, mask), p + ".norm1")
            x = norm(x + lin(torch.relu(lin(x, p + ".linear1")), p + ".linear2"), p + ".norm2")
        return x

    feat = features(image)
    tgt, prm = encode(feat), encode(features(prompt))
    for i in range(LAYERS):
        p = f"{q}transformer.decoder.layers.{i}"
        prm = norm(prm + attn(p + ".cross_attn_prompt_to_image", prm + pos, tgt + pos, tgt, mask), p + ".norm1")
        mlp = lin(torch.relu(lin(prm, p + ".mlp.lin1")), p + ".mlp.lin2")
        prm = norm(prm + mlp, p + ".norm2")
        back = attn(p + ".cross_attn_image_to_prompt", tgt + pos, prm + pos, prm, mask) if decoder == "v2" else mlp
        tgt = norm(tgt + back, p + ".norm3")
    prm = prm + attn(q + "transformer.decoder.final_attn_token_to_image", prm + pos, tgt + pos, tgt, None)
    prm = norm(prm, q + "transformer.decoder.norm")
    rec = lin(prm, q + "output_proj").permute(1, 2, 0).reshape(feat.shape)
    rec_map = F.interpolate(torch.linalg.vector_norm(rec - feat, dim=1, keepdim=True), size=(SIZE, SIZE),
                            mode="bilinear", align_corners=True)
    h = (rec - feat).abs()
    for k in (1, 2):
        p = f"{q}seghead.upconv{k}"
        h = torch.relu(bn(F.conv2d(h, w(p + ".0.weight"), padding=1), p + ".1"))
        h = F.conv_transpose2d(h, w(p + ".3.weight"), w(p + ".3.bias"), stride=2)
    logit = F.conv2d(h, w(q + "seghead.predictor.weight"), w(q + "seghead.predictor.bias"))
    refined = torch.sigmoid(F.interpolate(logit, size=(SIZE, SIZE), mode="bilinear", align_corners=True))
    final = 0.5 * rec_map + 0.5 * c * refined
    score = F.avg_pool2d(final, 16, stride=1).flatten(1).max(1).values
    return final, score, rec_map


@pytest.fixture(scope="module")
def prompt_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("onenip-prompts")
    synthesize(root / "set", 3, "surface", SynthOptions(size_px=SIZE, n_train=4, n_test_good=1, n_per_defect=1))
    return root / "set"


def _import(tmp: Path, sd: dict[str, torch.Tensor], data: Path, *extra: str) -> int:
    torch.save({"state_dict": sd}, tmp / "ckpt.pkl")
    return cli_main(["import-official", "--arch", "onenip", "--checkpoint", str(tmp / "ckpt.pkl"),
                     "--out", str(tmp / "run"), "--prompt-data", str(data), "--heads", str(HEADS), *extra])


def test_import_and_export_reproduce_the_reference(tmp_path, prompt_data) -> None:
    decoder = "v2"
    sd = authors_state_dict()
    assert len(sd) == 856 and sum(k.startswith("module.backbone.") for k in sd) == 706
    assert _import(tmp_path, sd, prompt_data, "--decoder", decoder, "--fusion-scale", str(C_FIXED)) == 0
    assert cli_main(["export", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "b"),
                     "--calib-data", str(prompt_data / "train" / "good")]) == 0
    manifest = json.loads((tmp_path / "b" / "model.json").read_text())
    assert manifest["input"]["batch"] == "dynamic" and manifest["prompt"]["name"] == "prompt"
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    prompts = rng.integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    ref_map, ref_score, _ = reference_forward(sd, images, prompts, decoder, C_FIXED)
    for n in (1, 2):
        got = ort_outputs(tmp_path / "b" / "model.onnx", {"image": images[:n], "prompt": prompts[:n]})
        assert np.abs(got["anomaly_map"] - ref_map[:n].numpy()).max() <= 1e-4
        assert np.abs(got["score"] - ref_score[:n].numpy()).max() <= 1e-4
    swapped = ort_outputs(tmp_path / "b" / "model.onnx", {"image": images, "prompt": prompts[::-1]})
    assert np.abs(swapped["score"] - ref_score.numpy()).max() > 1e-3, "each image is judged against its own prompt"
    assert float(ref_map.std()) > 1e-3 and float(np.abs(ref_score[0] - ref_score[1])) > 1e-4, "not vacuous"


def test_a_first_release_checkpoint_imports_with_its_own_decoder(tmp_path, prompt_data) -> None:
    """v1 differs from v2 only inside the module, which export traces and checks like any other
    (≤ 1e-4 against PyTorch, above); here the imported module itself meets the reference."""
    from trainer.models.onenip import fuse, image_score
    from trainer.preprocess import to_model_input
    from trainer.run import load_run

    sd = authors_state_dict(2)
    assert _import(tmp_path, sd, prompt_data, "--decoder", "v1", "--fusion-scale", str(C_FIXED)) == 0
    run = load_run(tmp_path / "run")
    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    prompts = rng.integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    with torch.no_grad():
        out = run.model(to_model_input(images), to_model_input(prompts))
        final = fuse(out.rec_map, out.ref_logit, run.config.recipe)
    for decoder, close in (("v1", True), ("v2", False)):
        ref_map, ref_score, _ = reference_forward(sd, images, prompts, decoder, C_FIXED)
        assert (np.abs(final.numpy() - ref_map.numpy()).max() <= 1e-4) == close, decoder
    assert np.abs(image_score(final, 16).numpy() - reference_forward(sd, images, prompts, "v1", C_FIXED)[1].numpy()).max() <= 1e-4


def test_c_is_measured_on_the_calibration_images_with_their_prompts(tmp_path, prompt_data) -> None:
    sd = authors_state_dict(1)
    calib = prompt_data / "test" / "good"
    assert _import(tmp_path, sd, prompt_data, "--calib-data", str(calib)) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    from trainer.data import load_images
    from trainer.preprocess import Geometry

    geo = Geometry(SIZE, SIZE, SIZE, SIZE)
    prompt = load_images([sorted((prompt_data / "train" / "good").iterdir())[0]], geo)  # recipe: first by name
    images = load_images(sorted(calib.iterdir()), geo)
    _, _, rec = reference_forward(sd, images, np.repeat(prompt, len(images), 0), "v2", 0.0)
    assert config["recipe"]["fusion_scale"] == pytest.approx(float(rec.max() + rec.min()) / 2, rel=1e-5)
    assert config["data"]["prompts"]["set"]["recipe"].endswith("000.png")


def test_mis_shaped_missing_and_unexpected_keys_are_refused_by_name(tmp_path, prompt_data, capsys) -> None:
    sd = authors_state_dict()
    sd["module.reconstruction.transformer.decoder.layers.2.mlp.lin1.weight"] = torch.zeros(5, D)
    assert _import(tmp_path, sd, prompt_data) == 1
    err = capsys.readouterr().err
    assert "ckpt.pkl" in err and "decoder.layers.2.mlp.lin1.weight (5, 32) (expected (64, 32))" in err
    sd = authors_state_dict()
    sd.pop("module.backbone._blocks.7._se_reduce.bias")
    sd["module.neck.extra"] = torch.zeros(1)
    assert _import(tmp_path, sd, prompt_data) == 1
    err = capsys.readouterr().err
    assert "missing keys (1): backbone._blocks.7._se_reduce.bias" in err and "unexpected keys (1): neck.extra" in err
    assert not (tmp_path / "run").exists(), "nothing half-written"
