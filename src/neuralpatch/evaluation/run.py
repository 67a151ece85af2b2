"""``evaluate(cfg)``: a fixed evaluation set, several methods, hole metrics, tables, a grid and W&B logs."""

from __future__ import annotations

import csv
import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from neuralpatch.evaluation.methods import Resources
from neuralpatch.files import (InputError, atomic_write, first_line, from_uint8, read_photo, resolve_device, save_png,
                               to_uint8)
from neuralpatch.metrics.hole import hole_metrics
from neuralpatch.metrics.perceptual import build_judge
from neuralpatch.runs import instantiate_checked
from neuralpatch.synthesis.inpaint_files import read_pair
from neuralpatch.synthesis.settings import check_config
from neuralpatch.training.loggers import wandb_offline

log = logging.getLogger(__name__)

METRICS = ("perceptual", "grain", "grain_luma", "sharpness", "psnr", "ssim", "l1", "l2", "seconds")
HEADERS = {"perceptual": "judge ↓", "grain": "grain", "grain_luma": "grain Y", "sharpness": "sharpness",
           "psnr": "PSNR dB", "ssim": "SSIM", "l1": "L1 %", "l2": "L2 %", "seconds": "s/image"}


@dataclass
class Sample:
    name: str
    image: Tensor  # [1,3,H,W] in [0,1]
    hole: Tensor  # [1,1,H,W] in {0,1}


def square_crop(path: Path, size: int) -> Tensor:
    """The photo's centre square, area-resized to ``size``², rounded to 8 bits (exactly what is saved)."""
    image = from_uint8(read_photo(path))
    side = min(image.shape[-2:])
    top, left = (image.shape[-2] - side) // 2, (image.shape[-1] - side) // 2
    return from_uint8(to_uint8(F.interpolate(image[..., top : top + side, left : left + side], (size, size), mode="area")))


def read_pairs(folder: Path) -> list[Sample]:
    """``<stem>.png`` + ``<stem>_mask.png`` pairs; an image without its mask, a mask without its image, or a mask
    whose hole is empty or everything, is an InputError naming the files (before any method runs)."""
    if not folder.is_dir():
        raise InputError(f"eval.pairs {folder} is not a folder; pass a folder of <stem>.png + <stem>_mask.png")
    files = {p.name for p in folder.glob("*.png")}
    images = sorted(name for name in files if not name.endswith("_mask.png"))
    alone = [name for name in images if f"{name[:-4]}_mask.png" not in files]
    alone += [name for name in sorted(files - set(images)) if name.removesuffix("_mask.png") + ".png" not in files]
    if alone:
        raise InputError(f"eval.pairs {folder}: unpaired files {', '.join(alone)}; every <stem>.png needs a "
                         "<stem>_mask.png and the reverse")
    samples = []
    for name in images:
        photo, hole = read_pair(folder / name, folder / f"{name[:-4]}_mask.png")
        samples.append(Sample(name[:-4], from_uint8(photo), torch.from_numpy(hole)[None, None].float()))
    return samples


def named_photos(photos: list[Path], names: list[str] | None) -> list[Path]:
    """The ``photos`` whose file names are in ``names`` (the ``photos`` group; None: all), in ``names``' order; a
    name missing from the data is an InputError."""
    if names is None:
        return photos
    by_name = {path.name: path for path in photos}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise InputError(f"photos.names: {len(missing)} of {len(names)} photos are not in the data "
                         f"({', '.join(missing[:3])}{', …' if len(missing) > 3 else ''}); point data.root at "
                         "../shared/data/photos or choose photos=all")
    return [by_name[name] for name in names]


