"""OneNIP's module: the authors' key names, the backbone's traps, the mask, the decoders, two inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainer.models.onenip import (
    BackboneConfig,
    ConvBackbone,
    EfficientNetB4,
    OneNip,
    OneNipConfig,
    RecipeConfig,
    fuse,
    fusion_scale,
    image_score,
    neighbour_mask,
    neighbour_window,
    static_same_padding,
)
from trainer.models.onenip.train import dice_loss


def small(decoder: str = "v2", image_size: int = 64, **kw: object) -> OneNip:
    torch.manual_seed(0)
    cfg = OneNipConfig(backbone=BackboneConfig(kind="conv", conv_widths=[4, 4, 8, 8]), image_size=image_size,
                       hidden_dim=16, heads=2, ffn_dim=32, decoder=decoder, refiner_width=8, **kw)
    model = OneNip(cfg)
    model.reset_trainable()
    return model.eval()


def test_parameter_names_are_the_authors() -> None:
    sd = OneNip(OneNipConfig()).state_dict()
    assert len(sd) == 856, "the authors' checkpoints hold 856 keys under module."
    assert sum(k.startswith("backbone.") for k in sd) == 706
    assert sum(k.startswith("reconstruction.") for k in sd) == 150
    for key in [
        "backbone._conv_stem.weight", "backbone._blocks.21._se_expand.bias", "backbone._blocks.31._bn2.running_var",
        "backbone._conv_head.weight", "backbone._fc.bias",
        "reconstruction.pos_embed.row_embed.weight", "reconstruction.input_proj.weight",
        "reconstruction.transformer.encoder.layers.3.self_attn.in_proj_weight",
        "reconstruction.transformer.decoder.layers.3.cross_attn_image_to_prompt.out_proj.weight",
        "reconstruction.transformer.decoder.layers.0.mlp.lin2.bias",
        "reconstruction.transformer.decoder.final_attn_token_to_image.in_proj_bias",
        "reconstruction.transformer.decoder.norm.weight",
        "reconstruction.seghead.upconv1.1.num_batches_tracked", "reconstruction.seghead.upconv2.3.weight",
        "reconstruction.seghead.predictor.weight",
    ]:
        assert key in sd, key
    assert tuple(sd["reconstruction.input_proj.weight"].shape) == (256, 272)
    assert tuple(sd["reconstruction.pos_embed.row_embed.weight"].shape) == (14, 128)
    assert tuple(sd["reconstruction.seghead.upconv1.0.weight"].shape) == (128, 272, 3, 3)


def test_efficientnet_pads_for_380_px_whatever_it_sees() -> None:
    # Stage 3's first depthwise 5x5 (stride 2) sees 95 px in the 380 px design and 56 px at 224:
    # static padding is (2, 2) where true "same" at 56 px would be (1, 2).
    assert static_same_padding(95, 5, 2) == (2, 2)
    assert static_same_padding(56, 5, 2) == (1, 2)
    net = EfficientNetB4().eval()
    assert net._blocks[6]._depthwise_conv.pad == (2, 2, 2, 2)
    assert net._blocks[2]._depthwise_conv.pad == (0, 1, 0, 1)
    assert net.out_channels == [24, 32, 56, 160]
    with torch.no_grad():
        outs = net(torch.zeros(1, 3, 224, 224))
    assert [tuple(o.shape[1:]) for o in outs] == [(24, 112, 112), (32, 56, 56), (56, 28, 28), (160, 14, 14)]


def test_neighbour_mask_blocks_each_tokens_own_window() -> None:
    assert [neighbour_window(s) for s in (14, 16, 20)] == [7, 8, 10]
    for grid, window, inner in [(14, 7, 49), (16, 8, 81), (20, 10, 121)]:  # 7x7, 9x9, 11x11 (MODELS.md)
        m = neighbour_mask((grid, grid), (window, window))
        centre = (grid // 2) * grid + grid // 2
        assert int(torch.isinf(m[centre]).sum()) == inner
        corner = 0  # clipped at the border: (w//2 + 1)^2 cells
        assert int(torch.isinf(m[corner]).sum()) == (window // 2 + 1) ** 2
        assert torch.equal(m, m.T) and bool((m[~torch.isinf(m)] == 0).all())
    with pytest.raises(ValueError, match="covers the whole 3x3 grid"):
        neighbour_mask((3, 3), (6, 6))


def test_v1_decoder_ignores_the_target_to_prompt_attention_and_v2_uses_it() -> None:
    x, p = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)
    for decoder, changes in (("v1", False), ("v2", True)):
        model = small(decoder)
        with torch.no_grad():
            before = model(x, p).reconstruction
            for layer in model.reconstruction.transformer.decoder.layers:
                layer.cross_attn_image_to_prompt.in_proj_weight.add_(0.5)
            after = model(x, p).reconstruction
        assert (not torch.allclose(before, after, atol=1e-6)) == changes, decoder
    v1, v2 = small("v1"), small("v2")
    v2.load_state_dict(v1.state_dict())
    with torch.no_grad():
        assert not torch.allclose(v1(x, p).reconstruction, v2(x, p).reconstruction, atol=1e-4)


def test_each_target_is_judged_against_its_own_prompt() -> None:
    """No B/2 split: targets and prompts are separate inputs, and batch rows never mix."""
    model = small()
    x, p = torch.randn(3, 3, 64, 64), torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        batch = model(x, p)
        for i in range(3):
            one = model(x[i : i + 1], p[i : i + 1])
            assert torch.allclose(batch.rec_map[i], one.rec_map[0], atol=1e-5)
            assert torch.allclose(batch.ref_logit[i], one.ref_logit[0], atol=1e-5)
        shared = model(x, p[:1])  # one prompt for every target
        assert torch.allclose(shared.rec_map[2], model(x[2:], p[:1]).rec_map[0], atol=1e-5)
        other = model(x[:1], p[1:2])
    assert not torch.allclose(batch.rec_map[0], other.rec_map[0], atol=1e-4), "the prompt matters"


def test_maps_have_the_input_size_and_the_refiner_works_at_4x_the_grid() -> None:
    model = small(image_size=96)
    with torch.no_grad():
        out = model(torch.randn(2, 3, 96, 96), torch.randn(2, 3, 96, 96))
        logit = model.reconstruction.seghead((out.reconstruction - out.features).abs())
    assert tuple(out.features.shape) == (2, 24, 6, 6)
    assert tuple(logit.shape) == (2, 1, 24, 24)
    assert tuple(out.rec_map.shape) == tuple(out.ref_logit.shape) == (2, 1, 96, 96)
    direct = torch.sqrt(((out.reconstruction - out.features) ** 2).sum(1, keepdim=True))
    assert torch.allclose(out.rec_map[:, :, ::19, ::19], direct, atol=1e-5), "align-corners ×16: grid points kept"


def test_conv_backbone_is_standardised_on_the_training_images() -> None:
    torch.manual_seed(1)
    net = ConvBackbone([4, 4, 8, 8])
    x = torch.randn(6, 3, 64, 64) * 0.7 + 0.2
    net.standardise(x)
    feats = torch.cat([lv.permute(1, 0, 2, 3).reshape(lv.shape[1], -1) for lv in net(x)])
    assert torch.allclose(feats.mean(1), torch.zeros(24), atol=1e-4)
    assert torch.allclose(feats.std(1), torch.ones(24), atol=1e-3)
    assert [tuple(lv.shape[-2:]) for lv in net(x)] == [(4, 4)] * 4, "every level on the 16-px token grid"


def test_recipe_values() -> None:
    rec = torch.tensor([[[[1.0, 3.0], [5.0, 7.0]]]])
    logit = torch.zeros(1, 1, 2, 2)  # sigmoid 0.5
    assert fusion_scale(rec) == 4.0
    final = fuse(rec, logit, RecipeConfig(fusion_scale=4.0))
    assert torch.allclose(final, 0.5 * rec + 0.5 * 4.0 * 0.5)
    amap = torch.zeros(1, 1, 20, 20)
    amap[0, 0, 2:4, 2:4] = 16.0  # a 2x2 spot: the best 16x16 window holds all of it
    assert image_score(amap, 16).item() == pytest.approx(4 * 16.0 / 256)
    assert image_score(amap, 2).item() == pytest.approx(16.0)


def test_dice_is_the_authors() -> None:
    p = torch.tensor([[0.2, 0.8, 0.5, 0.0]])
    t = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    want = 1 - (0.8 + 0.5 + 1) / (0.04 + 0.64 + 0.25 + 2 + 1)
    assert dice_loss(p, t).item() == pytest.approx(want)
    assert dice_loss(torch.zeros(1, 4), torch.zeros(1, 4)).item() == pytest.approx(0.0), "clean image, clean map"


def test_conv_and_efficientnet_give_the_same_interface() -> None:
    for kind in ("conv", "efficientnet-b4"):
        model = OneNip(OneNipConfig(backbone=BackboneConfig(kind=kind), hidden_dim=32, heads=2, ffn_dim=32)).eval()
        with torch.no_grad():
            f = model.features(torch.randn(1, 3, 224, 224))
        assert tuple(f.shape) == (1, 272, 14, 14), kind
    assert np.isclose(float(torch.isinf(OneNip(OneNipConfig(hidden_dim=32, heads=2)).mask).sum()),
                      float(torch.isinf(neighbour_mask((14, 14), (7, 7))).sum()))
