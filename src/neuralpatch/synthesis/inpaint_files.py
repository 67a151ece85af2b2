"""``inpaint_files(cfg)``: reads photos and masks, runs the synthesis, writes result, grid and JSON (atomically)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from importlib.resources import files as package_files
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from neuralpatch.files import (IMAGE_SUFFIXES, InputError, atomic_write, check_writable, from_uint8, read_mask,
                               read_photo, resolve_device, save_png, to_uint8)
from neuralpatch.runs import instantiate_checked
from neuralpatch.synthesis.synthesizer import MIN_SIDE, build_synthesizer

log = logging.getLogger(__name__)


def demo_inputs() -> tuple[Path, Path]:
    """The photo and mask shipped for a bare ``python inpaint.py``."""
    demo = Path(str(package_files("neuralpatch") / "assets" / "demo"))
    return demo / "seeding.jpg", demo / "seeding_mask.png"


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def pair_inputs(image: Path, mask: Path) -> list[tuple[Path, Path]]:
    """(image, mask) pairs: a folder of images takes masks from a folder by stem (``stem.*`` or
    ``stem_mask.*``), or one mask file for all."""
    images = _images_in(image) if image.is_dir() else [image]
    if not images:
        raise InputError(f"no png/jpg/webp images in {image}; pass +image=FILE or a folder of photos")
    if not mask.is_dir():
        return [(path, mask) for path in images]
    masks = {p.stem: p for p in _images_in(mask)}
    pairs = []
    for path in images:
        match = masks.get(f"{path.stem}_mask", masks.get(path.stem))
        if match is None:
            raise InputError(f"no mask for {path.name} in {mask} (looked for {path.stem}.png or {path.stem}_mask.png)")
        pairs.append((path, match))
    return pairs


def output_paths(output: Path, image: Path, single: bool) -> dict[str, Path]:
    if single and output.suffix:
        if output.suffix.lower() != ".png":
            raise InputError(f"output {output} must be a .png (lossless, so pixels outside the hole stay exact) or a folder")
        result = output
    else:
        result = output / f"{image.stem}_inpainted.png"
    return {"result": result, "grid": result.with_name(result.stem + "_grid.png"), "json": result.with_suffix(".json")}


def inpaint_files(cfg: DictConfig, run_dir: Path) -> list[Path]:
    """Inpaints every (image, mask) pair of ``cfg``; returns the result paths. A bad file of a folder is reported
    and skipped; the InputError at the end names every one."""
    if "image" in cfg:
        if "mask" not in cfg:
            raise InputError("+image is given without +mask; pass +mask=PATH (white = hole)")
        image_arg, mask_arg = Path(cfg.image).expanduser(), Path(cfg.mask).expanduser()
    else:
        image_arg, mask_arg = demo_inputs()
        log.info(f"no +image/+mask given: inpainting the shipped demo {image_arg.name}")
    if not image_arg.exists():
        raise InputError(f"image {image_arg} does not exist; pass +image=FILE or a folder of photos")
    if not mask_arg.exists():
        raise InputError(f"mask {mask_arg} does not exist; pass +mask=FILE or a folder of masks")
    pairs = pair_inputs(image_arg, mask_arg)
    output = Path(cfg.output).expanduser() if cfg.output else run_dir
    inputs = {p.resolve() for pair in pairs for p in pair}
    jobs = [(image, mask, output_paths(output, image, len(pairs) == 1)) for image, mask in pairs]
    for _, _, paths in jobs:
        clash = next((p for p in paths.values() if p.resolve() in inputs), None)
        if clash is not None:
            raise InputError(f"output {clash} is one of the inputs; choose another output= (inputs are never overwritten)")
    for folder in {paths["result"].parent for _, _, paths in jobs}:
        check_writable(folder)

    device = resolve_device(cfg.device)
    synthesizer = build_synthesizer(cfg.texture, cfg.synthesis, cfg.pyramid).to(device)
    prior = instantiate_checked(cfg.prior)
    config = OmegaConf.to_container(cfg, resolve=True)
    with RunProgress(len(jobs), synthesizer.levels) as progress:
        if len(jobs) == 1:
            return [_inpaint_one(*jobs[0], synthesizer, prior, device, config, progress)]
        results, failures = [], []
        for image, mask, paths in jobs:
            try:
                results.append(_inpaint_one(image, mask, paths, synthesizer, prior, device, config, progress))
            except InputError as error:
                log.error(f"skipped {image.name}: {error}")
                failures.append(image.name)
            progress.image_done()
    if failures:
        raise InputError(f"{len(failures)} of {len(jobs)} images could not be inpainted ({', '.join(failures)}; "
                         f"reasons above); the other {len(results)} are in {output}")
    return results


def read_pair(image_path: Path, mask_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(photo ``[H,W,3]`` uint8, hole ``[H,W]`` bool), checked: an InputError names the file that cannot be used."""
    photo = read_photo(image_path)
    if min(photo.shape[:2]) < MIN_SIDE:
        raise InputError(f"image {image_path} is {photo.shape[1]}×{photo.shape[0]} px; the synthesis needs at least "
                         f"{MIN_SIDE} px on each side")
    hole = read_mask(mask_path, (photo.shape[1], photo.shape[0]))
    if hole.all():
        raise InputError(f"mask {mask_path} covers the whole image; nothing is left to synthesize from")
    return photo, hole