def build_eval_set(cfg: DictConfig, out_dir: Path) -> list[Sample]:
    """From ``eval.pairs`` (``<stem>.png`` + ``<stem>_mask.png``), or from the photos of ``data`` (``eval.split``):
    centre square crops at ``eval.image_size`` with masks drawn from ``masks`` seeded by ``eval.seed`` + index.
    Generated sets are saved under ``out_dir/eval_set`` as pairs, so ``eval.pairs=<that folder>`` reuses them."""
    if cfg.eval.pairs:
        return read_pairs(Path(cfg.eval.pairs).expanduser())[: cfg.eval.max_images]
    train, val = instantiate_checked(cfg.data, masks=None).split()
    photos = {"val": val, "train": train, "all": sorted(train + val)}[cfg.eval.split]
    photos = named_photos(photos, cfg.photos.names)[: cfg.eval.max_images]
    masks, size, samples = instantiate_checked(cfg.masks), cfg.eval.image_size, []
    for index, path in enumerate(photos):
        image = square_crop(path, size)
        hole = masks(size, size, torch.Generator().manual_seed(cfg.eval.seed + index))[None]
        if not 0 < hole.mean() < 1:
            raise InputError(f"the masks group gave {path.name} a hole of {100 * hole.mean():.0f} % of the image; "
                             "choose masks whose holes leave known pixels (e.g. masks.size < 1)")
        samples.append(Sample(path.stem, image, hole))
        save_png(to_uint8(image), out_dir / "eval_set" / f"{path.stem}.png")
        save_png((hole[0, 0].numpy() * 255).astype(np.uint8), out_dir / "eval_set" / f"{path.stem}_mask.png")
    return samples


def optional_metric(name: str, build):
    """``build()``, or None with one warning line saying why (a missing package, weights that cannot be downloaded)."""
    try:
        return build()
    except Exception as error:
        log.warning(f"{name} skipped: cannot load it here ({first_line(error)})")
        return None


def _fid(device: torch.device):
    from torchmetrics.image.fid import FrechetInceptionDistance

    return FrechetInceptionDistance(normalize=True).to(device)


def build_method(name: str, node: DictConfig, resources: Resources):
    """The method of ``node``; one that cannot be built (a prior without its checkpoint) fails on every image."""
    try:
        return instantiate(node)(resources)
    except Exception as error:
        message = first_line(error.__cause__ or error)  # Hydra wraps what the target raised
        log.warning(f"method {name} cannot be built: {message}")

        def failed(image: Tensor, hole: Tensor) -> Tensor:
            raise RuntimeError(message)

        return failed


def markdown_table(headers: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]) + "\n"


def summarize(rows: list[dict], methods: list[str]) -> list[list]:
    """Per method: images done, failures, and the mean of each metric (L1/L2 in % of the [0,1] range)."""
    table = []
    for method in methods:
        done = [r for r in rows if r["method"] == method and r["status"] == "ok"]
        failed = sum(1 for r in rows if r["method"] == method and r["status"] != "ok")
        means = [float(np.mean([r[m] for r in done])) * (100 if m in ("l1", "l2") else 1) if done else "-"
                 for m in METRICS]
        table.append([method, len(done), failed, *means])
    return table


def by_area(rows: list[dict], methods: list[str], edges: list[float], metric: str) -> list[list]:
    """Mean ``metric`` per method and hole-area bin."""
    table = []
    for method in methods:
        cells = []
        for low, high in zip(edges, edges[1:]):
            values = [r[metric] for r in rows
                      if r["method"] == method and r["status"] == "ok" and low <= r["hole_fraction"] < high]
            cells.append(float(np.mean(values)) if values else "-")
        table.append([method, *cells])
    return table


def comparison_grid(samples: list[Sample], results: dict[tuple[str, str], Tensor], methods: list[str],
                    height: int = 256) -> np.ndarray:
    """Rows = images; columns = input with hole | each method (grey where it failed) | ground truth."""
    rows = []
    for sample in samples:
        cells = [sample.image * (1 - sample.hole) + sample.hole]
        cells += [results.get((sample.name, m), torch.full_like(sample.image, 0.5)) for m in methods]
        cells.append(sample.image)
        width = round(height * sample.image.shape[-1] / sample.image.shape[-2])
        rows.append(np.concatenate([to_uint8(F.interpolate(c.cpu(), (height, width), mode="area")) for c in cells], 1))
    width = max(r.shape[1] for r in rows)
    return np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])


