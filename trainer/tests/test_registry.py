"""The architecture registry: lookups, refusals, and a second family plugged in through it alone.

``Toy`` below is a complete architecture written only against registry.py (a prompted model with
two inputs, as OneNIP will be): registering it is one line, and ``train``, ``eval`` and ``export``
then run it end to end with ONNX Runtime checking the exported graph, with no change to them.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from trainer import registry
from trainer.cli import main as cli_main
from trainer.data import Category, load_images
from trainer.evaluate import evaluate_run
from trainer.export import ort_outputs
from trainer.preprocess import Geometry, to_model_input
from trainer.run import RunConfig, RunError, load_run
from trainer.synth import SynthOptions, synthesize
from trainer.train import add_arguments, run_training

TRAINER = Path(__file__).resolve().parents[1]


def test_unknown_architecture_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    known = registry.names()
    assert {"inp-former", "inp-former++", "onenip"} <= set(known)
    refused = re.escape(f"unknown architecture 'padim' (known: {', '.join(known)})")
    with pytest.raises(registry.UnknownArchitecture, match=refused):
        registry.get("padim")
    r = subprocess.run([sys.executable, "-m", "trainer", "train", "--arch", "padim", "--data", str(tmp_path),
                        "--out", str(tmp_path / "run")], cwd=TRAINER, capture_output=True, text=True, check=False)
    choices = ", ".join(f"'{k}'" for k in known)
    assert r.returncode == 2 and f"invalid choice: 'padim' (choose from {choices})" in r.stderr
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"format": "linewatch-run/1", "architecture": "padim", "model": {},
                                                 "geometry": asdict(Geometry())}))
    with pytest.raises(RunError, match=re.escape(f"config.json: invalid run config (unknown architecture 'padim' "
                                                 f"(known: {', '.join(known)}))")):
        load_run(run)


def test_every_registered_architecture_is_complete_and_named_by_its_key() -> None:
    for name in registry.names():
        arch = registry.get(name)  # an abstract member left out fails here, naming it
        assert arch.name == name and arch.summary
        assert hasattr(arch.config_type, "from_dict") and hasattr(arch.recipe_type, "from_dict")


def test_ssl_no_longer_imports_train() -> None:
    code = "import sys, trainer.models.inp_former.ssl; print('trainer.train' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], cwd=TRAINER, capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"


# ---- a second architecture, plugged in through the registry alone


@dataclass
class ToyConfig:
    """Width of the random feature layer."""

    width: int = 4

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ToyConfig:
        return cls(**d)


@dataclass
class ToyRecipe:
    """Average-pool side of the map."""

    pool: int = 4

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ToyRecipe:
        return cls(**d)


class ToyModel(nn.Module):
    """Map = feature distance between the image and a prompt image, pooled; score = its max."""

    def __init__(self, config: ToyConfig, pool: int) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, config.width, 3, padding=1)
        self.pool = nn.AvgPool2d(pool)

    def forward(self, image: torch.Tensor, prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = image.to(torch.float32).permute(0, 3, 1, 2) / 255.0
        p = prompt.to(torch.float32).permute(0, 3, 1, 2) / 255.0
        amap = self.pool((self.features(x) - self.features(p)).abs().mean(dim=1, keepdim=True))
        return amap, amap.flatten(1).max(dim=1).values


class Toy(registry.Architecture):
    name = "generic"
    summary = "a test architecture with a prompt"
    config_type = ToyConfig
    recipe_type = ToyRecipe
    default_geometry = Geometry(64, 64, 48, 48)

    def build_model(self, config: RunConfig) -> ToyModel:
        return ToyModel(config.model, config.recipe.pool)

    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--width", type=int, default=4)

    def train(self, job: registry.TrainJob) -> registry.Trained:
        config = RunConfig(model=ToyConfig(job.args.width), geometry=job.geometry, recipe=ToyRecipe(),
                           data=job.data_record(), architecture=self.name, version=job.args.version)
        model = self.build_model(config)
        images = load_images(next(iter(job.train_paths.values())), job.geometry)
        with torch.no_grad():  # "training": centre the features on the good images
            model.features.bias -= model.features(to_model_input(images)).mean(dim=(0, 2, 3))
        return registry.Trained(config, model.state_dict(), 1)

    def _prompt(self, config: RunConfig) -> np.ndarray:
        return load_images(config.data["calibration"][:1], config.geometry)

    def scorer(self, model: ToyModel, config: RunConfig, category: Category) -> registry.Scorer:
        prompt = torch.from_numpy(load_images(category.train[:1], config.geometry))
        return lambda images: model(torch.from_numpy(images), prompt.expand(len(images), -1, -1, -1))

    def export_spec(self, model: ToyModel, config: RunConfig, map_mode: str) -> registry.ExportSpec:
        if map_mode != "full":
            raise ValueError(f"{self.name}: map mode {map_mode!r} not supported (full only)")
        prompt = self._prompt(config)
        side = config.geometry.crop_height // config.recipe.pool
        return registry.ExportSpec(
            graph=model,
            output_names=("anomaly_map", "score"),
            outputs={"anomalyMap": {"name": "anomaly_map", "height": side, "width": side},
                     "score": {"name": "score", "rule": {"op": "max"}}, "extra": []},
            finish=lambda out: (out["anomaly_map"], out["score"]),
            model_record={"width": config.model.width},
            input_names=("image", "prompt"),
            inputs_for=lambda images: {"image": images, "prompt": np.repeat(prompt, len(images), axis=0)},
            prompt={"name": "prompt", "selection": "recipe"},
        )

    def add_import_arguments(self, parser: argparse.ArgumentParser) -> None:
        pass

    def import_official(self, args: argparse.Namespace) -> RunConfig:
        raise ValueError("no official checkpoints")


ARCHITECTURE = Toy()


def test_a_new_architecture_needs_only_its_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.REGISTRY, "generic", __name__)
    data = tmp_path / "set"
    synthesize(data, 5, "surface", SynthOptions(size_px=64, n_train=10, n_test_good=3, n_per_defect=1))
    parser = argparse.ArgumentParser()
    add_arguments(parser, ["--arch", "generic"])
    out = run_training(parser.parse_args(["--arch", "generic", "--data", str(data), "--out", str(tmp_path / "run"),
                                          "--width", "6", "--threads", "1"]))
    run = load_run(out)
    assert isinstance(run.model, ToyModel) and run.config.model == ToyConfig(6)
    assert run.config.geometry == Geometry(48, 48, 48, 48), "the architecture's input size, whole view, by default"
    (result,) = evaluate_run(out, str(data), threads=1)
    assert result.n_defective == 5 and np.isfinite(list(result.metrics.values())).all()

    assert cli_main(["export", "--run", str(out), "--out", str(tmp_path / "bundle")]) == 0
    manifest = json.loads((tmp_path / "bundle" / "model.json").read_text())
    assert manifest["architecture"] == "generic" and manifest["prompt"] == {"name": "prompt", "selection": "recipe"}
    assert manifest["training"]["model"] == {"width": 6} and manifest["training"]["recipe"] == {"pool": 4}
    golden = json.loads((tmp_path / "bundle" / "golden.json").read_text())
    assert all(sorted(c["inputs"]) == ["image", "prompt"] for c in golden["cases"])
    images = load_images([i.image for i in result_items(data)], run.config.geometry)
    prompts = np.repeat(load_images(run.config.data["calibration"][:1], run.config.geometry), len(images), 0)
    got = ort_outputs(tmp_path / "bundle" / "model.onnx", {"image": images, "prompt": prompts})
    with torch.no_grad():
        ref_map, ref_score = run.model(torch.from_numpy(images), torch.from_numpy(prompts))
    assert np.abs(got["anomaly_map"] - ref_map.numpy()).max() <= 1e-5
    assert np.abs(got["score"] - ref_score.numpy()).max() <= 1e-5
    assert float(ref_score.std()) > 0, "the images are told apart"

    with pytest.raises(ValueError, match="generic: map mode 'raw' not supported"):
        from trainer.export import export_bundle

        export_bundle(run.model, run.config, tmp_path / "raw", calib_images=images, calib_source="t", map_mode="raw",
                      progress=False)


def result_items(data: Path) -> list:
    from trainer.data import discover

    return discover(str(data), need_test=True)[0].test
