"""Seconds per image and peak memory per pyramid level of neural patch synthesis on a shipped photo
(square crop resized to each size, centred hole of half the side). Prints a markdown-style table.

    python benchmarks/synthesis_speed.py --device cpu --sizes 256 512 --levels 2 --iterations 30
    python benchmarks/synthesis_speed.py --device cuda --sizes 512 1024 2048 --match-dtype float32 bfloat16
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from neuralpatch.data import read_image, samples_dir
from neuralpatch.masks import CenterMask
from neuralpatch.priors import OpenCVPrior
from neuralpatch.synthesis import Synthesizer
from neuralpatch.texture import build_texture_network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=100, help="per level")
    parser.add_argument("--match-dtype", nargs="+", default=["float32"])
    parser.add_argument("--texture", default="vgg19", help="vgg19 falls back to the offline backbone without weights")
    parser.add_argument("--layers", nargs="+", default=["relu3_1", "relu4_1"])
    parser.add_argument("--photo", default="picosdeeuropa_by_Aitzol_Berasategi.jpg")
    args = parser.parse_args()

    device = torch.device(args.device)
    network = build_texture_network(args.texture, args.layers).to(device)
    photo = read_image(samples_dir() / args.photo)[None]
    side = min(photo.shape[-2:])
    photo = photo[..., :side, :side]
    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()} CPU"
    table = Table(title=f"neural patch synthesis (Telea prior), {args.levels} levels × {args.iterations} evaluations, "
                        f"{'+'.join(args.layers)} of {network.name}; {machine}, {torch.get_num_threads()} threads, "
                        f"torch {torch.__version__}")
    for column in ("size", "hole", "matching", "s / image", "s per level", "peak MB per level"):
        table.add_column(column)
    prior = OpenCVPrior("telea")  # the default prior
    for size in args.sizes:
        image = F.interpolate(photo, (size, size), mode="area").to(device)
        hole = CenterMask(0.5)(size, size)[None].to(device)
        for dtype in args.match_dtype:
            synthesizer = Synthesizer(network, levels=args.levels, iterations=args.iterations, match_dtype=dtype)
            if device.type == "cuda":
                synthesizer(image[..., :64, :64], hole[..., :64, :64], prior)  # warm-up: kernels, allocator
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            _, info = synthesizer(image, hole, prior)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - start
            table.add_row(f"{size}²", f"{size // 2}²", dtype, f"{seconds:.2f}",
                          " / ".join(f"{level['seconds']:.2f}" for level in info["levels"]),
                          " / ".join(f"{level['peak_memory_mb']:.0f}" for level in info["levels"]))
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
