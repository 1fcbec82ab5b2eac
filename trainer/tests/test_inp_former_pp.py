"""INP-Former++: the soft coherence loss, residual and head, the stop-gradient, the fused recipe."""

from __future__ import annotations

import math

import pytest
import torch

from trainer.models.inp_former import EncoderConfig, InpFormerConfig
from trainer.models.inp_former_pp import (
    FusionRecipe,
    InpFormerPP,
    InpFormerPPConfig,
    dice_loss,
    residual,
    soft_coherence_loss,
    soft_mining_loss,
)
from trainer.models.inp_former_pp.recipe import RunningMoments, components, fuse
from trainer.models.inp_former_pp.train import dihedral


def tiny_pp(seed: int = 0) -> InpFormerPP:
    torch.manual_seed(seed)
    model = InpFormerPP(InpFormerPPConfig.from_inp_former(InpFormerConfig.for_size("tiny"))).eval()
    with torch.no_grad():  # trained-looking weights rather than the near-zero init
        for p in model.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


# ---- soft coherence loss


def test_soft_coherence_value_on_a_hand_computed_case() -> None:
    # Tokens (1,0) and (0,1); prototypes (1,0) and (0,2). cos(f1,p) = (1, 0), cos(f2,p) = (0, 1), so
    # the softmax weights are (a, 1−a) and (1−a, a) with a = e/(1+e); f̂1 = (a, 2(1−a)),
    # f̂2 = (1−a, 2a). F·F̂ = 3a, |F| = √2, |F̂|² = 5a² + 5(1−a)².
    tokens = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    protos = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
    a = math.e / (1 + math.e)
    expected = 1 - 3 * a / (math.sqrt(2) * math.sqrt(5 * a * a + 5 * (1 - a) ** 2))
    assert expected == pytest.approx(0.109653, abs=1e-6)
    assert soft_coherence_loss(tokens, protos).item() == pytest.approx(expected, abs=1e-6)
    # A batch averages its images; a second image equal to its own prototypes costs nothing.
    batch_t = torch.cat([tokens, torch.tensor([[[0.0, 3.0], [0.0, 3.0]]])])
    batch_p = torch.cat([protos, torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])])
    assert soft_coherence_loss(batch_t, batch_p).item() == pytest.approx(expected / 2, abs=1e-6)


def test_soft_coherence_gradient_on_a_hand_computed_case() -> None:
    # One prototype p = (x, y): every f̂_i = p, so with tokens (1,0), (0,1)
    # L = 1 − (x + y) / (2 r), r = |p|; dL/dx = −y(y − x) / (2 r³), dL/dy = −x(x − y) / (2 r³).
    tokens = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    p = torch.tensor([[[2.0, 1.0]]], requires_grad=True)
    loss = soft_coherence_loss(tokens, p)
    r3 = 5 ** 1.5
    assert loss.item() == pytest.approx(1 - 3 / (2 * math.sqrt(5)), abs=1e-6)
    loss.backward()
    assert p.grad[0, 0, 0].item() == pytest.approx(-1 * (1 - 2) / (2 * r3), abs=1e-6)  # +0.04472
    assert p.grad[0, 0, 1].item() == pytest.approx(-2 * (2 - 1) / (2 * r3), abs=1e-6)  # −0.08944


def test_soft_coherence_gradient_matches_finite_differences_with_several_prototypes() -> None:
    torch.manual_seed(1)
    tokens = torch.randn(2, 5, 4, dtype=torch.float64)
    protos = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: soft_coherence_loss(tokens, p), (protos,))


# ---- soft mining with the MSE term, Dice


def test_soft_mining_loss_adds_a_mined_mse_term() -> None:
    torch.manual_seed(0)
    en = [torch.randn(2, 6, 3, 3) for _ in range(2)]
    de = [torch.randn(2, 6, 3, 3, requires_grad=True) for _ in range(2)]
    plain = sum((1 - torch.nn.functional.cosine_similarity(e.flatten(1), d.flatten(1))).mean()
                + (e - d).pow(2).mean() for e, d in zip(en, de)) / 2
    loss = soft_mining_loss(en, de, gamma=3.0, mse_weight=1.0)
    assert loss.item() == pytest.approx(plain.item(), abs=1e-5)
    loss.backward()
    for e, d in zip(en, de):
        probe = d.detach().clone().requires_grad_(True)
        ((1 - torch.nn.functional.cosine_similarity(e.flatten(1), probe.flatten(1))).mean()
         + (e - probe).pow(2).mean()).div(2).backward()
        dist = 1 - torch.nn.functional.cosine_similarity(e, d.detach(), dim=1).unsqueeze(1)
        assert torch.allclose(d.grad, probe.grad * (dist / dist.mean()) ** 3, atol=1e-6)


