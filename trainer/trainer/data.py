"""Datasets in MVTec layout: discovery, validation, loading, few-shot augmentation.

A dataset root is either one category (it holds ``train/good``) or a folder of categories (each
sub-folder holds ``train/good``); ``--data A,B`` joins several roots into one multi-class set.
Validation happens before any training starts and names the offending file: a factory engineer
pointing at the wrong folder should learn it in a second, not after an hour of training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .preprocess import Geometry, to_uint8_crop
from .progress import progress
from .tiling import inputs_per_image, load_inputs

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MASK_SUFFIX = "_mask"


class DatasetError(ValueError):
    """A dataset folder or file that cannot be used; the message names it and says why."""


@dataclass(frozen=True)
class TestItem:
    image: Path
    defect: str
    """'good' or the defect folder name."""
    mask: Path | None
    """Ground-truth mask; None for good images."""

    @property
    def label(self) -> int:
        return 0 if self.defect == "good" else 1


@dataclass
class Category:
    name: str
    root: Path
    train: list[Path] = field(default_factory=list)
    test: list[TestItem] = field(default_factory=list)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _category(root: Path, name: str, need_test: bool) -> Category:
    train_dir = root / "train" / "good"
    if not train_dir.is_dir():
        raise DatasetError(f"dataset {root}: no train/good folder (expected MVTec layout)")
    category = Category(name=name, root=root, train=_images_in(train_dir))
    if not category.train:
        raise DatasetError(f"dataset {train_dir}: no images ({', '.join(IMAGE_SUFFIXES)})")
    test_dir = root / "test"
    gt_dir = root / "ground_truth"
    if test_dir.is_dir():
        for defect_dir in sorted(p for p in test_dir.iterdir() if p.is_dir()):
            defect = defect_dir.name
            for image in _images_in(defect_dir):
                mask = None
                if defect != "good":
                    mask = _find_mask(gt_dir / defect, image.stem)
                    if mask is None:
                        raise DatasetError(f"dataset: test image {image} has no mask in {gt_dir / defect}")
                    _check_mask_size(image, mask)
                category.test.append(TestItem(image=image, defect=defect, mask=mask))
        _check_orphan_masks(gt_dir, test_dir)
    if need_test and not category.test:
        raise DatasetError(f"dataset {root}: no test images under {test_dir}")
    if need_test and not any(item.label for item in category.test):
        raise DatasetError(f"dataset {test_dir}: no defective test images, the metrics need some")
    return category


def _find_mask(folder: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        candidate = folder / f"{stem}{MASK_SUFFIX}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _check_mask_size(image: Path, mask: Path) -> None:
    """A mask must cover its image pixel for pixel: a mask of another size marks other pixels."""
    iw, ih = image_size(image)
    mw, mh = image_size(mask, "mask")
    if (iw, ih) != (mw, mh):
        raise DatasetError(f"dataset: mask {mask} is {mw}x{mh}, its image {image} is {iw}x{ih}")


def _check_orphan_masks(gt_dir: Path, test_dir: Path) -> None:
    """A mask with no image usually means a renamed or deleted file: refuse rather than guess."""
    if not gt_dir.is_dir():
        return
    for defect_dir in sorted(p for p in gt_dir.iterdir() if p.is_dir()):
        for mask in _images_in(defect_dir):
            if not mask.stem.endswith(MASK_SUFFIX):
                raise DatasetError(f"dataset: mask {mask} is not named <image>{MASK_SUFFIX}.png")
            stem = mask.stem[: -len(MASK_SUFFIX)]
            if not any((test_dir / defect_dir.name / f"{stem}{s}").is_file() for s in IMAGE_SUFFIXES):
                raise DatasetError(f"dataset: mask {mask} has no image in {test_dir / defect_dir.name}")


def discover(roots: str | Path | Sequence[str | Path], need_test: bool = False) -> list[Category]:
    """Categories under one or several roots (``"A,B"`` or a list); validates the layout."""
    if isinstance(roots, (str, Path)):
        roots = [r for r in str(roots).split(",") if r]
    if not roots:
        raise DatasetError("dataset: no folder given")
    categories: list[Category] = []
    for raw in roots:
        root = Path(raw)
        if not root.is_dir():
            raise DatasetError(f"dataset {root}: folder does not exist")
        if (root / "train").is_dir():
            categories.append(_category(root, root.name, need_test))
            continue
        subs = sorted(p for p in root.iterdir() if p.is_dir() and (p / "train").is_dir())
        if not subs:
            raise DatasetError(f"dataset {root}: neither a category (train/good) nor a folder of categories")
        categories.extend(_category(p, p.name, need_test) for p in subs)
    names = [c.name for c in categories]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DatasetError(f"dataset: category names appear twice: {', '.join(duplicates)}")
    return categories


def image_size(path: Path, what: str = "image") -> tuple[int, int]:
    """``(width, height)`` from the file's header; ``DatasetError`` naming an unreadable file."""
    try:
        with Image.open(path) as image:
            return image.size
    except OSError as err:
        raise DatasetError(f"dataset: cannot read {what} {path}: {err}") from err


