"""``inpaint_files(cfg)``: reads photos and masks, runs the synthesis, writes result, grid and JSON (atomically)."""

from __future__ import annotations

import json
import logging
import os
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
                               read_photo, save_png, save_side_by_side, to_uint8)
from neuralpatch.runs import Interrupted, instantiate_checked
from neuralpatch.synthesis.sharding import fill_in_processes, worker_devices
from neuralpatch.synthesis.synthesizer import MIN_SIDE, build_synthesizer

log = logging.getLogger(__name__)


def demo_inputs() -> tuple[Path, Path]:
    """The photo and mask shipped for a bare ``python inpaint.py``."""
    demo = Path(str(package_files("neuralpatch") / "assets" / "demo"))
    return demo / "seeding.jpg", demo / "seeding_mask.png"


GRID_SIDE = 3072  # px: the longest side of the <stem>_inpainted_grid.png preview
MASK_SUFFIX = "_mask"  # a.png's mask beside it: a_mask.png (what evaluate.py writes)


def _images_in(folder: Path, name_subfolders: bool = True) -> list[Path]:
    """The image files of ``folder`` itself: hidden files (``.x.png``, macOS ``._x.png``) are not photos and are
    ignored; subfolders are named in one line and not walked."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    subfolders = sorted(p.name for p in entries if p.is_dir())
    if subfolders and name_subfolders:
        log.warning(f"{folder}: not reading the subfolders {', '.join(subfolders)} (only the folder's own images; "
                    f"pass a subfolder as +image=… to fill it)")
    return sorted(p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def pair_inputs(image: Path, mask: Path) -> list[tuple[Path, Path]]:
    """(image, mask) pairs: a folder of images takes masks from a folder by stem (``stem.*`` or
    ``stem_mask.*``, which may be the images' own folder: its ``*_mask`` files are then masks, not photos), or
    one mask file for all."""
    images = _images_in(image) if image.is_dir() else [image]
    together = image.is_dir() and mask.is_dir() and image.resolve() == mask.resolve()
    if together:
        images = [p for p in images if not p.stem.endswith(MASK_SUFFIX)]
    if not images:
        raise InputError(f"no png/jpg/webp images in {image}; pass +image=FILE or a folder of photos")
    if not mask.is_dir():
        return [(path, mask) for path in images]
    masks = {p.stem: p for p in _images_in(mask, not together) if not together or p.stem.endswith(MASK_SUFFIX)}
    pairs = []
    for path in images:
        match = masks.get(f"{path.stem}{MASK_SUFFIX}", masks.get(path.stem))
        if match is None:
            raise InputError(f"no mask for {path.name} in {mask} (looked for {path.stem}.png or {path.stem}_mask.png)")
        pairs.append((path, match))
    return pairs


def output_paths(output: str | Path, image: Path, single: bool) -> dict[str, Path]:
    """Result, grid and JSON paths: ``output`` is the result file for one image unless it is a folder (an existing
    one, or a path ending in ``/``, whatever its name: ``results.v2``), else the folder of ``<stem>_inpainted.png``."""
    folder = str(output).endswith(("/", os.sep))
    output = Path(output).expanduser()
    if single and output.suffix and not folder and not output.is_dir():
        if output.suffix.lower() != ".png":
            raise InputError(f"output {output} must be a .png (lossless, so pixels outside the hole stay exact) or a "
                             f"folder: an existing one, or end it with / (output={output}/)")
        result = output
    else:
        result = output / f"{image.stem}_inpainted.png"
    return {"result": result, "grid": result.with_name(result.stem + "_grid.png"), "json": result.with_suffix(".json")}


Job = tuple[Path, Path, dict[str, Path]]  # (image, mask, output paths)


def inpaint_files(cfg: DictConfig, run_dir: Path) -> list[Path]:
    """Inpaints every (image, mask) pair of ``cfg`` (this job's shard of a folder, over ``cfg.devices``
    processes); returns the result paths. A bad file of a folder is reported and skipped; the InputError at the
    end names every one."""
    jobs, output = plan_jobs(cfg, run_dir)
    devices = worker_devices(cfg.device, cfg.devices)  # checked before the network loads
    config = OmegaConf.to_container(cfg, resolve=True)
    if len(devices) == 1:
        results, failures = fill(jobs, config, devices[0], single=len(jobs) == 1 and cfg.shards == 1)
    else:
        results, failures = fill_in_processes(jobs, config, devices)
    if failures:
        raise InputError(f"{len(failures)} of {len(jobs)} images could not be inpainted ({', '.join(failures)}; "
                         f"reasons above); the other {len(results)} are in {output}")
    return results


def plan_jobs(cfg: DictConfig, run_dir: Path) -> tuple[list[Job], str | Path]:
    """This job's (image, mask, output paths), checked (inputs exist, outputs writable and never an input), and
    the output; a folder's photos are split into ``cfg.shards`` shards by their sorted order."""
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
    if not (isinstance(cfg.shards, int) and isinstance(cfg.shard, int) and 0 <= cfg.shard < cfg.shards):
        raise InputError(f"shard={cfg.shard} shards={cfg.shards}: shards must be ≥ 1 and 0 ≤ shard < shards")
    pairs = pair_inputs(image_arg, mask_arg)
    output = str(cfg.output) if cfg.output else run_dir
    inputs = {p.resolve() for pair in pairs for p in pair}
    jobs = [(image, mask, output_paths(output, image, len(pairs) == 1)) for image, mask in pairs]
    for _, _, paths in jobs:
        clash = next((p for p in paths.values() if p.resolve() in inputs), None)
        if clash is not None:
            raise InputError(f"output {clash} is one of the inputs; choose another output= (inputs are never overwritten)")
    for folder in {paths["result"].parent for _, _, paths in jobs}:
        check_writable(folder)
    if cfg.shards > 1:
        jobs = jobs[cfg.shard :: cfg.shards]
        log.info(f"shard {cfg.shard} of {cfg.shards}: {len(jobs)} of {len(pairs)} images")
    return jobs, output


def fill(jobs: list[Job], config: dict, device: torch.device, single: bool = False,
         show_progress: bool = True) -> tuple[list[Path], list[str]]:
    """Fills ``jobs`` on ``device`` with the synthesis of ``config`` (a resolved inpaint config): (result paths,
    names of the images skipped as bad). ``single``: a bad image is the run's InputError."""
    synthesizer = build_synthesizer(config["texture"], config["synthesis"], config["pyramid"]).to(device)
    prior = instantiate_checked(config["prior"])
    results, failures = [], []
    with RunProgress(len(jobs), synthesizer.levels, show_progress) as progress:
        try:  # Ctrl-C anywhere in the loop, between images too, is one line saying what was finished
            for image, mask, paths in jobs:
                try:
                    results.append(_inpaint_one(image, mask, paths, synthesizer, prior, device, config, progress))
                except InputError as error:
                    if single:
                        raise
                    log.error(f"skipped {image.name}: {error}")
                    failures.append(image.name)
                progress.image_done()
        except KeyboardInterrupt:
            where = f", in {results[0].parent}" if results else ""
            raise Interrupted(f"{len(results)} of {len(jobs)} images finished{where}; nothing partial was "
                              f"written") from None
    return results, failures


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
    started, start = time.time(), time.perf_counter()
    result, info = synthesizer(image, hole_t, prior, progress=progress.image(image_path.name))
    filled = np.where(hole[..., None], to_uint8(result), photo)  # bit-exact outside the hole
    save_png(filled, paths["result"])
    first_fill = np.where(hole[..., None], to_uint8(info["prior"]), photo)
    masked = np.where(hole[..., None], np.uint8(255), photo)
    # input with hole | prior | fill, a preview at most GRID_SIDE px wide
    save_side_by_side([masked, first_fill, filled], paths["grid"], GRID_SIDE)
    record = {"image": str(image_path), "mask": str(mask_path), **{k: str(v) for k, v in paths.items()},
              "size": [photo.shape[1], photo.shape[0]], "hole_fraction": float(hole.mean()),
              "texture_backbone": synthesizer.texture.name, "prior": config["prior"]["_target_"], "device": str(device),
              "started": started, "seconds": time.perf_counter() - start, "windows": info["windows"],
              "levels": info["levels"],
              "config": config}
    atomic_write(paths["json"], lambda temporary: temporary.write_text(json.dumps(record, indent=2)))
    log.info(f"{image_path.name}: {paths['result']} ({record['seconds']:.1f} s; grid {paths['grid'].name})")
    return paths["result"]


class RunProgress:
    """Rich progress bars, only on a terminal: one for the images of a folder (with the time left for the folder)
    and, for the current image, one per pyramid level and window, counting energy evaluations."""

    def __init__(self, images: int, levels: int, show: bool = True):
        self.levels = levels
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TimeRemainingColumn(), disable=not (show and Console().is_terminal))
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
