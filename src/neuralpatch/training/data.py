"""Photo datasets: random crops with masks for training, seeded crops and masks for validation."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from importlib.resources import files as package_files
from pathlib import Path

import lightning as L
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2 import functional as TF

from neuralpatch.files import IMAGE_SUFFIXES, InputError, from_uint8, read_photo

log = logging.getLogger(__name__)

MaskGenerator = Callable[[int, int, "torch.Generator | None"], Tensor]


def samples_dir() -> Path:
    """The photos shipped with the package (credits in its CREDITS.md)."""
    return Path(str(package_files("neuralpatch") / "assets" / "photos"))


def read_image(path: str | Path) -> Tensor:
    """RGB image as float ``[3,H,W]`` in [0,1], upright by its EXIF orientation (16-bit grey scaled, not clipped)."""
    return from_uint8(read_photo(Path(path)))[0]


def list_images(root: str | Path) -> list[Path]:
    """All readable jpg/png/webp files below ``root`` (recursive, sorted); unreadable ones are skipped with one warning."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise InputError(f"image folder {root} does not exist; set data.root (or data.val_root) to a folder of photos")
    candidates = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    readable, failures = [], []
    for path in candidates:
        try:
            with Image.open(path) as image:
                image.size  # header only: cheap enough for millions of files
            readable.append(path)
        except (UnidentifiedImageError, OSError) as error:
            failures.append((path, error))
    if failures:
        path, error = failures[0]
        log.warning(f"skipped {len(failures)} unreadable image(s) under {root} (first: {path}: {error})")
    if not readable:
        raise InputError(f"no readable jpg/png/webp images under {root}; point data.root at a folder of photos")
    return readable


def random_crop(image: Tensor, size: int, scale: Sequence[float], generator: torch.Generator | None) -> Tensor:
    """A ``size²`` crop of the photo rescaled so its shorter side is ``size·s`` (s ~ U(scale)), flipped at random.
    Only the crop is resampled (antialiased), so a large photo costs no more than a small one."""
    low, high = scale
    factor = low + (high - low) * torch.rand((), generator=generator).item()
    height, width = image.shape[-2:]
    side = max(1, round(min(height, width) / max(1.0, factor)))  # the crop's side in the photo's pixels
    top = int(torch.randint(0, height - side + 1, (), generator=generator))
    left = int(torch.randint(0, width - side + 1, (), generator=generator))
    image = TF.resized_crop(image, top, left, side, side, [size, size], antialias=True)
    if torch.rand((), generator=generator).item() < 0.5:
        image = TF.horizontal_flip(image)
    return image


class InpaintingDataset(Dataset):
    """``repeats`` crops of every photo, each with a mask.

    ``seed=None``: crops and masks come from the global RNG (training; Lightning seeds workers).
    ``seed=int``: item ``i`` is a pure function of ``seed + i`` (validation is identical run to run).
    ``cache``: keep each decoded photo (uint8) in memory, per worker process: for sets that fit in RAM.
    """

    def __init__(self, files: Sequence[Path], masks: MaskGenerator, image_size: int, scale: Sequence[float],
                 repeats: int = 1, seed: int | None = None, cache: bool = False):
        self.files, self.masks, self.image_size = list(files), masks, image_size
        self.scale, self.repeats, self.seed, self.cache = tuple(scale), repeats, seed, cache
        self._decoded: dict[int, Tensor] = {}  # photo position → [3,H,W] uint8, when caching

    def __len__(self) -> int:
        return len(self.files) * self.repeats

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        generator = None if self.seed is None else torch.Generator().manual_seed(self.seed + index)
        photo = self._load(index)  # [3,H,W] uint8
        image = random_crop(photo, self.image_size, self.scale, generator).float() / 255  # [3,S,S]
        mask = self.masks(self.image_size, self.image_size, generator)  # [1,S,S]
        return {"image": image, "mask": mask}

    def _load(self, index: int) -> Tensor:
        """Photo ``index`` as ``[3,H,W]`` uint8; a file that fails to decode is reported and replaced by the next."""
        for offset in range(len(self.files)):
            position = (index + offset) % len(self.files)
            if position in self._decoded:
                return self._decoded[position]
            try:
                photo = torch.from_numpy(read_photo(self.files[position])).permute(2, 0, 1)
            except InputError as error:
                log.warning(f"cannot decode {self.files[position]} ({error}); using the next photo instead")
                continue
            if self.cache:
                self._decoded[position] = photo
            return photo
        raise RuntimeError("no photo of the dataset could be decoded")


