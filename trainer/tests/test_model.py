"""The INP-Former module, the encoder, the recipe and the RUN folder."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trainer.models.inp_former import (
    DinoV2Encoder,
    EncoderConfig,
    InpFormer,
    InpFormerConfig,
    RecipeConfig,
    coherence_distance,
    gaussian_kernel,
    load_dinov2_weights,
    reference,
    topk_count,
)
from trainer.models.inp_former.encoder import resize_pos_embed
from trainer.preprocess import Geometry, normalize
from trainer.run import (
    RunConfig,
    RunError,
    create_run,
    load_run,
    save_checkpoint,
    staging_dir,
)


@pytest.fixture(scope="module")
def tiny() -> InpFormer:
    torch.manual_seed(0)
    return InpFormer(InpFormerConfig.for_size("tiny")).eval()


def test_key_names_are_the_authors(tiny: InpFormer) -> None:
    keys = set(tiny.state_dict())
    assert "prototype_token" in keys
    tops = {k.split(".")[0] for k in keys}
    assert tops == {"prototype_token", "encoder", "bottleneck", "aggregation", "decoder"}
    assert {k.split(".")[1] for k in keys if k.startswith("decoder.")} == {str(i) for i in range(8)}
    for k in ["bottleneck.0.fc1.weight", "bottleneck.0.fc2.bias", "aggregation.0.norm1.weight",
              "aggregation.0.attn.q.weight", "aggregation.0.attn.kv.bias", "aggregation.0.attn.proj.weight",
              "aggregation.0.mlp.fc1.weight", "decoder.3.attn.learn_scale", "decoder.7.attn.kv.weight",
              "decoder.0.norm2.bias", "encoder.register_tokens", "encoder.mask_token", "encoder.cls_token",
              "encoder.pos_embed", "encoder.patch_embed.proj.weight", "encoder.blocks.9.ls2.gamma",
              "encoder.blocks.0.attn.qkv.bias", "encoder.norm.weight"]:
        assert k in keys, k
    assert tiny.decoder[0].attn.learn_scale.shape == (tiny.config.num_heads, 1, 1)
    assert tiny.decoder[0].norm1.eps == 1e-8 and tiny.aggregation[0].norm1.eps == 1e-8


def test_authors_sizes() -> None:
    for size, dim, heads, target in [("small", 384, 6, [2, 3, 4, 5, 6, 7, 8, 9]),
                                     ("base", 768, 12, [2, 3, 4, 5, 6, 7, 8, 9]),
                                     ("large", 1024, 16, [4, 6, 8, 10, 12, 14, 16, 18])]:
        c = InpFormerConfig.for_size(size)
        assert (c.embed_dim, c.num_heads, c.target_layers) == (dim, heads, target)
        assert c.encoder.pretrain_grid == 37 and c.encoder.num_register_tokens == 4


def test_forward_shapes_and_groups(tiny: InpFormer) -> None:
    x = normalize(torch.randint(0, 256, (2, 56, 56, 3), dtype=torch.uint8))
    out = tiny(x)
    assert len(out.en) == len(out.de) == 2
    assert all(t.shape == (2, 24, 4, 4) for t in out.en + out.de)
    assert out.tokens.shape == (2, 16, 24) and out.prototypes.shape == (2, 6, 24)
    # group 0 of the encoder is the mean of kept layers 0..3 (blocks 2..5)
    layers = tiny.encoder.forward_layers(x, tiny.config.target_layers)
    g0 = torch.stack(layers[:4], 1).mean(1).permute(0, 2, 1).reshape(2, 24, 4, 4)
    torch.testing.assert_close(out.en[0], g0)
    d = coherence_distance(out.tokens, out.prototypes)
    assert d.shape == (2, 16) and bool((d >= 0).all())


def test_blocks_after_the_last_target_do_not_run(tiny: InpFormer) -> None:
    calls = []
    h = tiny.encoder.blocks[9].register_forward_hook(lambda *a: calls.append(9))
    with torch.no_grad():
        tiny(normalize(torch.zeros(1, 56, 56, 3, dtype=torch.uint8)))
    h.remove()
    assert calls == [9]
    enc = DinoV2Encoder(EncoderConfig.for_size("tiny", depth=12))
    h = enc.blocks[11].register_forward_hook(lambda *a: calls.append(11))
    enc.forward_layers(torch.zeros(1, 3, 28, 28), [2, 3])
    h.remove()
    assert 11 not in calls


def test_pos_embed_precomputed_matches_dinov2_interpolation() -> None:
    torch.manual_seed(1)
    pos = torch.randn(1, 1 + 37 * 37, 8)
    got = resize_pos_embed(pos, 28, 28, 0.1)
    grid = pos[:, 1:].reshape(1, 37, 37, 8).permute(0, 3, 1, 2)
    want = F.interpolate(grid, scale_factor=(28.1 / 37, 28.1 / 37), mode="bicubic", align_corners=False)
    want = torch.cat([pos[:, :1], want.permute(0, 2, 3, 1).reshape(1, 784, 8)], 1)
    torch.testing.assert_close(got, want)
    assert resize_pos_embed(pos, 37, 37) is pos


def test_forward_with_precomputed_pos_is_identical(tiny: InpFormer) -> None:
    x = normalize(torch.randint(0, 256, (1, 56, 56, 3), dtype=torch.uint8))
    a = tiny(x)
    b = tiny(x, pos=tiny.encoder.pos_embed_for(56, 56))
    torch.testing.assert_close(a.de[1], b.de[1], rtol=0, atol=0)


def test_gaussian_matches_models_md() -> None:
    w1 = [0.18762716, 0.20606812, 0.21260943, 0.20606812, 0.18762716]
    k = gaussian_kernel(5, 4.0)[0, 0]
    np.testing.assert_allclose(k.sum(1).numpy(), w1, atol=1e-7)
    np.testing.assert_allclose(k.numpy(), np.outer(w1, w1), atol=1e-7)


def test_topk_count() -> None:
    assert topk_count(256, 256, 0.01) == 655
    assert topk_count(64, 64, 0.01) == 40
    assert topk_count(4, 4, 0.01) == 1


def test_reference_recipe_shapes(tiny: InpFormer) -> None:
    x = normalize(torch.randint(0, 256, (3, 56, 56, 3), dtype=torch.uint8))
    amap, score = reference(tiny(x), (56, 56), RecipeConfig(64, 64))
    assert amap.shape == (3, 1, 64, 64) and score.shape == (3,)
    top = torch.sort(amap.flatten(1), 1, descending=True).values[:, :40].mean(1)
    torch.testing.assert_close(score, top)


def test_geometry_crop_box_like_torchvision() -> None:
    assert Geometry(448, 448, 392, 392).crop_box() == (28, 28, 420, 420)
    assert Geometry(64, 64, 56, 56).crop_box() == (4, 4, 60, 60)


def test_load_dinov2_weights(tmp_path, tiny: InpFormer) -> None:
    enc = DinoV2Encoder(EncoderConfig.for_size("tiny"))
    sd = {k: torch.randn_like(v) for k, v in enc.state_dict().items()}
    p = tmp_path / "dinov2_tiny.pth"
    torch.save(sd, p)
    load_dinov2_weights(enc, p)
    torch.testing.assert_close(enc.pos_embed.data, sd["pos_embed"])
    bad = dict(sd)
    bad.pop("blocks.3.attn.qkv.weight")
    bad["blocks.3.extra"] = torch.zeros(1)
    torch.save(bad, p)
    with pytest.raises(ValueError, match=r"dinov2_tiny.pth.*blocks\.3\.attn\.qkv\.weight.*blocks\.3\.extra"):
        load_dinov2_weights(DinoV2Encoder(EncoderConfig.for_size("tiny")), p)


def test_run_roundtrip(tmp_path, tiny: InpFormer) -> None:
    cfg = RunConfig(model=tiny.config, geometry=Geometry(64, 64, 56, 56), recipe=RecipeConfig(64, 64),
                    data={"calibration": ["a.png"]}, training={"seed": 3})
    run_dir = create_run(tmp_path / "run", cfg, tiny.state_dict(), metrics={"mean": {"I-AUROC": 1.0}})
    run = load_run(run_dir)
    assert run.config.to_dict() == cfg.to_dict()
    assert run.metrics == {"mean": {"I-AUROC": 1.0}}
    for k, v in tiny.state_dict().items():
        torch.testing.assert_close(run.model.state_dict()[k], v)
    on_disk = json.loads((run_dir / "config.json").read_text())
    assert on_disk["format"] == "linewatch-run/1" and on_disk["model"]["encoder"]["size"] == "tiny"
    # resumable checkpoint: optimizer and step survive
    opt = torch.optim.AdamW(tiny.trainable_parameters(), lr=1e-3)
    save_checkpoint(run_dir, tiny.state_dict(), step=7, optimizer=opt.state_dict())
    assert load_run(run_dir).checkpoint["step"] == 7


def test_run_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(RunError, match="config.json"):
        load_run(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(RunError, match="config.json"):
        load_run(tmp_path)


def test_staging_dir_leaves_nothing_on_error(tmp_path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), staging_dir(out) as tmp:
        (tmp / "x").write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_encoder_grad_flag(tiny: InpFormer) -> None:
    x = normalize(torch.randint(0, 256, (1, 56, 56, 3), dtype=torch.uint8))
    out = tiny(x)
    assert not out.en[0].requires_grad and out.de[0].requires_grad
    assert math.isfinite(float(out.de[0].sum()))
