import logging
import shutil

import numpy as np
import pytest
import torch

from neuralpatch.files import InputError
from neuralpatch.training.data import InpaintingDataModule, list_images, samples_dir
from neuralpatch.training.masks import BoxMask, CenterMask


@pytest.fixture
def photo_folder(tmp_path):
    """Four shipped photos in a nested tree, plus a corrupt file and a non-image."""
    photos = sorted(samples_dir().glob("*.jpg"))[:4]
    for i, photo in enumerate(photos):
        folder = tmp_path / "photos" / f"sub{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(photo, folder / photo.name)
    (tmp_path / "photos" / "broken.png").write_bytes(b"not a png at all")
    (tmp_path / "photos" / "notes.txt").write_text("ignored")
    return tmp_path / "photos"


def test_corrupt_file_is_skipped_and_counted(photo_folder, caplog):
    with caplog.at_level(logging.WARNING):
        files = list_images(photo_folder)
    assert len(files) == 4 and all(f.suffix == ".jpg" for f in files)
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 1 unreadable" in warnings[0] and "broken.png" in warnings[0]


def test_empty_or_missing_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no readable .* under .*empty"):
        list_images(tmp_path / "empty")
    with pytest.raises(InputError, match="missing.*does not exist"):
        list_images(tmp_path / "missing")


def test_split_is_by_photo_and_validation_is_seeded(photo_folder):
    def datamodule(seed=0):
        dm = InpaintingDataModule(BoxMask(), root=str(photo_folder), val_fraction=0.25, image_size=64,
                                  train_repeats=3, val_crops=2, seed=seed)
        dm.setup()
        return dm

    dm = datamodule()
    train, val = {p.name for p in dm.train_set.files}, {p.name for p in dm.val_set.files}
    assert len(val) == 1 and len(train) == 3 and not train & val
    assert len(dm.train_set) == 9 and len(dm.val_set) == 2
    first, again = dm.val_set[1], datamodule().val_set[1]
    assert torch.equal(first["image"], again["image"]) and torch.equal(first["mask"], again["mask"])
    assert first["image"].shape == (3, 64, 64) and first["mask"].shape == (1, 64, 64)
    assert not torch.equal(datamodule(seed=1).val_set[0]["mask"], dm.val_set[0]["mask"])


def test_training_crops_are_random_and_in_range():
    dm = InpaintingDataModule(CenterMask(), image_size=32, train_repeats=2, scale=(1.0, 3.0))
    dm.setup()
    a, b = dm.train_set[0]["image"], dm.train_set[0]["image"]
    assert a.shape == (3, 32, 32) and 0 <= a.min() and a.max() <= 1
    assert not torch.equal(a, b)


def test_shipped_samples_are_credited():
    credits = (samples_dir() / "CREDITS.md").read_text()
    photos = sorted(samples_dir().glob("*.jpg"))
    assert len(photos) >= 10 and all(p.name in credits for p in photos)


def test_16_bit_photos_are_scaled_not_clipped(tmp_path):
    from PIL import Image

    from neuralpatch.training.data import read_image

    grey = np.full((8, 8), 32768, np.uint16)  # mid-grey in 16 bits
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    image = read_image(tmp_path / "grey16.png")
    assert image.shape == (3, 8, 8) and image.max() == pytest.approx(128 / 255)


@pytest.mark.parametrize("factor, span", [(1.0, 63), (4.0, 15)])
def test_crop_covers_the_shorter_side_divided_by_the_scale(factor, span):
    from neuralpatch.training.data import random_crop

    columns = torch.arange(128, dtype=torch.float32).expand(3, 64, 128)  # value = column index
    crop = random_crop(columns, 32, (factor, factor), torch.Generator().manual_seed(0))
    assert crop.shape == (3, 32, 32)
    assert (crop[0, 0, -1] - crop[0, 0, 0]).abs() == pytest.approx(span, abs=2)  # columns spanned (a flip reverses)


def test_cached_photos_are_decoded_once_and_give_the_same_items(photo_folder, monkeypatch):
    import neuralpatch.training.data as data

    files = sorted(p for p in photo_folder.rglob("*.jpg"))
    plain = data.InpaintingDataset(files, CenterMask(), 32, (1.0, 2.0), repeats=3, seed=5)
    expected = [plain[i]["image"] for i in range(len(plain))]
    reads, read_photo = [], data.read_photo
    monkeypatch.setattr(data, "read_photo", lambda path: reads.append(path) or read_photo(path))
    cached = data.InpaintingDataset(files, CenterMask(), 32, (1.0, 2.0), repeats=3, seed=5, cache=True)
    assert all(torch.equal(cached[i]["image"], expected[i]) for i in range(len(cached)))
    assert sorted(reads) == files  # 12 items, 4 decodes
