"""The generator alone, in half precision (float32 for a tensor that exceeds its range), with its architecture:
what inference needs from a checkpoint.

    python -m neuralpatch.training.export outputs/train/<run>/checkpoints/last.ckpt content.pt

``module.load_generator`` (and ``prior=content prior.generator=content.pt``) reads it like a checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import Tensor

from neuralpatch.files import atomic_write
from neuralpatch.training.module import EXPORT_KEY, generator_weights, read_checkpoint


def half_if_it_fits(value: Tensor) -> Tensor:
    """Half precision, unless that turns a finite value infinite (float16 ends at 65504: a BatchNorm running
    variance after the fully-connected bottleneck can be larger); then the tensor stays float32."""
    if not value.is_floating_point():
        return value
    half = value.half()
    return half if bool(torch.isfinite(half).all()) or not bool(torch.isfinite(value).all()) else value.float()


def export_generator(checkpoint: str | Path, output: str | Path) -> int:
    """Writes the generator of a train.py ``checkpoint`` to ``output``; returns its size in bytes."""
    state = read_checkpoint(checkpoint, "checkpoint")
    weights = {key: half_if_it_fits(value) for key, value in generator_weights(state).items()}
    export = {EXPORT_KEY: state["hyper_parameters"]["generator"], "state_dict": weights}
    atomic_write(Path(output), lambda temporary: torch.save(export, temporary))
    return Path(output).stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    if args.output.resolve() == args.checkpoint.resolve():
        parser.error(f"the output {args.output} is the checkpoint itself; choose another file")
    print(f"{args.output}: {export_generator(args.checkpoint, args.output) / 2**20:.1f} MB")


if __name__ == "__main__":
    from neuralpatch.runs import script

    script("export", main)
