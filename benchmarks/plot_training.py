"""Training curves of a train.py run logged with ``logger=csv``: the losses and the validation metrics against
batches, one image.

    python benchmarks/plot_training.py outputs/train/<run>/csv/version_0/metrics.csv docs/training/curves.png

A resumed run logs a new version: pass each version's metrics.csv in order. A later version replaces the rows
of earlier ones from its first step on (the batches after the resumed checkpoint that were thrown away).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

PANELS = [("generator", ["train/loss_rec", "train/loss_g"]), ("adversarial", ["train/loss_adv", "train/loss_d"]),
          ("validation PSNR (dB, hole)", ["val/psnr"]), ("validation SSIM / L1 (hole)", ["val/ssim", "val/l1"]),
          ("validation judge ↓ (hole)", ["val/judge"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("metrics", type=Path, nargs="+", help="metrics.csv of each version, in order")
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for metrics in args.metrics:
        resumed = list(csv.DictReader(metrics.open()))
        first = min((int(row["step"]) for row in resumed), default=0)
        rows = [row for row in rows if int(row["step"]) < first] + resumed
    panels = [(title, keys) for title, keys in PANELS if any(row.get(key) for row in rows for key in keys)]
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for axis, (title, keys) in zip(axes[0], panels):
        for key in keys:
            points = [(int(row["step"]), float(row[key])) for row in rows if row.get(key)]
            if points:
                axis.plot(*zip(*points), label=key, marker="o" if key.startswith("val") else None, markersize=3)
        axis.set(title=title, xlabel="batches")
        if axis.lines:
            axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output, dpi=100)
    print(args.output)


if __name__ == "__main__":
    main()