def test_dice_loss() -> None:
    mask = torch.zeros(2, 1, 4, 4)
    mask[0, 0, :2, :2] = 1
    assert dice_loss(mask.clone(), mask, smooth=0.0).item() == pytest.approx(0.0)
    assert dice_loss(1 - mask, mask, smooth=0.0).item() == pytest.approx(1.0)
    half = torch.full_like(mask, 0.5)  # Σp = 16, Σm = 4, Σpm = 2
    assert dice_loss(half, mask, smooth=1.0).item() == pytest.approx(1 - 5 / 21)


# ---- residual and head


def test_residual_values_and_shapes() -> None:
    e = torch.tensor([[1.0, 0.0], [2.0, 2.0]]).T.reshape(1, 2, 1, 2)  # positions (1,0) and (2,2) … as channels
    d = torch.tensor([[0.0, 1.0], [1.0, 1.0]]).T.reshape(1, 2, 1, 2)
    r = residual([e, e], [d, d])
    assert r.shape == (1, 2, 1, 2)
    # position 0: cos((1,0),(0,1)) = 0 → 1·|(1,−1)|; position 1: cos((2,2),(1,1)) = 1 → 0
    assert torch.allclose(r[0, :, 0, 0], torch.tensor([1.0, 1.0]))
    assert torch.allclose(r[0, :, 0, 1], torch.zeros(2), atol=1e-6)
    # averaged over groups
    r2 = residual([e, torch.zeros_like(e) + 1], [d, torch.zeros_like(d) + 1])
    assert torch.allclose(r2, r / 2, atol=1e-6)


def test_model_groups_residual_and_head_shapes() -> None:
    model = tiny_pp()
    assert model.config.head_channels == [8, 4], "D/3 and D/12 of the 24-dim tiny encoder"
    x = torch.randn(3, 3, 56, 56)
    out = model(x)
    assert [g.shape for g in out.en] == [(3, 24, 4, 4)] * 2 and [g.shape for g in out.de] == [(3, 24, 4, 4)] * 2
    assert model.residual(out.en, out.de).shape == (3, 24, 4, 4)
    head = model.head_map(out.en, out.de)
    assert head.shape == (3, 1, 16, 16), "two stride-2 transposed convolutions: the grid ×4"
    assert ((head > 0) & (head < 1)).all()
    keys = set(model.state_dict())
    assert {"prototype_token", "head.up1.weight", "head.up2.weight", "head.out.weight", "residual_scale"} <= keys
    assert any(k.startswith("decoder.7.") for k in keys), "INP-Former's own names"
    big = InpFormerPPConfig.from_inp_former(InpFormerConfig.for_size("base"))
    assert big.head_channels == [256, 64], "the reimplementation's sizes at ViT-B"
    with pytest.raises(ValueError, match="two transposed convolutions"):
        InpFormerPP(InpFormerPPConfig.from_inp_former(InpFormerConfig.for_size("tiny"), head_channels=[8, 4, 2]))


def test_the_head_loss_gives_the_reconstruction_branch_no_gradient() -> None:
    model = tiny_pp().train()
    x = torch.randn(2, 3, 56, 56)
    out = model(x)
    mask = (torch.rand(2, 1, 16, 16) > 0.7).float()
    dice_loss(model.head_map(out.en, out.de), mask).backward()
    head = {id(p) for p in model.head_parameters()}
    recon = [p for p in model.trainable_parameters() if id(p) not in head]
    assert recon and all(p.grad is None for p in recon), "decoder, bottleneck, extractor and INPs untouched"
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.head_parameters())


def test_joint_training_gives_the_decoder_the_reconstruction_gradient_alone() -> None:
    from trainer.models.inp_former_pp.loss import coherence

    model = tiny_pp(2).train()
    x = torch.randn(2, 3, 56, 56)
    mask = (torch.rand(2, 1, 16, 16) > 0.7).float()

    def grads(with_head: bool) -> list[torch.Tensor]:
        model.zero_grad(set_to_none=True)
        out = model(x)
        loss = soft_mining_loss(out.en, out.de) + 0.2 * coherence(out.tokens, out.prototypes, "soft")
        if with_head:
            loss = loss + dice_loss(model.head_map(out.en, out.de), mask)
        loss.backward()
        head = {id(p) for p in model.head_parameters()}
        return [p.grad.clone() for p in model.trainable_parameters() if id(p) not in head]

    for a, b in zip(grads(False), grads(True), strict=True):
        assert torch.equal(a, b)


