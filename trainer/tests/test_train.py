"""train: the loss, the optimiser, the schedule, resuming, and a tiny run end to end."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.evaluate import evaluate_run
from trainer.models.inp_former import EncoderConfig, InpFormer, InpFormerConfig
from trainer.models.inp_former.loss import soft_mining_cosine
from trainer.models.inp_former.train import FeatureCache, TrainOptions, train_steps
from trainer.optim import StableAdamW, warm_cosine_lr
from trainer.synth import SynthOptions, synthesize
from trainer.train import add_arguments, run_training


def test_soft_mining_keeps_the_value_and_reweights_the_gradient() -> None:
    torch.manual_seed(0)
    en = [torch.randn(2, 8, 3, 3) for _ in range(2)]
    de = [torch.randn(2, 8, 3, 3, requires_grad=True) for _ in range(2)]
    loss = soft_mining_cosine(en, de, gamma=3.0)
    plain = sum((1 - torch.nn.functional.cosine_similarity(e.flatten(1), d.flatten(1))).mean() for e, d in zip(en, de)) / 2
    assert loss.item() == pytest.approx(plain.item(), abs=1e-6)
    loss.backward()
    for e, d in zip(en, de):
        probe = d.detach().clone().requires_grad_(True)
        ((1 - torch.nn.functional.cosine_similarity(e.flatten(1), probe.flatten(1))).mean() / 2).backward()
        dist = 1 - torch.nn.functional.cosine_similarity(e, d.detach(), dim=1).unsqueeze(1)
        weight = (dist / dist.mean()) ** 3
        assert torch.allclose(d.grad, probe.grad * weight, atol=1e-7)
        assert weight.max() > 1.5, "the test must exercise a real re-weighting"


def test_stable_adamw_equals_amsgrad_adamw_on_steady_gradients_and_damps_a_spike() -> None:
    a = torch.nn.Parameter(torch.ones(50))
    b = torch.nn.Parameter(torch.ones(50))
    ours = StableAdamW([a], lr=1e-2, eps=1e-10, weight_decay=1e-4)
    ref = torch.optim.AdamW([b], lr=1e-2, eps=1e-10, weight_decay=1e-4, amsgrad=True)
    g = torch.linspace(0.05, 0.15, 50)  # steady: g² equals its running mean, the RMS clip stays off
    for _ in range(5):
        a.grad, b.grad = g.clone(), g.clone()
        ours.step()
        ref.step()
    assert torch.allclose(a, b, atol=1e-6)
    before_a, before_b = a.detach().clone(), b.detach().clone()
    a.grad = b.grad = torch.full((50,), 100.0)  # a sudden spike
    ours.step()
    ref.step()
    assert (a - before_a).abs().max() < 0.5 * (b - before_b).abs().max()


def test_warm_cosine_schedule() -> None:
    assert warm_cosine_lr(0, 1000) == pytest.approx(1e-5)
    assert warm_cosine_lr(99, 1000) == pytest.approx(1e-3)
    assert warm_cosine_lr(550, 1000) == pytest.approx(5.5e-4)
    assert warm_cosine_lr(1000, 1000) == pytest.approx(1e-4)


def _small_model() -> InpFormer:
    encoder = EncoderConfig.for_size("tiny")
    model = InpFormer(InpFormerConfig.for_size("tiny", encoder=encoder))
    torch.manual_seed(0)
    model.reset_trainable(0.01)
    return model


def test_resumed_training_equals_uninterrupted_training() -> None:
    gen = torch.Generator().manual_seed(1)
    dim = _small_model().config.embed_dim
    cache = FeatureCache(
        torch.randn(12, 16, dim, generator=gen), [torch.randn(12, dim, 4, 4, generator=gen) for _ in range(2)], (4, 4)
    )
    options = TrainOptions(iterations=12, batch=4, warmup=4, checkpoint_every=6)
    straight = _small_model()
    opt = StableAdamW(straight.trainable_parameters())
    losses = train_steps(straight, cache, options, opt, progress=False)

    first = _small_model()
    opt1 = StableAdamW(first.trainable_parameters())
    saved: dict = {}

    def checkpoint(step: int) -> None:
        saved.update(step=step, model=first.state_dict(), opt=opt1.state_dict())
        raise KeyboardInterrupt  # the machine went down right after the checkpoint

    with pytest.raises(KeyboardInterrupt):
        train_steps(first, cache, options, opt1, on_checkpoint=checkpoint, progress=False)
    second = _small_model()
    opt2 = StableAdamW(second.trainable_parameters())
    second.load_state_dict(saved["model"])
    opt2.load_state_dict(saved["opt"])
    resumed = train_steps(second, cache, options, opt2, start=saved["step"], progress=False)
    assert resumed == pytest.approx(losses[6:], abs=1e-6)
    for p, q in zip(straight.parameters(), second.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "set"
    synthesize(root, 3, "surface", SynthOptions(size_px=128, n_train=20, n_test_good=8, n_per_defect=2))
    return root


def test_train_cli_writes_a_run_that_eval_scores(tiny_data: Path, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "run"
    args = parser.parse_args([
        "--data", str(tiny_data), "--out", str(out), "--encoder", "small", "--embed-dim", "48", "--heads", "4",
        "--resize", "128", "--crop", "112", "--iterations", "100", "--warmup", "10", "--batch", "8", "--threads", "1",
        "--checkpoint-every", "25",
    ])
    run_training(args)
    config = json.loads((out / "config.json").read_text())
    assert not (tmp_path / "run.partial").exists(), "checkpoints of the finished run left behind"
    assert config["training"]["encoder"]["method"] == "pca"
    assert len(config["data"]["calibration"]) == 2, "10 % of 20 good images held out for calibration"
    assert config["training"]["loss_last"] < 0.7 * config["training"]["loss_first"]
    (result,) = evaluate_run(out, str(tiny_data), threads=1)
    # 100 steps on 18 images: too few to rank whole images reliably (the demo model's README has
    # those figures), but defect pixels must already stand out; a model that learned nothing sits at 0.5.
    assert result.metrics["P-AUROC"] > 0.75
    assert np.isfinite(list(result.metrics.values())).all()


def test_train_refuses_a_mislaid_dataset_before_doing_work(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    (tmp_path / "photos").mkdir()
    args = parser.parse_args(["--data", str(tmp_path / "photos"), "--out", str(tmp_path / "run")])
    with pytest.raises(ValueError, match="photos.*neither a category"):
        run_training(args)
    assert not (tmp_path / "run").exists()
