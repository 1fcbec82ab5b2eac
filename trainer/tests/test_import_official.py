"""Fidelity to the authors: a state_dict with their key names → import-official → export.

The reference forward below is written from shared/MODELS.md with plain functional ops on the
state_dict's tensors; it shares no code with trainer.models. The exported ONNX model must reproduce
its maps and scores within 1e-4.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trainer import import_official as io
from trainer.export import export_bundle, ort_outputs
from trainer.models.inp_former import official
from trainer.preprocess import Geometry
from trainer.run import load_run

D, HEADS, DEPTH, REGS, PATCH, GRID0 = 32, 4, 10, 4, 14, 5  # small width; 5×5 positional grid
LAYERS = [2, 3, 4, 5, 6, 7, 8, 9]
CROP, RESIZE, EVAL = 56, 64, 64
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
W1 = torch.tensor([0.18762716, 0.20606812, 0.21260943, 0.20606812, 0.18762716])


def authors_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random values under the authors' key names (INP_Former with a dinov2reg ViT)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int, s: float = 0.15) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * s

    def ln(prefix: str) -> dict[str, torch.Tensor]:
        return {f"{prefix}.weight": 1 + r(D, s=0.1), f"{prefix}.bias": r(D, s=0.1)}

    def lin(prefix: str, o: int, i: int) -> dict[str, torch.Tensor]:
        return {f"{prefix}.weight": r(o, i, s=1 / math.sqrt(i)), f"{prefix}.bias": r(o, s=0.05)}

    sd: dict[str, torch.Tensor] = {"prototype_token": torch.randn(6, D, generator=g)}
    sd.update({
        "encoder.cls_token": r(1, 1, D), "encoder.pos_embed": r(1, 1 + GRID0 * GRID0, D, s=0.3),
        "encoder.register_tokens": r(1, REGS, D), "encoder.mask_token": r(1, D),
        "encoder.patch_embed.proj.weight": r(D, 3, PATCH, PATCH, s=0.05), "encoder.patch_embed.proj.bias": r(D),
    })
    for i in range(DEPTH):
        p = f"encoder.blocks.{i}"
        sd.update(ln(f"{p}.norm1") | ln(f"{p}.norm2"))
        sd.update(lin(f"{p}.attn.qkv", 3 * D, D) | lin(f"{p}.attn.proj", D, D))
        sd.update(lin(f"{p}.mlp.fc1", 4 * D, D) | lin(f"{p}.mlp.fc2", D, 4 * D))
        sd[f"{p}.ls1.gamma"] = 0.5 + r(D, s=0.1)
        sd[f"{p}.ls2.gamma"] = 0.5 + r(D, s=0.1)
    sd.update(ln("encoder.norm"))
    sd.update(lin("bottleneck.0.fc1", 4 * D, D) | lin("bottleneck.0.fc2", D, 4 * D))
    p = "aggregation.0"
    sd.update(ln(f"{p}.norm1") | ln(f"{p}.norm2") | lin(f"{p}.attn.q", D, D) | lin(f"{p}.attn.kv", 2 * D, D))
    sd.update(lin(f"{p}.attn.proj", D, D) | lin(f"{p}.mlp.fc1", 4 * D, D) | lin(f"{p}.mlp.fc2", D, 4 * D))
    for j in range(8):
        p = f"decoder.{j}"
        sd.update(ln(f"{p}.norm1") | ln(f"{p}.norm2") | lin(f"{p}.attn.q", D, D) | lin(f"{p}.attn.kv", 2 * D, D))
        sd.update(lin(f"{p}.attn.proj", D, D) | lin(f"{p}.mlp.fc1", 4 * D, D) | lin(f"{p}.mlp.fc2", D, 4 * D))
        sd[f"{p}.attn.learn_scale"] = 1 + r(HEADS, 1, 1, s=0.3)
    return sd


def _heads(t: torch.Tensor) -> torch.Tensor:
    b, n, _ = t.shape
    return t.view(b, n, HEADS, D // HEADS).transpose(1, 2)


def _merge(t: torch.Tensor) -> torch.Tensor:
    b, _, n, _ = t.shape
    return t.transpose(1, 2).reshape(b, n, D)


def reference_forward(sd: dict[str, torch.Tensor], image: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """MODELS.md, step by step: returns (map [B,1,EVAL,EVAL], score [B])."""
    w = sd.__getitem__
    x = (torch.from_numpy(image).float().permute(0, 3, 1, 2) / 255 - MEAN) / STD
    b = x.shape[0]
    g = CROP // PATCH
    # DINOv2 tokens: patches, CLS, positional embedding (bicubic, scale (g + 0.1) / M), registers
    t = F.conv2d(x, w("encoder.patch_embed.proj.weight"), w("encoder.patch_embed.proj.bias"), stride=PATCH)
    t = t.flatten(2).transpose(1, 2)
    pos = w("encoder.pos_embed")
    grid = pos[:, 1:].reshape(1, GRID0, GRID0, D).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((g + 0.1) / GRID0, (g + 0.1) / GRID0), mode="bicubic",
                         align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, g * g, D)
    t = torch.cat([w("encoder.cls_token").expand(b, -1, -1) + pos[:, :1], t + grid], 1)
    t = torch.cat([t[:, :1], w("encoder.register_tokens").expand(b, -1, -1), t[:, 1:]], 1)
    kept = []
    for i in range(max(LAYERS) + 1):
        p = f"encoder.blocks.{i}."
        h = F.layer_norm(t, (D,), w(p + "norm1.weight"), w(p + "norm1.bias"), 1e-6)
        q, k, v = F.linear(h, w(p + "attn.qkv.weight"), w(p + "attn.qkv.bias")).chunk(3, dim=-1)
        a = torch.softmax(_heads(q) @ _heads(k).transpose(-1, -2) / math.sqrt(D // HEADS), -1)
        t = t + w(p + "ls1.gamma") * F.linear(_merge(a @ _heads(v)), w(p + "attn.proj.weight"), w(p + "attn.proj.bias"))
        h = F.layer_norm(t, (D,), w(p + "norm2.weight"), w(p + "norm2.bias"), 1e-6)
        h = F.linear(F.gelu(F.linear(h, w(p + "mlp.fc1.weight"), w(p + "mlp.fc1.bias"))), w(p + "mlp.fc2.weight"),
                     w(p + "mlp.fc2.bias"))
        t = t + w(p + "ls2.gamma") * h
        if i in LAYERS:
            kept.append(t[:, 1 + REGS:])
    x = torch.stack(kept).mean(0)

    def mlp(p: str, z: torch.Tensor) -> torch.Tensor:
        return F.linear(F.gelu(F.linear(z, w(p + "fc1.weight"), w(p + "fc1.bias"))), w(p + "fc2.weight"),
                        w(p + "fc2.bias"))

    # INP extractor: shared LayerNorm (eps 1e-8), softmax attention, residual, MLP
    p = "aggregation.0."

    def ln1(z: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(z, (D,), w(p + "norm1.weight"), w(p + "norm1.bias"), 1e-8)

    protos = w("prototype_token").unsqueeze(0).expand(b, -1, -1)
    q = F.linear(ln1(protos), w(p + "attn.q.weight"), w(p + "attn.q.bias"))
    k, v = F.linear(ln1(x), w(p + "attn.kv.weight"), w(p + "attn.kv.bias")).chunk(2, dim=-1)
    a = torch.softmax(_heads(q) @ _heads(k).transpose(-1, -2) / math.sqrt(D // HEADS), -1)
    protos = protos + F.linear(_merge(a @ _heads(v)), w(p + "attn.proj.weight"), w(p + "attn.proj.bias"))
    protos = protos + mlp(p + "mlp.", F.layer_norm(protos, (D,), w(p + "norm2.weight"), w(p + "norm2.bias"), 1e-8))
    # bottleneck, then the INP-guided decoder (keys/values from the prototypes only)
    y = mlp("bottleneck.0.", x)
    outs = []
    for j in range(8):
        p = f"decoder.{j}."
        n1w, n1b = w(p + "norm1.weight"), w(p + "norm1.bias")
        q = F.linear(F.layer_norm(y, (D,), n1w, n1b, 1e-8), w(p + "attn.q.weight"), w(p + "attn.q.bias"))
        kv = F.linear(F.layer_norm(protos, (D,), n1w, n1b, 1e-8), w(p + "attn.kv.weight"), w(p + "attn.kv.bias"))
        k, v = kv.chunk(2, dim=-1)
        qn, kn = F.normalize(_heads(q), dim=-1), F.normalize(_heads(k), dim=-1)
        a = torch.relu(qn @ kn.transpose(-1, -2) * w(p + "attn.learn_scale"))
        y = F.linear(_merge(a @ _heads(v)), w(p + "attn.proj.weight"), w(p + "attn.proj.bias"))
        y = y + mlp(p + "mlp.", F.layer_norm(y, (D,), w(p + "norm2.weight"), w(p + "norm2.bias"), 1e-8))
        outs.append(y)
    outs = outs[::-1]
    maps = []
    for idx in ([0, 1, 2, 3], [4, 5, 6, 7]):
        e = torch.stack([kept[i] for i in idx]).mean(0)
        d = torch.stack([outs[i] for i in idx]).mean(0)
        m = (1 - F.cosine_similarity(e, d, dim=-1)).view(b, 1, g, g)
        maps.append(F.interpolate(m, size=(CROP, CROP), mode="bilinear", align_corners=True))
    amap = torch.cat(maps, 1).mean(1, keepdim=True)
    amap = F.interpolate(amap, size=(EVAL, EVAL), mode="bilinear", align_corners=False)
    amap = F.conv2d(amap, torch.outer(W1, W1).view(1, 1, 5, 5), padding=2)
    k = int(EVAL * EVAL * 0.01)
    score = torch.sort(amap.flatten(1), 1, descending=True).values[:, :k].mean(1)
    return amap, score


def _args(**kw: object) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    io.add_arguments(p)
    argv = []
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return p.parse_args(argv)


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[dict[str, torch.Tensor], object]:
    root = tmp_path_factory.mktemp("official")
    sd = authors_state_dict()
    torch.save(sd, root / "model.pth")
    io.main(_args(checkpoint=root / "model.pth", encoder="custom", out=root / "run", resize=RESIZE, crop=CROP,
                  eval_size=EVAL))
    return sd, load_run(root / "run")


@pytest.mark.parametrize("mode", ["full", "raw"])
def test_import_and_export_reproduce_the_reference(tmp_path, imported, mode) -> None:
    sd, run = imported
    assert run.config.model.encoder.pretrain_grid == GRID0 and run.config.model.num_heads == HEADS
    images = np.random.default_rng(11).integers(0, 256, (3, CROP, CROP, 3), dtype=np.uint8)
    export_bundle(run.model, run.config, tmp_path / "b", calib_images=images[:2], calib_source="t",
                  map_mode=mode, progress=False)
    ref_map, ref_score = reference_forward(sd, images)
    for n in (1, 2):
        got = ort_outputs(tmp_path / "b" / "model.onnx", images[:n])
        if mode == "full":
            assert np.abs(got["anomaly_map"] - ref_map[:n].numpy()).max() <= 1e-4
            assert np.abs(got["score"] - ref_score[:n].numpy()).max() <= 1e-4
        else:
            from trainer.models.inp_former import finish_map, image_score

            final = finish_map(torch.from_numpy(got["anomaly_map"]), (CROP, CROP), run.config.recipe)
            assert np.abs(final.numpy() - ref_map[:n].numpy()).max() <= 1e-4
            assert np.abs(image_score(final, 0.01).numpy() - ref_score[:n].numpy()).max() <= 1e-4
    assert float(ref_score.std()) > 1e-3  # the images are told apart: the test is not vacuous


def test_missing_and_unexpected_keys_name_file_and_keys(tmp_path) -> None:
    sd = authors_state_dict()
    sd.pop("decoder.5.attn.kv.weight")
    sd["decoder.5.attn.extra"] = torch.zeros(2)
    torch.save(sd, tmp_path / "broken.pth")
    with pytest.raises(io.CheckpointError, match=r"broken\.pth.*missing keys.*decoder\.5\.attn\.kv\.weight"
                                                 r".*unexpected keys.*decoder\.5\.attn\.extra"):
        official.import_official(tmp_path / "broken.pth", "custom", tmp_path / "run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.pth"]


def test_wrong_shape_and_wrong_encoder(tmp_path) -> None:
    sd = authors_state_dict()
    sd["decoder.2.mlp.fc1.weight"] = torch.zeros(5, D)
    torch.save(sd, tmp_path / "shape.pth")
    with pytest.raises(io.CheckpointError, match=r"shape\.pth.*decoder\.2\.mlp\.fc1\.weight"):
        official.import_official(tmp_path / "shape.pth", "custom", tmp_path / "run")
    torch.save(authors_state_dict(), tmp_path / "small.pth")
    with pytest.raises(io.CheckpointError, match=r"small\.pth.*dinov2reg_vit_base_14.*embed_dim 32"):
        official.import_official(tmp_path / "small.pth", "dinov2reg_vit_base_14", tmp_path / "run")
    with pytest.raises(io.CheckpointError, match="not found"):
        official.import_official(tmp_path / "nope.pth", "custom", tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_wrapped_and_dataparallel_checkpoints(tmp_path) -> None:
    sd = {f"module.{k}": v for k, v in authors_state_dict().items()}
    torch.save({"model": sd, "epoch": 3}, tmp_path / "wrapped.pth")
    cfg = official.import_official(tmp_path / "wrapped.pth", "custom", tmp_path / "run",
                             geometry=Geometry(64, 64, 56, 56))
    assert cfg.model.embed_dim == D and (tmp_path / "run" / "checkpoint.pt").is_file()


class _Payload:
    """Anything that is not a tensor or a plain container: what a tampered checkpoint would carry."""


@pytest.mark.skipif(int(torch.__version__.split(".")[0]) < 2, reason="PyTorch 1.13 has no usable weights-only reader")
def test_a_checkpoint_carrying_objects_is_refused_on_torch2(tmp_path) -> None:
    path = tmp_path / "tampered.pth"
    torch.save({"model": {"w": torch.zeros(2)}, "extra": _Payload()}, path)
    with pytest.raises(io.CheckpointError, match="tampered.pth: cannot read checkpoint"):
        io.read_state_dict(path)
