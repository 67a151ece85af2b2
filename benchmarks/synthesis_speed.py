"""The reference benchmark of neural patch synthesis: what a user waits for (the wall time of the whole
``inpaint.py`` process and its start-up), the synthesis seconds, where they go, peak memory and the distance to
the floor, for photo size × hole size × device × dtype. Prints one table.

    python benchmarks/synthesis_speed.py --cases 256:128 512:256 4096x3072:300 --dtype float32 bfloat16
    python benchmarks/synthesis_speed.py --device cuda --cases 512:256 2048:1024 --dtype float32 bfloat16
    python benchmarks/synthesis_speed.py --device cuda --preset paper --cases 512:256 --dtype float32 bfloat16

``--dtype float32`` forces the float32 path, so a CPU with bfloat16 measures what one without it gets; on a CPU
with AVX-512, ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`` in the environment also restricts PyTorch's and
oneDNN's kernels to AVX2, the instructions of most laptops (the title names the kernels' instruction set).
Each case is a shipped photo resized to WxH (a square side alone: WxW) with a centred square hole of the given
side (or ``thick`` / ``medium``: the seeded free-form strokes of masks=irregular, e.g. ``512:thick``; or ``demo``:
what a bare ``python inpaint.py`` fills), inpainted with the settings and prior that ``inpaint.py`` composes from
``conf/inpaint.yaml`` (the default; ``--preset paper``: the paper's schedule and prior; ``--set``: overrides of
``synthesis``/``pyramid`` keys), in this process and in the ``inpaint.py`` processes alike. Shares of the
synthesis time: the texture network's forward and backward passes, nearest-neighbour matching, and the rest
(L-BFGS, line search, energy arithmetic, prior, windows); "in graph" on a GPU with ``cuda_graphs``, whose replays
run the first three as one launch.
On a GPU the synthesis seconds are the case's second fill in the process (as a folder's later photos); the
first, which pays the set-up for its shapes, is in the ``inpaint.py`` row. I/O: decoding the photo and writing
the result PNG. Floor: one forward + backward of the texture network at
each level's size, measured alone, times the evaluations of that level; ratio = synthesis / floor.
``inpaint.py`` s: the wall time of ``python inpaint.py +image=… +mask=…`` with the same settings, from launch to
exit; start-up: from launch to the start of the synthesis (imports, config, texture network, reading the files);
its peak MB is that process's peak resident memory (the GPU's peak allocation on a GPU). The processes run
first, before this one builds its own synthesizers and images. ``--no-process`` skips them.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from neuralpatch.files import from_uint8, read_mask, read_photo, save_png, to_uint8
from neuralpatch.runs import instantiate_checked, register_resolvers
from neuralpatch.synthesis.inpaint_files import demo_inputs
from neuralpatch.synthesis import level_energy
from neuralpatch.synthesis.synthesizer import Synthesizer, peak_memory_mb
from neuralpatch.synthesis.texture import build_texture_network
from neuralpatch.training.data import samples_dir
from neuralpatch.training.masks import IrregularMask

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


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
            if self.device.type == "cuda" and torch.cuda.is_current_stream_capturing():
                return function(*args, **kwargs)  # captured in a CUDA graph: its replays are not seen here
            synchronize(self.device)
            start = time.perf_counter()
            result = function(*args, **kwargs)
            synchronize(self.device)
            self.seconds[name] += time.perf_counter() - start
            return result
        return wrapper

    def __enter__(self) -> Timers:
        self.saved = (self.synthesizer.texture.forward, level_energy.find_matches, level_energy.candidate_bank,
                      torch.Tensor.backward)
        self.synthesizer.texture.forward = self._timed("forward", self.saved[0])
        level_energy.find_matches = self._timed("matching", self.saved[1])
        level_energy.candidate_bank = self._timed("matching", self.saved[2])
        torch.Tensor.backward = self._timed("backward", self.saved[3])
        return self

    def __exit__(self, *exc) -> None:
        (self.synthesizer.texture.forward, level_energy.find_matches, level_energy.candidate_bank,
         torch.Tensor.backward) = self.saved


def floor_seconds(synthesizer: Synthesizer, levels: list[dict], device: torch.device) -> float:
    """Σ over levels of (one forward + backward of the texture network to the level's layers at the size of the
    level's optimized crop, in the synthesizer's precision, median of 3) × the share of the crop's pixels its
    evaluations pass through the network (``pyramid.split_crop``'s parts, else 1) × evaluations."""
    total = 0.0
    for level in levels:
        x = torch.rand(1, 3, *level["crop"], device=device, requires_grad=True)
        times = []
        for _ in range(3):
            synchronize(device)
            start = time.perf_counter()
            sum(f.pow(2).sum() for f in synthesizer.features(x, level["layers"]).values()).backward()
            synchronize(device)
            times.append(time.perf_counter() - start)
        total += statistics.median(times) * level["parts_share"] * level["evaluations"]
    return total


def case_files(case: str, source: Path, folder: Path, device: torch.device):
    """(photo file, mask file, photo [1,3,H,W], hole [1,1,H,W], hole label) of ``WxH:side``, ``WxH:thick`` or
    ``demo`` (the shipped demo that a bare ``python inpaint.py`` fills)."""
    if case == "demo":
        path, mask = demo_inputs()
        photo = from_uint8(read_photo(path))
        hole = torch.from_numpy(read_mask(mask, (photo.shape[-1], photo.shape[-2])))[None, None].float().to(device)
        return path, mask, photo, hole, "demo"
    shape, side = case.split(":")
    width, height = (int(v) for v in (shape.split("x") if "x" in shape else (shape, shape)))
    photo = F.interpolate(from_uint8(read_photo(source)), (height, width), mode="bicubic").clamp(0, 1)
    path, mask = folder / f"{width}x{height}.png", folder / f"{width}x{height}_{side}_mask.png"
    save_png(to_uint8(photo), path)
    if side.isdigit():
        hole = torch.zeros(1, 1, height, width, device=device)
        top, left = (height - int(side)) // 2, (width - int(side)) // 2
        hole[..., top : top + int(side), left : left + int(side)] = 1
        side = f"{side}²"
    else:
        hole = IrregularMask.preset(side)(height, width, torch.Generator().manual_seed(0))[None].to(device)
    save_png(to_uint8(hole.cpu().expand(1, 3, -1, -1)), mask)
    return path, mask, photo, hole, side


def inpaint_process(photo: Path, mask: Path, output: Path, overrides: list[str]) -> dict[str, float]:
    """Runs ``inpaint.py`` on one photo as a user would; its wall time, start-up and peak MB (from its JSON)."""
    launched = time.time()
    subprocess.run([sys.executable, str(ROOT / "inpaint.py"), f"+image={photo}", f"+mask={mask}", f"output={output}",
                    *overrides], check=True, capture_output=True, text=True)
    wall = time.time() - launched
    record = json.loads(output.with_suffix(".json").read_text())
    return {"wall": wall, "start-up": record["started"] - launched,
            "peak": max(level["peak_memory_mb"] for level in record["levels"])}


def composed_config(overrides: list[str]) -> DictConfig:
    """``conf/inpaint.yaml`` with ``overrides``, composed by Hydra as ``inpaint.py`` composes it."""
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("inpaint", overrides=overrides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cases", nargs="+", default=["256:128", "512:256"], help="WxH:hole or side:hole")
    parser.add_argument("--dtype", nargs="+", default=["default"],
                        help="float32 / bfloat16: the texture network's precision and the matching dtype; default: "
                             "the config's (precision auto: bfloat16 where the device has it)")
    parser.add_argument("--texture", default="vgg19", help="vgg19 falls back to the offline backbone without weights")
    parser.add_argument("--photo", default="picosdeeuropa_by_Aitzol_Berasategi.jpg")
    parser.add_argument("--preset", help="a synthesis preset over the default, with its prior (conf/synthesis/NAME.yaml: "
                                         "paper, authors)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="synthesis/pyramid overrides")
    parser.add_argument("--no-process", action="store_true", help="skip the inpaint.py process rows")
    args = parser.parse_args()

    device = torch.device(args.device)
    pyramid_keys = set(composed_config([]).pyramid)
    process_overrides = ([f"synthesis={args.preset}"] if args.preset else []) + [
        f"{'pyramid' if item.split('=')[0] in pyramid_keys else 'synthesis'}.{item}" for item in args.set] + [
        f"texture.name={args.texture}", f"device={args.device}"]
    cfg = composed_config(process_overrides)  # what the inpaint.py processes run
    settings = {**OmegaConf.to_container(cfg.synthesis), **OmegaConf.to_container(cfg.pyramid)}
    prior, layers = instantiate_checked(cfg.prior), list(cfg.texture.layers)
    content = [settings["content_layer"]] if settings["content_layer"] not in (None, *layers) else []
    network = build_texture_network(args.texture, layers + content).to(device)
    machine = (torch.cuda.get_device_name(device) if device.type == "cuda"
               else f"{platform.machine()} CPU, {torch.backends.cpu.get_cpu_capability()} kernels")
    table = Table(title=f"neural patch synthesis{' (' + args.preset + ')' if args.preset else ''}, "
                        f"{settings['levels']} levels × {settings['iterations']} evaluations"
                        f"{f' ({finest} at the finest)' if (finest := settings['finest_iterations']) else ''}, "
                        f"{'+'.join(layers)} of {network.name}; {machine}, {torch.get_num_threads()} threads, "
                        f"torch {torch.__version__}" + (f"; {' '.join(args.set)}" if args.set else ""))
    for column in ("photo", "hole", "network / match dtype", "inpaint.py s", "start-up s", "synthesis s", "forward",
                   "backward", "matching", "rest", "I/O s", "peak MB", "floor s", "× floor"):
        table.add_column(column, justify="right")
    source = samples_dir() / args.photo
    with tempfile.TemporaryDirectory() as folder:
        cases = [case_files(case, source, Path(folder), device) for case in args.cases]
        # the inpaint.py processes first, while this process holds little memory: on this VM an idle process
        # holding 3 GB beside inpaint.py slows it by 15–24 % (docs/benchmarks.md), and a user's run has none
        processes = {}
        for path, mask, _, _, side in cases if not args.no_process else []:
            for dtype in args.dtype:
                forced = [] if dtype == "default" else [f"synthesis.precision={dtype}", f"synthesis.match_dtype={dtype}"]
                processes[mask, dtype] = inpaint_process(path, mask, Path(folder) / "process.png",
                                                         process_overrides + forced)
        for path, mask, photo, hole, side in cases:
            height, width = photo.shape[-2:]
            for dtype in args.dtype:
                chosen = {} if dtype == "default" else {"precision": dtype, "match_dtype": dtype}
                synthesizer = Synthesizer(network, texture_layers=layers, **settings | chosen)
                if device.type == "cuda":  # the case once first, as a folder's first photo: CUDA's, cuBLAS's and
                    synthesizer(photo.to(device), hole, prior)  # cuDNN's set-up for its shapes
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
                process = processes.get((mask, dtype), {"wall": float("nan"), "start-up": float("nan"), "peak": peak})
                peak = process["peak"]
                graphed = synthesizer.captures(device)  # the shares inside a graph are not seen
                table.add_row(f"{width}×{height}", side, f"{precision} / {str(synthesizer.matching_dtype(device))[6:]}",
                              f"{process['wall']:.1f}", f"{process['start-up']:.1f}", f"{seconds:.2f}",
                              *(["in graph"] * 4 if graphed else
                                [f"{100 * shares[k]:.0f} %" for k in ("forward", "backward", "matching")]
                                + [f"{100 * (1 - sum(shares.values())):.0f} %"]), f"{io:.2f}", f"{peak:.0f}",
                              f"{floor:.2f}", f"{seconds / floor:.1f}")
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
