"""Aggregates a multirun of evaluate.py into one table and a plot of each metric against the swept setting.

    python -m neuralpatch.evaluation.multirun multirun/evaluate/<time>     (also runs by itself at the end of a sweep)
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from neuralpatch.evaluation.run import HEADERS, METRICS, markdown_table
from neuralpatch.files import atomic_write


def read_jobs(sweep_dir: Path) -> list[tuple[dict[str, str], list[dict]]]:
    """(overrides as key → value, results.csv rows) of every finished job folder."""
    jobs = []
    for results in sorted(sweep_dir.glob("*/results.csv"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0):
        overrides = yaml.safe_load((results.parent / ".hydra" / "overrides.yaml").read_text()) or []
        settings = dict(o.split("=", 1) for o in overrides if "=" in o)
        with results.open() as handle:
            jobs.append((settings, list(csv.DictReader(handle))))
    return jobs


def aggregate(sweep_dir: str | Path) -> Path:
    """Writes ablation.csv, ablation.md and ablation.png into ``sweep_dir``; returns the markdown path."""
    sweep_dir = Path(sweep_dir)
    jobs = read_jobs(sweep_dir)
    if not jobs:
        raise FileNotFoundError(f"no job folders with results.csv under {sweep_dir}; pass the multirun folder of evaluate.py")
    # a key that differs between jobs is a setting; "method" is not: the methods are a column of their own
    keys = set().union(*(s for s, _ in jobs)) - {"method"}
    swept = sorted(k for k in keys if len({s.get(k) for s, _ in jobs}) > 1)
    table = []
    for settings, rows in jobs:
        setting = ", ".join(f"{k}={settings.get(k, '-')}" for k in swept) or "default"
        for method in dict.fromkeys(r["method"] for r in rows):
            done = [r for r in rows if r["method"] == method and r["status"] == "ok"]
            means = [float(np.mean([float(r[m]) for r in done])) * (100 if m in ("l1", "l2") else 1) if done else float("nan")
                     for m in METRICS]
            table.append([setting, method, len(done), *means])
    headers = ["setting", "method", "images", *(HEADERS[m] for m in METRICS)]
    atomic_write(sweep_dir / "ablation.csv", lambda t: t.write_text(
        "\n".join(",".join(str(v) for v in row) for row in [headers, *table]) + "\n"))
    atomic_write(sweep_dir / "ablation.md", lambda t: t.write_text(
        f"# Ablation over {', '.join(swept) or 'nothing'}\n\n" + markdown_table(headers, table)))
    _plot(sweep_dir / "ablation.png", table, swept)
    return sweep_dir / "ablation.md"


def _plot(path: Path, table: list[list], swept: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = ["perceptual", "sharpness", "psnr", "ssim"]
    figure, axes = plt.subplots(1, len(shown), figsize=(4 * len(shown), 3.2))
    settings = list(dict.fromkeys(row[0] for row in table))
    for method in dict.fromkeys(row[1] for row in table):
        rows = {row[0]: row for row in table if row[1] == method}
        for axis, metric in zip(axes, shown):
            values = [rows[s][3 + METRICS.index(metric)] if s in rows else float("nan") for s in settings]
            axis.plot(range(len(settings)), values, marker="o", label=method)
            axis.set_title(HEADERS[metric])
            axis.set_xticks(range(len(settings)), [s.split("=", 1)[-1] for s in settings], rotation=30, fontsize=8)
    axes[0].set_xlabel(", ".join(swept) or "setting")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    atomic_write(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110))
    plt.close(figure)


class AggregateCallback(Callback):
    """Hydra callback: aggregates the sweep folder when a multirun of evaluate.py ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        print(f"aggregated: {aggregate(config.hydra.sweep.dir)}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m neuralpatch.evaluation.multirun MULTIRUN_FOLDER")
    print(aggregate(sys.argv[1]).read_text())