def _inpaint_one(image_path: Path, mask_path: Path, paths: dict[str, Path], synthesizer, prior, device, config,
                 progress: RunProgress) -> Path:
    photo, hole = read_pair(image_path, mask_path)  # [H,W,3] uint8, [H,W] bool
    image = from_uint8(photo, device)  # [1,3,H,W]
    hole_t = torch.from_numpy(hole)[None, None].to(device)  # [1,1,H,W]
    start = time.perf_counter()
    result, info = synthesizer(image, hole_t, prior, progress=progress.image(image_path.name))
    filled = np.where(hole[..., None], to_uint8(result), photo)  # bit-exact outside the hole
    save_png(filled, paths["result"])
    first_fill = np.where(hole[..., None], to_uint8(info["prior"]), photo)
    masked = np.where(hole[..., None], np.uint8(255), photo)
    save_png(np.concatenate([masked, first_fill, filled], axis=1), paths["grid"])  # input with hole | prior | fill
    record = {"image": str(image_path), "mask": str(mask_path), **{k: str(v) for k, v in paths.items()},
              "size": [photo.shape[1], photo.shape[0]], "hole_fraction": float(hole.mean()),
              "texture_backbone": synthesizer.texture.name, "prior": config["prior"]["_target_"], "device": str(device),
              "seconds": time.perf_counter() - start, "windows": info["windows"], "levels": info["levels"],
              "config": config}
    atomic_write(paths["json"], lambda temporary: temporary.write_text(json.dumps(record, indent=2)))
    log.info(f"{image_path.name}: {paths['result']} ({record['seconds']:.1f} s; grid {paths['grid'].name})")
    return paths["result"]


class RunProgress:
    """Rich progress bars, only on a terminal: one for the images of a folder (with the time left for the folder)
    and, for the current image, one per pyramid level and window, counting energy evaluations."""

    def __init__(self, images: int, levels: int):
        self.levels = levels
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TimeRemainingColumn(), disable=not Console().is_terminal)
        self.images = self.bar.add_task("images", total=images) if images > 1 else None
        self.tasks: dict[int, int] = {}  # level → bar of the current image and window
        self.name, self.window, self.last = "", 1, (-1, 0)  # image, window number, last (level, evaluation)

    def __enter__(self) -> RunProgress:
        self.bar.start()
        return self

    def image(self, name: str) -> Callable[[int, int, int], None]:
        """Starts the bars of image ``name`` (the previous image's are removed); returns the synthesis callback."""
        for task in self.tasks.values():
            self.bar.remove_task(task)
        self.tasks, self.name, self.window, self.last = {}, name, 1, (-1, 0)
        return self.update

    def image_done(self) -> None:
        if self.images is not None:
            self.bar.advance(self.images)

    def update(self, level: int, evaluation: int, total: int) -> None:
        if (level, evaluation) < self.last:  # the pyramid starts again: the next window
            for task in self.tasks.values():
                self.bar.remove_task(task)
            self.tasks, self.window = {}, self.window + 1
        self.last = (level, evaluation)
        if level not in self.tasks:
            where = f" window {self.window}" if self.window > 1 else ""
            self.tasks[level] = self.bar.add_task(f"{self.name}{where} level {level + 1}/{self.levels}", total=total)
        self.bar.update(self.tasks[level], completed=evaluation)

    def __exit__(self, *exc) -> None:
        self.bar.stop()
