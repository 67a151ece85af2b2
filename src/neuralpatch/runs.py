"""What the three scripts share: unique run folders (a resumed training run keeps its own), settings checked at
start-up with one-line errors, and a clean exit on SIGTERM."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from neuralpatch.files import InputError, first_line


def claim_folder(base: str) -> str:
    """Creates and returns ``base``, or ``base-2``, ``base-3``… when it exists: two runs started in the same
    second never share a folder (mkdir is atomic)."""
    for number in range(1, 10_000):
        path = Path(base if number == 1 else f"{base}-{number}")
        try:
            path.mkdir(parents=True)
            return str(path)
        except FileExistsError:
            continue
    raise InputError(f"cannot find a free run folder next to {base}; clean up old runs")


def run_folder(root: str, ckpt_path: str | None = None) -> str:
    """``root/<date>_<time>`` made unique; a training run resumed from ``<run>/checkpoints/*.ckpt`` continues in
    ``<run>`` (its checkpoints, best-checkpoint tracking and W&B run)."""
    if ckpt_path:
        checkpoint = Path(ckpt_path).expanduser().resolve()
        if checkpoint.parent.name == "checkpoints" and (checkpoint.parent.parent / ".hydra").is_dir():
            return str(checkpoint.parent.parent)
    return claim_folder(f"{root}/{datetime.now():%Y-%m-%d_%H-%M-%S}")


def config_folder(ckpt_path: str | None = None) -> str:
    """Hydra's output_subdir: ``.hydra``; a resumed run keeps the first run's and writes its own beside it."""
    return ".hydra" if not ckpt_path else f".hydra/resumed_{datetime.now():%Y-%m-%d_%H-%M-%S}"


def register_resolvers() -> None:
    """``${run_folder:root,ckpt}`` and ``${config_folder:ckpt}`` for the configs' ``hydra:`` sections; cached, so
    a config resolves each once (Hydra copies the cache into multirun jobs, as for ``${now:}``)."""
    for name, resolver in (("run_folder", run_folder), ("config_folder", config_folder)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver, use_cache=True)


def instantiate_checked(node, **kwargs):
    """``hydra.utils.instantiate``, with a bad setting or file (the target's ValueError / OSError) turned into a
    one-line InputError naming it."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__ or error
        if isinstance(cause, (ValueError, OSError, InputError)):
            raise InputError(first_line(cause)) from None
        raise


def script(name: str, main: Callable[[], object]) -> object:
    """Runs ``main`` as script ``name``: an InputError exits 1 with ``name: error: …`` (no traceback); SIGTERM
    exits like Ctrl-C, through every ``finally``, so no temporary file is left behind."""
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    try:
        return main()
    except InputError as error:
        sys.exit(f"{name}: error: {error}")
