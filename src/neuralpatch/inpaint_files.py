"""``inpaint_files(cfg)``: reads photos and masks, runs the synthesis, writes result, grid and JSON (atomically)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from importlib.resources import files as package_files
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from PIL import Image, UnidentifiedImageError
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from neuralpatch.data import IMAGE_SUFFIXES
from neuralpatch.files import InpaintError, atomic_write, from_uint8, resolve_device, save_png, to_8bit, to_uint8
from neuralpatch.synthesis import build_synthesizer

log = logging.getLogger(__name__)


def demo_inputs() -> tuple[Path, Path]:
    """The photo and mask shipped for a bare ``python inpaint.py``."""
    demo = Path(str(package_files("neuralpatch") / "assets" / "demo"))
    return demo / "seeding.jpg", demo / "seeding_mask.png"


def _open(path: Path, what: str) -> Image.Image:
    if not path.is_file():
        raise InpaintError(f"{what} {path} does not exist; pass an existing file (or folder) with +{what}=PATH")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError) as error:
        raise InpaintError(f"cannot read {what} {path} ({error}); pass a PNG, JPEG or WebP file") from None
    return to_8bit(image)


def read_photo(path: Path) -> np.ndarray:
    """``[H,W,3]`` uint8 RGB (grey, palette, RGBA and 16-bit images converted; alpha dropped)."""
    return np.array(_open(path, "image").convert("RGB"))


def read_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """``[H,W]`` bool, True = hole (grey value > 127), resized with nearest neighbour to ``size`` (W, H)."""
    mask = _open(path, "mask").convert("L")
    if mask.size != size:
        log.warning(f"mask {path} is {mask.size[0]}×{mask.size[1]}, the image {size[0]}×{size[1]}: "
                    "resized with nearest neighbour")
        mask = mask.resize(size, Image.NEAREST)
    return np.asarray(mask) > 127


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def pair_inputs(image: Path, mask: Path) -> list[tuple[Path, Path]]:
    """(image, mask) pairs: a folder of images takes masks from a folder by stem (``stem.*`` or
    ``stem_mask.*``), or one mask file for all."""
    images = _images_in(image) if image.is_dir() else [image]
    if not images:
        raise InpaintError(f"no png/jpg/webp images in {image}; pass +image=FILE or a folder of photos")
    if not mask.is_dir():
        return [(path, mask) for path in images]
    masks = {p.stem: p for p in _images_in(mask)}
    pairs = []
    for path in images:
        match = masks.get(f"{path.stem}_mask", masks.get(path.stem))
        if match is None:
            raise InpaintError(f"no mask for {path.name} in {mask} (looked for {path.stem}.png or {path.stem}_mask.png)")
        pairs.append((path, match))
    return pairs


def output_paths(output: Path, image: Path, single: bool) -> dict[str, Path]:
    if single and output.suffix:
        if output.suffix.lower() != ".png":
            raise InpaintError(f"output {output} must be a .png (lossless, so pixels outside the hole stay exact) or a folder")
        result = output
    else:
        result = output / f"{image.stem}_inpainted.png"
    return {"result": result, "grid": result.with_name(result.stem + "_grid.png"), "json": result.with_suffix(".json")}


def inpaint_files(cfg: DictConfig, run_dir: Path) -> list[Path]:
    """Inpaints every (image, mask) pair of ``cfg``; returns the result paths."""
    if "image" in cfg:
        if "mask" not in cfg:
            raise InpaintError("+image is given without +mask; pass +mask=PATH (white = hole)")
        image_arg, mask_arg = Path(cfg.image).expanduser(), Path(cfg.mask).expanduser()
    else:
        image_arg, mask_arg = demo_inputs()
        log.info(f"no +image/+mask given: inpainting the shipped demo {image_arg.name}")
    if not image_arg.exists():
        raise InpaintError(f"image {image_arg} does not exist; pass +image=FILE or a folder of photos")
    if not mask_arg.exists():
        raise InpaintError(f"mask {mask_arg} does not exist; pass +mask=FILE or a folder of masks")
    pairs = pair_inputs(image_arg, mask_arg)
    output = Path(cfg.output).expanduser() if cfg.output else run_dir
    inputs = {p.resolve() for pair in pairs for p in pair}
    jobs = [(image, mask, output_paths(output, image, len(pairs) == 1)) for image, mask in pairs]
    for _, _, paths in jobs:
        clash = next((p for p in paths.values() if p.resolve() in inputs), None)
        if clash is not None:
            raise InpaintError(f"output {clash} is one of the inputs; choose another output= (inputs are never overwritten)")

    device = resolve_device(cfg.device)
    try:
        synthesizer = build_synthesizer(cfg.texture, cfg.synthesis, cfg.pyramid).to(device)
        prior = instantiate(cfg.prior)
    except (ValueError, OSError, InstantiationException) as error:  # a setting out of range, a missing checkpoint
        raise InpaintError(str(error.__cause__ or error).splitlines()[0]) from None
    config = OmegaConf.to_container(cfg, resolve=True)
    return [_inpaint_one(image, mask, paths, synthesizer, prior, device, config) for image, mask, paths in jobs]


def _inpaint_one(image_path: Path, mask_path: Path, paths: dict[str, Path], synthesizer, prior, device, config) -> Path:
    photo = read_photo(image_path)  # [H,W,3] uint8
    hole = read_mask(mask_path, (photo.shape[1], photo.shape[0]))  # [H,W] bool
    if hole.all():
        raise InpaintError(f"mask {mask_path} covers the whole image; nothing is left to synthesize from")
    image = from_uint8(photo, device)  # [1,3,H,W]
    hole_t = torch.from_numpy(hole)[None, None].to(device)  # [1,1,H,W]
    start = time.perf_counter()
    if not hole.any():
        log.warning(f"mask {mask_path} has no hole (no pixel > 127): {image_path.name} is copied unchanged")
        result, info = image, {"levels": [], "prior": image}
    else:
        with LevelProgress(image_path.name, synthesizer.levels) as update:
            result, info = synthesizer(image, hole_t, prior, progress=update)
    filled = np.where(hole[..., None], to_uint8(result), photo)  # bit-exact outside the hole
    save_png(filled, paths["result"])
    first_fill = np.where(hole[..., None], to_uint8(info["prior"]), photo)
    masked = np.where(hole[..., None], np.uint8(255), photo)
    save_png(np.concatenate([masked, first_fill, filled], axis=1), paths["grid"])  # input with hole | prior | fill
    record = {"image": str(image_path), "mask": str(mask_path), **{k: str(v) for k, v in paths.items()},
              "size": [photo.shape[1], photo.shape[0]], "hole_fraction": float(hole.mean()),
              "texture_backbone": synthesizer.texture.name, "prior": config["prior"]["_target_"], "device": str(device),
              "seconds": time.perf_counter() - start, "windows": info.get("windows", []), "levels": info["levels"],
              "config": config}
    atomic_write(paths["json"], lambda temporary: temporary.write_text(json.dumps(record, indent=2)))
    log.info(f"{image_path.name}: {paths['result']} ({record['seconds']:.1f} s; grid {paths['grid'].name})")
    return paths["result"]


class LevelProgress:
    """A rich progress bar per pyramid level (and window), counting energy evaluations, with the time left."""

    def __init__(self, name: str, levels: int):
        self.name, self.levels = name, levels
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TimeRemainingColumn())
        self.tasks: dict[int, int] = {}
        self.window = 1

    def __enter__(self):
        self.bar.start()
        return self.update

    def update(self, level: int, evaluation: int, total: int) -> None:
        if level == 0 and level in self.tasks and self.bar.tasks[self.tasks[0]].finished:  # the next window starts
            self.tasks, self.window = {}, self.window + 1
        if level not in self.tasks:
            where = f" window {self.window}" if self.window > 1 else ""
            self.tasks[level] = self.bar.add_task(f"{self.name}{where} level {level + 1}/{self.levels}", total=total)
        self.bar.update(self.tasks[level], completed=evaluation)

    def __exit__(self, *exc) -> None:
        self.bar.stop()