def test_dihedral_turns_residual_and_mask_together() -> None:
    r = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    m = torch.nn.functional.interpolate(r[:, :1], scale_factor=4, mode="nearest")
    r2, m2 = dihedral(r, m, torch.Generator().manual_seed(0))
    assert torch.equal(torch.nn.functional.interpolate(r2[:, :1], scale_factor=4, mode="nearest"), m2)
    assert not torch.equal(r2, r) or not torch.equal(m2, m)


# ---- the fused recipe


def test_fusion_normalises_each_component_by_good_statistics() -> None:
    recipe = FusionRecipe(eval_height=8, eval_width=8, gaussian_kernel=1, gaussian_sigma=1.0,
                          stats={"cos": [0.2, 0.1], "l2": [3.0, 2.0], "head": [0.01, 0.02]})
    parts = {"cos": torch.full((1, 1, 8, 8), 0.5), "l2": torch.full((1, 1, 8, 8), 7.0),
             "head": torch.full((1, 1, 8, 8), 0.05)}
    final, recon = fuse(parts, recipe)
    # recon = mean((0.5−0.2)/0.1, (7−3)/2) = 2.5; the head's std 0.02 is floored at 0.05:
    # (0.05−0.01)/0.05 = 0.8; final = 0.5·2.5 + 0.5·0.8
    assert torch.allclose(recon, torch.full_like(recon, 2.5))
    assert torch.allclose(final, torch.full_like(final, 1.65))
    unfloored = FusionRecipe(eval_height=8, eval_width=8, gaussian_kernel=1, head_min_std=0.0, stats=recipe.stats)
    final, _ = fuse(parts, unfloored)
    assert torch.allclose(final, torch.full_like(final, 0.5 * 2.5 + 0.5 * 2.0))
    cos_only = FusionRecipe(eval_height=8, eval_width=8, gaussian_kernel=1, recon_terms="cos", head_weight=0.25,
                            head_min_std=0.0, stats=recipe.stats)
    final, recon = fuse(parts, cos_only)
    assert torch.allclose(recon, torch.full_like(recon, 3.0))
    assert torch.allclose(final, torch.full_like(final, 0.75 * 3.0 + 0.25 * 2.0))
    raw = FusionRecipe(eval_height=8, eval_width=8, gaussian_kernel=1, normalise="none")
    final, recon = fuse(parts, raw)
    assert torch.allclose(final, torch.full_like(final, 0.5 * (0.5 + 7.0) / 2 + 0.5 * 0.05))
    with pytest.raises(ValueError, match="no statistics for 'head'"):
        fuse(parts, FusionRecipe(stats={"cos": [0, 1], "l2": [0, 1]}))
    with pytest.raises(ValueError, match="recon_terms 'l1'"):
        FusionRecipe(recon_terms="l1")


def test_components_and_running_moments() -> None:
    model = tiny_pp()
    out = model(torch.randn(2, 3, 56, 56))
    recipe = FusionRecipe(eval_height=32, eval_width=32)
    parts = components(out.en, out.de, model.head_map(out.en, out.de), (56, 56), recipe)
    assert {k: tuple(v.shape) for k, v in parts.items()} == {k: (2, 1, 32, 32) for k in ("cos", "l2", "head")}
    moments = RunningMoments()
    moments.add({k: v[:1] for k, v in parts.items()})
    moments.add({k: v[1:] for k, v in parts.items()})
    for k, (mean, std) in moments.stats().items():
        assert mean == pytest.approx(float(parts[k].double().mean()), rel=1e-6)
        assert std == pytest.approx(float(parts[k].double().std(unbiased=False)), rel=1e-5)


def test_config_round_trip() -> None:
    enc = EncoderConfig.for_size("tiny", embed_dim=36, num_heads=3)
    cfg = InpFormerPPConfig.from_inp_former(InpFormerConfig.for_size("tiny", encoder=enc), head_channels=[12, 6])
    again = InpFormerPPConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.encoder.embed_dim == 36
    recipe = FusionRecipe(stats={"cos": [1.0, 2.0]})
    assert FusionRecipe.from_dict(recipe.to_dict()) == recipe