def check_images(paths: Sequence[Path], desc: str = "check images") -> list[tuple[int, int]]:
    """Every image readable (header); returns their ``(width, height)``.

    Sizes and modes may differ: every image goes through the model's geometry (resize, crop),
    as at run time. Only a file that cannot be read is refused, by name.
    """
    return [image_size(p) for p in progress(paths, desc, enabled=len(paths) > 200)]


def typical_aspect(sizes: Sequence[tuple[int, int]]) -> tuple[int, int, float]:
    """The median ``(width, height)`` of some images and its aspect ``width / height``."""
    w = int(np.median([s[0] for s in sizes]))
    h = int(np.median([s[1] for s in sizes]))
    return w, h, w / max(1, h)


def load_image(path: Path, geometry: Geometry) -> np.ndarray:
    """RGB uint8 [crop_h, crop_w, 3] exactly as the runtime feeds the model (resize, centre crop)."""
    try:
        with Image.open(path) as image:
            return to_uint8_crop(image, geometry)
    except (OSError, ValueError) as err:
        raise DatasetError(f"dataset: cannot read image {path}: {err}") from err


def load_mask(path: Path | None, geometry: Geometry, out_hw: tuple[int, int]) -> np.ndarray:
    """Boolean mask [out_h, out_w] over the crop: same resize and crop (nearest), then > 0.5."""
    if path is None:
        return np.zeros(out_hw, dtype=bool)
    try:
        with Image.open(path) as image:
            grey = image.convert("L")
    except OSError as err:
        raise DatasetError(f"dataset: cannot read mask {path}: {err}") from err
    resized = grey.resize((geometry.resize_width, geometry.resize_height), Image.Resampling.NEAREST)
    cropped = resized.crop(geometry.crop_box())
    return np.asarray(cropped.resize((out_hw[1], out_hw[0]), Image.Resampling.NEAREST)) > 127


def load_images(paths: Sequence[Path], geometry: Geometry, desc: str | None = None) -> np.ndarray:
    """A uint8 NHWC stack of the model inputs the images make (what the exported graph takes): one
    crop per image, or, for a tiled geometry, every tile of every image in order (tiling.py).

    Images may have any size and mode: each is resized (and cropped or tiled) by ``geometry``.
    ``desc`` labels a progress bar (none when ``None``).
    """
    per = inputs_per_image(geometry)
    out = np.empty((len(paths) * per, geometry.crop_height, geometry.crop_width, 3), dtype=np.uint8)
    for i, path in enumerate(progress(paths, desc or "", enabled=desc is not None)):
        try:
            out[i * per : (i + 1) * per] = load_inputs(path, geometry)
        except ValueError as err:
            raise DatasetError(f"dataset: cannot read image {path}: {err}") from err
    return out


# ---- few-shot: each support image becomes the same 22 fixed views.


def _shift(image: np.ndarray, dx_frac: float, dy_frac: float) -> np.ndarray:
    """Translate with edge replication (a part moved on the belt, not wrapped around)."""
    h, w = image.shape[:2]
    dx, dy = int(round(dx_frac * w)), int(round(dy_frac * h))
    padded = np.pad(image, ((abs(dy), abs(dy)), (abs(dx), abs(dx)), (0, 0)), mode="edge")
    y0, x0 = abs(dy) - dy, abs(dx) - dx
    return padded[y0 : y0 + h, x0 : x0 + w]


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    return np.asarray(Image.fromarray(image).rotate(degrees, resample=Image.Resampling.BILINEAR))


def _grey(image: np.ndarray) -> np.ndarray:
    return np.asarray(ImageOps.grayscale(Image.fromarray(image)).convert("RGB"))


