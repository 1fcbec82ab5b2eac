"""data: MVTec discovery and the errors a user meets when a folder is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainer.data import (
    FEW_SHOT_VIEWS,
    DatasetError,
    check_images,
    discover,
    few_shot_expand,
    few_shot_view,
    load_images,
    load_mask,
    pick_shots,
)
from trainer.preprocess import Geometry


def _png(path: Path, size: tuple[int, int] = (32, 32), mode: str = "RGB", value: int = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, value, value)).save(path)
    return path


def _category(root: Path) -> Path:
    for i in range(3):
        _png(root / "train" / "good" / f"{i:03d}.png")
    _png(root / "test" / "good" / "000.png")
    _png(root / "test" / "scratch" / "000.png")
    _png(root / "ground_truth" / "scratch" / "000_mask.png", mode="L", value=255)
    return root


def test_single_category_and_folder_of_categories(tmp_path: Path) -> None:
    _category(tmp_path / "a")
    _category(tmp_path / "b")
    assert [c.name for c in discover(tmp_path / "a")] == ["a"]
    both = discover(tmp_path, need_test=True)
    assert [c.name for c in both] == ["a", "b"]
    assert [(t.defect, t.label, t.mask is not None) for t in both[0].test] == [("good", 0, False), ("scratch", 1, True)]
    assert [c.name for c in discover(f"{tmp_path / 'a'},{tmp_path / 'b'}")] == ["a", "b"]


def test_missing_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="nowhere.*does not exist"):
        discover(tmp_path / "nowhere")


def test_mislaid_folder_names_it(tmp_path: Path) -> None:
    _png(tmp_path / "images" / "000.png")
    with pytest.raises(DatasetError, match=f"{tmp_path}.*neither a category"):
        discover(tmp_path)


def test_empty_train_folder_names_it(tmp_path: Path) -> None:
    (tmp_path / "train" / "good").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"train/good: no images"):
        discover(tmp_path)


def test_mask_without_image_names_the_mask(tmp_path: Path) -> None:
    _category(tmp_path)
    orphan = _png(tmp_path / "ground_truth" / "scratch" / "007_mask.png", mode="L")
    with pytest.raises(DatasetError, match=f"mask {orphan} has no image"):
        discover(tmp_path)


def test_defect_image_without_mask_names_the_image(tmp_path: Path) -> None:
    _category(tmp_path)
    lonely = _png(tmp_path / "test" / "scratch" / "001.png")
    with pytest.raises(DatasetError, match=f"test image {lonely} has no mask"):
        discover(tmp_path)


def test_mixed_sizes_and_modes_load_through_the_geometry(tmp_path: Path) -> None:
    paths = [
        _png(tmp_path / "a.png"),
        _png(tmp_path / "b.png", size=(40, 31)),
        _png(tmp_path / "c.png", mode="L", value=200),
        _png(tmp_path / "d.png", size=(50, 20), mode="RGBA"),
    ]
    Image.new("P", (33, 35), 3).save(tmp_path / "e.png")
    deep = np.full((30, 60), 0x8040, dtype=np.uint16)  # 16-bit grey: its high byte, not clipped to 255
    Image.fromarray(deep).save(tmp_path / "f.png")
    paths += [tmp_path / "e.png", tmp_path / "f.png"]
    assert check_images(paths) == [(32, 32), (40, 31), (32, 32), (50, 20), (33, 35), (60, 30)]
    images = load_images(paths, Geometry(24, 48, 24, 48))
    assert images.shape == (6, 24, 48, 3) and images.dtype == np.uint8
    assert (images[2] == 200).all() and (images[5] == 0x80).all()


def test_unreadable_image_and_mask_of_another_size_are_named(tmp_path: Path) -> None:
    broken = tmp_path / "x.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=f"cannot read image {broken}"):
        check_images([_png(tmp_path / "a.png"), broken])
    _category(tmp_path / "set")
    mask = _png(tmp_path / "set" / "ground_truth" / "scratch" / "000_mask.png", size=(32, 30), mode="L")
    with pytest.raises(DatasetError, match=f"mask {mask} is 32x30, its image .*000.png is 32x32"):
        discover(tmp_path / "set")


def test_mask_follows_the_image_geometry(tmp_path: Path) -> None:
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[:, 32:] = 255  # right half
    path = tmp_path / "m.png"
    Image.fromarray(mask).save(path)
    out = load_mask(path, Geometry(64, 64, 56, 56), (28, 28))
    assert out.shape == (28, 28)
    assert not out[:, :13].any() and out[:, 15:].all()


def test_few_shot_views_are_22_distinct_fixed_views() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (28, 28, 3), dtype=np.uint8)
    views = few_shot_expand(image[None])
    assert views.shape == (22, 28, 28, 3) and len(FEW_SHOT_VIEWS) == 22
    flat = {v.tobytes() for v in views}
    assert len(flat) == 22
    assert np.array_equal(few_shot_expand(image[None]), views), "views must not be random"
    shifted = few_shot_view(image, "shift+x10")
    assert np.array_equal(shifted[:, 3:], image[:, :-3]), "+x moves content to the right"


def test_pick_shots_is_seeded_and_checks_k(tmp_path: Path) -> None:
    paths = [tmp_path / f"{i}.png" for i in range(10)]
    assert pick_shots(paths, 3, 1) == pick_shots(paths, 3, 1)
    with pytest.raises(DatasetError, match="--shots 11 but the training folder has 10"):
        pick_shots(paths, 11, 1)


BOTTLE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mvtec-bottle-448"


@pytest.mark.skipif(not BOTTLE.is_dir(), reason="../shared/data/mvtec-bottle-448 is not on this machine")
def test_real_mvtec_category_is_discovered_with_all_masks() -> None:
    (bottle,) = discover(BOTTLE, need_test=True)
    assert len(bottle.train) == 209
    assert len(bottle.test) == 83
    defective = [t for t in bottle.test if t.label]
    assert {t.defect for t in defective} == {"broken_large", "broken_small", "contamination"}
    assert all(t.mask is not None and t.mask.is_file() for t in defective)
    item = defective[0]
    mask = load_mask(item.mask, Geometry(256, 256, 224, 224), (256, 256))
    assert 0 < mask.mean() < 0.5
