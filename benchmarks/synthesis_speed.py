"""The reference benchmark of neural patch synthesis: seconds per image, where they go, peak memory and the
distance to the floor, for photo size × hole size × device × dtype. Prints one table.

    python benchmarks/synthesis_speed.py --cases 256:128 512:256 4096x3072:300
    python benchmarks/synthesis_speed.py --device cuda --cases 512:256 2048:1024 --dtype float32 bfloat16

Each case is a shipped photo resized to WxH (a square side alone: WxW) with a centred square hole of the given
side, inpainted with the default settings (``conf/synthesis/default.yaml``, ``conf/pyramid/default.yaml``,
Telea prior) unless overridden. Shares of the synthesis time: the texture network's forward and backward
passes, nearest-neighbour matching, and the rest (L-BFGS, line search, energy arithmetic, prior, windows).
I/O: decoding the photo and writing the result PNG. Floor: one forward + backward of the texture network at
each level's size, measured alone, times the evaluations of that level; ratio = synthesis / floor.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from rich.console import Console
from rich.table import Table

from neuralpatch.files import from_uint8, read_photo, save_png, to_uint8
from neuralpatch.synthesis import synthesizer as synthesis_module
from neuralpatch.synthesis.priors import OpenCVPrior
from neuralpatch.synthesis.synthesizer import Synthesizer, peak_memory_mb
from neuralpatch.synthesis.texture import build_texture_network
from neuralpatch.training.data import samples_dir

CONF = Path(__file__).resolve().parents[1] / "conf"


def synchronize(device: torch.device) -> None:
    """Waits for the GPU's queued work, so that wall time measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Timers:
    """Wall time spent in the texture network's forward, in backward passes and in matching (synchronized on
    GPUs), by wrapping them for the duration of one synthesis."""

    def __init__(self, synthesizer: Synthesizer, device: torch.device):
        self.synthesizer, self.device, self.seconds = synthesizer, device, defaultdict(float)

    def _timed(self, name, function):
        def wrapper(*args, **kwargs):
            synchronize(self.device)
            start = time.perf_counter()
            result = function(*args, **kwargs)
            synchronize(self.device)
            self.seconds[name] += time.perf_counter() - start
            return result
        return wrapper

    def __enter__(self) -> Timers:
        self.saved = (self.synthesizer.texture.forward, synthesis_module.find_matches, synthesis_module.candidate_bank,
                      torch.Tensor.backward)
        self.synthesizer.texture.forward = self._timed("forward", self.saved[0])
        synthesis_module.find_matches = self._timed("matching", self.saved[1])
        synthesis_module.candidate_bank = self._timed("matching", self.saved[2])
        torch.Tensor.backward = self._timed("backward", self.saved[3])
        return self

    def __exit__(self, *exc) -> None:
        (self.synthesizer.texture.forward, synthesis_module.find_matches, synthesis_module.candidate_bank,
         torch.Tensor.backward) = self.saved


def floor_seconds(synthesizer: Synthesizer, levels: list[dict], device: torch.device) -> float:
    """Σ over levels of (one forward + backward of the texture network at the size of the level's optimized crop,
    in the synthesizer's precision, median of 3) × evaluations."""
    total = 0.0
    for level in levels:
        x = torch.rand(1, 3, *level["crop"], device=device, requires_grad=True)
        times = []
        for _ in range(3):
            synchronize(device)
            start = time.perf_counter()
            sum(f.pow(2).sum() for f in synthesizer.features(x).values()).backward()
            synchronize(device)
            times.append(time.perf_counter() - start)
        total += statistics.median(times) * level["evaluations"]
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cases", nargs="+", default=["256:128", "512:256"], help="WxH:hole or side:hole")
    parser.add_argument("--dtype", nargs="+", default=["default"],
                        help="float32 / bfloat16: the texture network's precision and the matching dtype; default: "
                             "the config's (precision auto: bfloat16 where the device has it)")
    parser.add_argument("--texture", default="vgg19", help="vgg19 falls back to the offline backbone without weights")
    parser.add_argument("--photo", default="picosdeeuropa_by_Aitzol_Berasategi.jpg")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="synthesis/pyramid overrides")
    args = parser.parse_args()

    device = torch.device(args.device)
    settings = {**yaml.safe_load((CONF / "synthesis" / "default.yaml").read_text()),
                **yaml.safe_load((CONF / "pyramid" / "default.yaml").read_text())}
    settings |= {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
    network = build_texture_network(args.texture, ["relu3_1", "relu4_1"]).to(device)
    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()} CPU"
    table = Table(title=f"neural patch synthesis, {settings['levels']} levels × {settings['iterations']} evaluations, "
                        f"relu3_1+relu4_1 of {network.name}; {machine}, {torch.get_num_threads()} threads, "
                        f"torch {torch.__version__}" + (f"; {' '.join(args.set)}" if args.set else ""))
    for column in ("photo", "hole", "network / match dtype", "s / image", "forward", "backward", "matching", "rest", "I/O s",
                   "peak MB", "floor s", "× floor"):
        table.add_column(column, justify="right")
    prior, source = OpenCVPrior("telea"), samples_dir() / args.photo
    with tempfile.TemporaryDirectory() as folder:
        for case in args.cases:
            shape, side = case.split(":")
            width, height = (int(v) for v in (shape.split("x") if "x" in shape else (shape, shape)))
            side = int(side)
            photo = F.interpolate(from_uint8(read_photo(source)), (height, width), mode="bicubic").clamp(0, 1)
            path = Path(folder) / f"{width}x{height}.png"
            save_png(to_uint8(photo), path)
            hole = torch.zeros(1, 1, height, width, device=device)
            top, left = (height - side) // 2, (width - side) // 2
            hole[..., top : top + side, left : left + side] = 1
            for dtype in args.dtype:
                chosen = {} if dtype == "default" else {"precision": dtype, "match_dtype": dtype}
                synthesizer = Synthesizer(network, **settings | chosen)
                if device.type == "cuda":
                    synthesizer(photo[..., :64, :64].to(device), hole[..., :64, :64], prior)  # warm-up
                    torch.cuda.reset_peak_memory_stats(device)
                start = time.perf_counter()
                image = from_uint8(read_photo(path), device)
                io = time.perf_counter() - start
                with Timers(synthesizer, device) as timers:
                    start = time.perf_counter()
                    result, info = synthesizer(image, hole, prior)
                    synchronize(device)
                    seconds = time.perf_counter() - start
                start = time.perf_counter()
                save_png(to_uint8(result), Path(folder) / "result.png")
                io += time.perf_counter() - start
                peak = peak_memory_mb(device)
                floor = floor_seconds(synthesizer, info["levels"], device)
                shares = {k: timers.seconds[k] / seconds for k in ("forward", "backward", "matching")}
                precision = "bfloat16" if synthesizer.bfloat16(device) else "float32"
                table.add_row(f"{width}×{height}", f"{side}²", f"{precision} / {str(synthesizer.matching_dtype(device))[6:]}",
                              f"{seconds:.2f}",
                              *(f"{100 * shares[k]:.0f} %" for k in ("forward", "backward", "matching")),
                              f"{100 * (1 - sum(shares.values())):.0f} %", f"{io:.2f}", f"{peak:.0f}",
                              f"{floor:.2f}", f"{seconds / floor:.1f}")
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
