"""The generator alone, in half precision, with its architecture: what inference needs from a checkpoint.

    python -m neuralpatch.export outputs/train/<run>/checkpoints/last.ckpt content.pt

``module.load_generator`` (and ``prior=content prior.generator=content.pt``) reads it like a checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from neuralpatch.files import atomic_write
from neuralpatch.module import EXPORT_KEY, generator_weights, read_checkpoint


def export_generator(checkpoint: str | Path, output: str | Path) -> int:
    """Writes the generator of a train.py ``checkpoint`` to ``output``; returns its size in bytes."""
    state = read_checkpoint(checkpoint, "checkpoint")
    weights = {key: value.half() if value.is_floating_point() else value
               for key, value in generator_weights(state).items()}
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
