"""How OneNIP gets its prompt: which good image goes beside each frame.

Two rules, named by the manifest's ``prompt.selection`` and by the RUN's recipe:

``recipe``
    One prompt per product (on a line: the image the product's config names). For a data set,
    the first image of its ``train/good`` in file-name order.
``cosine-pool``
    A pool of good images per product; each frame gets the pool image whose global feature is
    nearest by cosine (ties: the first in pool order). For a data set, the pool is the first
    ``pool_size`` images of ``train/good`` in file-name order. The global feature is
    :meth:`OneNip.embed` (the bundle's ``embed.onnx``): pool images are embedded once, a frame
    once per frame.

The authors draw each test image's prompt at random from its class's training images; neither
rule does (figures must not depend on a draw).

A RUN records, per category, its recipe prompt and its pool (from the images it trained on), so
that export can give calibration and golden images a prompt of their own category without being
told which category they are: each is paired with the nearest recorded prompt (all categories
pooled), by the same cosine rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ...preprocess import to_model_input
from .model import OneNip
from .recipe import RecipeConfig


def recipe_prompt(train: Sequence[Path]) -> Path:
    """The ``recipe`` prompt of a data set: its first training image in file-name order."""
    return sorted(train, key=lambda p: p.name)[0]


def prompt_pool(train: Sequence[Path], size: int) -> list[Path]:
    """The ``cosine-pool`` pool of a data set: its first ``size`` training images in file-name order."""
    return sorted(train, key=lambda p: p.name)[:size]


def prompt_record(train_paths: dict[str, list[Path]], pool_size: int) -> dict[str, dict[str, object]]:
    """The RUN's ``data.prompts``: per category, ``recipe`` (a path) and ``pool`` (paths)."""
    return {name: {"recipe": str(recipe_prompt(paths).resolve()),
                   "pool": [str(p.resolve()) for p in prompt_pool(paths, pool_size)]}
            for name, paths in train_paths.items()}


def recorded_prompts(record: dict[str, dict[str, object]], selection: str) -> list[str]:
    """Every prompt the RUN's record offers under ``selection`` (all categories)."""
    out: list[str] = []
    for entry in record.values():
        if selection == "recipe":
            out.append(str(entry["recipe"]))
        else:
            out += [str(p) for p in entry["pool"]]  # type: ignore[union-attr]
    return out


@torch.no_grad()
def embed_images(model: OneNip, images: np.ndarray, batch: int = 8) -> torch.Tensor:
    """Global features ``[N, D]`` (L2-normalised) of uint8 NHWC images."""
    return torch.cat([model.embed(model.features(to_model_input(images[i : i + batch])))
                      for i in range(0, len(images), batch)])


def nearest(frames: torch.Tensor, pool: torch.Tensor) -> torch.Tensor:
    """Index of the pool row nearest each frame row by cosine (rows L2-normalised); ties → lowest index."""
    return (frames @ pool.T).argmax(dim=1)


class PromptChooser:
    """Pairs uint8 NHWC images with prompts from a fixed set of candidate images.

    With one candidate every image gets it; with several, the nearest by the global feature.
    """

    def __init__(self, model: OneNip, candidates: np.ndarray) -> None:
        if len(candidates) == 0:
            msg = "onenip: no prompt images to choose from"
            raise ValueError(msg)
        self.model = model
        self.candidates = candidates
        self.embedded = embed_images(model, candidates) if len(candidates) > 1 else None

    def indices(self, images: np.ndarray) -> np.ndarray:
        """Which candidate each image gets."""
        if self.embedded is None:
            return np.zeros(len(images), dtype=np.int64)
        return nearest(embed_images(self.model, images), self.embedded).numpy()

    def prompts(self, images: np.ndarray) -> np.ndarray:
        """uint8 NHWC prompts, one per image."""
        return self.candidates[self.indices(images)]


def selection_candidates(train: Sequence[Path], recipe: RecipeConfig) -> list[Path]:
    """The candidates of one data set under the recipe's rule (one image, or the pool)."""
    if recipe.prompt_selection == "recipe":
        return [recipe_prompt(train)]
    return prompt_pool(train, recipe.pool_size)