class InpaintingDataModule(L.LightningDataModule):
    """Photos from ``root`` (default: the shipped samples), split by photo into train and validation."""

    def __init__(self, masks: MaskGenerator, root: str | None = None, val_root: str | None = None,
                 val_fraction: float = 0.2, image_size: int = 128, scale: Sequence[float] = (1.0, 2.0),
                 train_repeats: int = 1, val_crops: int = 1, batch_size: int = 16, num_workers: int = 4,
                 seed: int = 0, cache: bool = False):
        super().__init__()
        self.masks, self.root, self.val_root = masks, root, val_root
        self.val_fraction, self.image_size, self.scale = val_fraction, image_size, tuple(scale)
        self.train_repeats, self.val_crops, self.seed = train_repeats, val_crops, seed
        self.batch_size, self.num_workers, self.cache = batch_size, num_workers, cache
        self._split: tuple[list[Path], list[Path]] | None = None

    def split(self) -> tuple[list[Path], list[Path]]:
        """(train photos, validation photos); without ``val_root`` a seeded ``val_fraction`` of the photos. Listed
        once per data module: the scan opens every file's header, and ``check`` and ``setup`` both need it."""
        if self._split is None:
            self._split = self._list_and_split()
        return self._split

    def _list_and_split(self) -> tuple[list[Path], list[Path]]:
        root = self.root if self.root is not None else samples_dir()
        photos = list_images(root)
        if self.val_root is not None:
            return photos, list_images(self.val_root)
        if len(photos) < 2:
            raise InputError(f"{root} holds 1 photo; a train/val split needs at least 2 (or set data.val_root)")
        order = torch.randperm(len(photos), generator=torch.Generator().manual_seed(self.seed)).tolist()
        n_val = min(len(photos) - 1, max(1, round(self.val_fraction * len(photos))))
        val = sorted(photos[i] for i in order[:n_val])
        return [p for p in photos if p not in val], val

    def check(self, world_size: int = 1) -> None:
        """An InputError before training when the photos cannot be found or give no full batch per process."""
        train_files, _ = self.split()
        crops = len(train_files) * self.train_repeats
        if crops < self.batch_size * world_size:
            raise InputError(f"{len(train_files)} training photos × data.train_repeats={self.train_repeats} give "
                             f"{crops} crops per epoch, fewer than data.batch_size={self.batch_size} × {world_size} "
                             "process(es): no batch would train; lower data.batch_size or raise data.train_repeats")

    def setup(self, stage: str | None = None) -> None:
        train_files, val_files = self.split()
        self.train_set = InpaintingDataset(train_files, self.masks, self.image_size, self.scale, self.train_repeats,
                                           cache=self.cache)
        self.val_set = InpaintingDataset(val_files, self.masks, self.image_size, self.scale, self.val_crops,
                                         seed=self.seed, cache=self.cache)
        log.info(f"data: {len(train_files)} train photos ({len(self.train_set)} crops/epoch), "
                 f"{len(val_files)} validation photos ({len(self.val_set)} fixed crops)")

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, self.batch_size, shuffle=True, drop_last=True, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0, pin_memory=torch.cuda.is_available())

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, self.batch_size, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0, pin_memory=torch.cuda.is_available())