FEW_SHOT_VIEWS: tuple[str, ...] = (
    "identity", "rot90", "rot180", "rot270", "rot+10", "rot-10", "rot+20", "rot-20",
    "shift+x5", "shift-x5", "shift+y5", "shift-y5", "shift+x10", "shift-x10", "shift+y10", "shift-y10",
    "hflip", "vflip", "transpose", "grey", "grey-hflip", "grey-vflip",
)


def few_shot_view(image: np.ndarray, view: str) -> np.ndarray:
    """One of the 22 fixed views (rotations, shifts, flips, greyscale) of an HxWx3 uint8 image."""
    if view == "identity":
        return image
    if view.startswith("rot") and view[3:].isdigit():
        return np.ascontiguousarray(np.rot90(image, k=int(view[3:]) // 90))
    if view.startswith("rot"):
        return _rotate(image, float(view[3:]))
    if view.startswith("shift"):
        axis, amount = view[6], float(view[5] + view[7:]) / 100
        return _shift(image, amount if axis == "x" else 0.0, amount if axis == "y" else 0.0)
    if view == "hflip":
        return np.ascontiguousarray(image[:, ::-1])
    if view == "vflip":
        return np.ascontiguousarray(image[::-1])
    if view == "transpose":
        return np.ascontiguousarray(image.transpose(1, 0, 2))
    if view == "grey":
        return _grey(image)
    if view.startswith("grey-"):
        return _grey(few_shot_view(image, view[5:]))
    raise ValueError(f"few-shot: unknown view {view!r}")


def few_shot_expand(images: np.ndarray) -> np.ndarray:
    """[k,H,W,3] support images → [22k,H,W,3], every image in all 22 views (fixed, not random)."""
    out = np.empty((images.shape[0] * len(FEW_SHOT_VIEWS), *images.shape[1:]), dtype=images.dtype)
    for i, image in enumerate(images):
        for j, view in enumerate(FEW_SHOT_VIEWS):
            out[i * len(FEW_SHOT_VIEWS) + j] = few_shot_view(image, view)
    return out


def pick_shots(paths: Sequence[Path], shots: int, seed: int) -> list[Path]:
    """k support images chosen by seed (the same seed, the same shots)."""
    if shots <= 0 or shots > len(paths):
        raise DatasetError(f"few-shot: --shots {shots} but the training folder has {len(paths)} images")
    order = np.random.default_rng(seed).permutation(len(paths))[:shots]
    return [paths[i] for i in sorted(order)]


# ---- a few real defects (semi-supervised training of a discriminative head)


def defect_pairs(root: str | Path) -> list[tuple[Path, Path]]:
    """Defective images and their masks under ``root``, as ``(image, mask)`` pairs.

    Either MVTec layout (``test/<defect>/X.png`` with ``ground_truth/<defect>/X_mask.png``; good
    images are skipped) or a flat folder (``X.png`` beside ``X_mask.png``). An image without its
    mask is refused, naming it.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"defect images: folder {root} does not exist")
    pairs: list[tuple[Path, Path]] = []
    if (root / "test").is_dir():
        for defect_dir in sorted(p for p in (root / "test").iterdir() if p.is_dir() and p.name != "good"):
            for image in _images_in(defect_dir):
                mask = _find_mask(root / "ground_truth" / defect_dir.name, image.stem)
                if mask is None:
                    raise DatasetError(f"defect images: {image} has no mask in {root / 'ground_truth' / defect_dir.name}")
                pairs.append((image, mask))
    else:
        for image in _images_in(root):
            if image.stem.endswith(MASK_SUFFIX):
                continue
            mask = _find_mask(root, image.stem)
            if mask is None:
                raise DatasetError(f"defect images: {image} has no {image.stem}{MASK_SUFFIX}.png beside it")
            pairs.append((image, mask))
    if not pairs:
        raise DatasetError(f"defect images: none in {root} (test/<defect>/ with ground_truth/, or X.png with X_mask.png)")
    return pairs


def load_defects(root: str | Path, geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """uint8 NHWC crops of the defective images under ``root`` and float32 0/1 masks ``[N, h, w]`` over the crop."""
    pairs = defect_pairs(root)
    images = load_images([p for p, _ in pairs], geometry)
    masks = np.stack([load_mask(m, geometry, geometry.crop_hw) for _, m in pairs]).astype(np.float32)
    empty = [str(p) for (p, _), m in zip(pairs, masks, strict=True) if not m.any()]
    if empty:
        raise DatasetError(f"defect images: the mask of {empty[0]} is empty inside the crop")
    return images, masks
