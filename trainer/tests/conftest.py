"""Shared by the tests: a tiny INP-Former trained for a few steps through the real ``train`` command."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest

from trainer.train import add_arguments, run_training

TINY = ["--encoder", "small", "--embed-dim", "24", "--heads", "2", "--warmup", "1", "--batch", "4", "--threads", "1"]


@pytest.fixture
def train_tiny() -> Callable[..., Path]:
    """``train_tiny(data, out, *args)``: ``train`` a narrow model on ``data`` into ``out`` (5 steps
    unless ``args`` say otherwise; ``args`` add the geometry) and return the RUN folder."""

    def run(data: Path, out: Path, *args: str) -> Path:
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        steps = [] if "--iterations" in args else ["--iterations", "5"]
        return run_training(parser.parse_args(["--data", str(data), "--out", str(out), *TINY, *steps, *args]))

    return run
