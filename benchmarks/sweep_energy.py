"""Sweep of the synthesis settings on photos, scored by the perceptual judge, sharpness, PSNR and seconds.

    python benchmarks/sweep_energy.py --photos ../shared/data/photos --split tune --images 7 --size 256 \
        --settings '{"alpha": 0.1}' '{"alpha": 0.3, "prior": "navier_stokes"}' --out sweep.csv

Each photo gives two samples: the centre square crop with the paper's centre hole (half the side) and with a
seeded free-form mask (masks=irregular, medium). ``--split`` takes the photos of conf/photos/<split>.yaml: sweeps
run on the tuning half only (docs/results.md, "Protocol"). ``prior`` names a conf/prior option; ``only: true`` scores the
prior alone; every other key is a Synthesizer setting. Prints one line per setting and mask kind, appends rows
to ``--out`` and plots it (``--plot``). Never run it on the reserved evaluation sources (developers' guide).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from hydra.utils import instantiate

from neuralpatch.evaluation.run import named_photos, square_crop
from neuralpatch.metrics.hole import hole_metrics
from neuralpatch.metrics.perceptual import Lite0Distance
from neuralpatch.synthesis.synthesizer import Synthesizer
from neuralpatch.synthesis.texture import build_texture_network
from neuralpatch.training.masks import CenterMask, IrregularMask

CONF = Path(__file__).resolve().parents[1] / "conf"
COLUMNS = ["setting", "masks", "images", "judge", "grain", "sharpness", "psnr", "seconds"]


def samples(folder: Path, split: str, count: int, size: int) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(mask kind, image [1,3,S,S], hole [1,1,S,S]) for ``count`` photos spread over the split's photos."""
    names = yaml.safe_load((CONF / "photos" / f"{split}.yaml").read_text())["names"]
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    photos = named_photos(photos, names) if names else photos
    photos = photos[:: max(1, len(photos) // count)][:count]
    centre, free = CenterMask(), IrregularMask.preset("medium")
    result = []
    for index, path in enumerate(photos):
        image = square_crop(path, size)  # the evaluation set's crop
        generator = torch.Generator().manual_seed(index)
        result += [("centre", image, centre(size, size, generator)[None]),
                   ("free-form", image, free(size, size, generator)[None])]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--split", default="tune", choices=["tune", "report", "all"])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--texture", default="vgg16_bn_craft")
    parser.add_argument("--settings", nargs="+", required=True, help="JSON objects")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    torch.manual_seed(0)
    data, judge = samples(args.photos, args.split, args.images, args.size), Lite0Distance()
    network = build_texture_network(args.texture, ["relu3_1", "relu4_1"])
    defaults = yaml.safe_load((CONF / "synthesis" / "default.yaml").read_text())
    for text in args.settings:
        setting = json.loads(text)
        options = dict(setting)
        prior_name = options.pop("prior", "softened_lines")  # the default's
        prior = instantiate(yaml.safe_load((CONF / "prior" / f"{prior_name}.yaml").read_text()))
        only = options.pop("only", False)
        pyramid = {k: options.pop(k) for k in ("levels", "max_pixels", "feather") if k in options}
        synthesizer = Synthesizer(network, **{**defaults, **options, **pyramid})
        scores: dict[str, list[list[float]]] = {}
        for kind, image, hole in data:
            start = time.perf_counter()
            result = prior(image * (1 - hole), hole.bool()) if only else synthesizer(image, hole, prior)[0]
            seconds = time.perf_counter() - start
            metrics = hole_metrics(result, image, hole)
            scores.setdefault(kind, []).append([judge(result, image, hole), metrics["grain"], metrics["sharpness"],
                                                metrics["psnr"], seconds])
        new = not args.out.exists()
        with args.out.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(COLUMNS)
            for kind, rows in scores.items():
                means = np.mean(rows, axis=0)
                writer.writerow([json.dumps(setting), kind, len(rows), *(f"{m:.4f}" for m in means)])
                print(f"{json.dumps(setting)} {kind}: judge {means[0]:.3f} grain {means[1]:.2f} sharpness "
                      f"{means[2]:.3f} PSNR {means[3]:.2f} dB {means[4]:.1f} s/image", flush=True)
    if args.plot:
        plot(args.out, args.plot)


def plot(table: Path, path: Path) -> None:
    """Judge against sharpness (one point per setting and mask kind, numbered by the setting's order in the
    table), PSNR as the colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(table.open()))
    number = {setting: index + 1 for index, setting in enumerate(dict.fromkeys(r["setting"] for r in rows))}
    figure, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for axis, kind in zip(axes, ("centre", "free-form")):
        chosen = [r for r in rows if r["masks"] == kind]
        points = axis.scatter([float(r["sharpness"]) for r in chosen], [float(r["judge"]) for r in chosen],
                              c=[float(r["psnr"]) for r in chosen], cmap="viridis")
        for r in chosen:
            axis.annotate(str(number[r["setting"]]), (float(r["sharpness"]), float(r["judge"])), fontsize=8,
                          xytext=(3, 3), textcoords="offset points")
        axis.axvspan(0.6, 1.4, color="0.9", zorder=0)
        axis.set(title=f"{kind} holes", xlabel="sharpness (fill / ground truth; target band shaded)", ylabel="judge ↓")
        figure.colorbar(points, ax=axis, label="PSNR dB")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