def evaluate(cfg: DictConfig, out_dir: Path) -> list[list]:
    """Runs every method of ``cfg.method`` on the evaluation set; writes results.csv, results.md and grid.png."""
    device = resolve_device(cfg.device)
    check_config(cfg.synthesis, cfg.pyramid)  # a setting out of range stops here, before any image
    samples = build_eval_set(cfg, out_dir)
    if not samples:
        raise InputError("the evaluation set is empty; check eval.pairs / data.root / eval.max_images")
    resources = Resources(cfg, device)
    methods = {name: build_method(name, node, resources) for name, node in cfg.method.items()}
    judge = build_judge(cfg.judge_lpips).to(device)
    fids = optional_metric("FID", lambda: {name: _fid(device) for name in methods})
    rows, results = [], {}
    for sample in samples:
        image, hole = sample.image.to(device), sample.hole.to(device)
        for name, method in methods.items():
            row = {"image": sample.name, "method": name, "hole_fraction": float(sample.hole.mean())}
            start = time.perf_counter()
            try:
                result = method(image, hole)
                row |= hole_metrics(result, image, hole) | {"seconds": time.perf_counter() - start, "status": "ok"}
                row["perceptual"] = judge(result, image, hole)
                if fids:
                    fids[name].update(image, real=True)
                    fids[name].update(result.clamp(0, 1), real=False)
                results[(sample.name, name)] = result.cpu()
            except Exception as error:  # one method failing on one image is a table entry, not a crash
                message = first_line(error)
                log.warning(f"{name} failed on {sample.name}: {message}")
                row |= {m: float("nan") for m in METRICS} | {"status": f"failed: {message}"}
            rows.append(row)
        log.info(f"{sample.name}: " + ", ".join(f"{r['method']} {r['psnr']:.2f} dB" for r in rows[-len(methods):]))

    names = list(methods)
    columns = ["image", "method", "hole_fraction", *METRICS, "status"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(out_dir / "results.csv", lambda temporary: temporary.write_text(buffer.getvalue()))
    summary = summarize(rows, names)
    edges = list(cfg.eval.area_bins)
    bins = [f"{100 * low:.0f}–{100 * high:.0f}%" for low, high in zip(edges, edges[1:])]
    report = (f"# Evaluation: {len(samples)} images\n\njudge: {judge.name}\n\n" + markdown_table(
        ["method", "images", "failed", *(HEADERS[m] for m in METRICS)], summary)
        + "\nPSNR (dB) by hole area:\n\n" + markdown_table(["method", *bins], by_area(rows, names, edges, "psnr"))
        + "\n" + _fid_line(fids))
    atomic_write(out_dir / "results.md", lambda temporary: temporary.write_text(report))
    save_png(comparison_grid(samples[: cfg.eval.grid_rows], results, names), out_dir / "grid.png")
    log.info(f"results: {out_dir / 'results.csv'}, {out_dir / 'results.md'}, grid {out_dir / 'grid.png'}\n{report}")
    if cfg.wandb:
        _log_wandb(cfg, out_dir, rows, summary, columns)
    return summary


def _fid_line(fids: dict | None) -> str:
    if not fids:
        return "FID: not computed (see the log for why).\n"
    return "FID (whole images vs ground truth): " + ", ".join(
        f"{name} {float(fid.compute()):.2f}" for name, fid in fids.items()) + "\n"


def _log_wandb(cfg: DictConfig, out_dir: Path, rows: list[dict], summary: list[list], columns: list[str]) -> None:
    import wandb

    mode = "offline" if wandb_offline(str(out_dir)) else "online"
    run = wandb.init(project="neuralpatch", job_type="evaluate", dir=str(out_dir), mode=mode,
                     config=OmegaConf.to_container(cfg, resolve=True))
    run.log({"results": wandb.Table(columns=columns, data=[[r[c] for c in columns] for r in rows]),
             "summary": wandb.Table(columns=["method", "images", "failed", *METRICS], data=summary),
             "grid": wandb.Image(str(out_dir / "grid.png"))})
    run.finish()
