"""What the scripts share: unique run folders (a resumed training run keeps its own; a run refused at start-up
leaves none), the command line and settings checked at start-up with one-line errors, and a one-line exit on
Ctrl-C and SIGTERM."""

from __future__ import annotations

import shutil
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from neuralpatch.files import InputError, first_line

CLAIMED: list[list[Path]] = []  # the run folders this process created, each with the parents it created


class Interrupted(Exception):
    """Ctrl-C, with what was finished and where it is (the script's one line)."""


def claim_folder(base: str) -> str:
    """Creates and returns ``base``, or ``base-2``, ``base-3``… when it exists: two runs started in the same
    second never share a folder (mkdir is atomic)."""
    for number in range(1, 10_000):
        path = Path(base if number == 1 else f"{base}-{number}")
        created = [folder for folder in (path, *path.parents) if not folder.exists()]
        try:
            path.mkdir(parents=True)
            CLAIMED.append(created)
            return str(path)
        except FileExistsError:
            continue
    raise InputError(f"cannot find a free run folder next to {base}; clean up old runs")


def resumed_run(ckpt_path: str | None) -> Path | None:
    """``<run>`` when ``ckpt_path`` is ``<run>/checkpoints/*.ckpt`` of a run folder (one with
    ``.hydra/config.yaml``), else None."""
    if not ckpt_path:
        return None
    checkpoint = Path(ckpt_path).expanduser().resolve()
    run = checkpoint.parent.parent
    return run if checkpoint.parent.name == "checkpoints" and (run / ".hydra" / "config.yaml").is_file() else None


def run_folder(root: str, ckpt_path: str | None = None) -> str:
    """``root/<date>_<time>`` made unique; a training run resumed from ``<run>/checkpoints/*.ckpt`` continues in
    ``<run>`` (its checkpoints, best-checkpoint tracking and W&B run)."""
    run = resumed_run(ckpt_path)
    return str(run) if run is not None else claim_folder(f"{root}/{datetime.now():%Y-%m-%d_%H-%M-%S}")


def config_folder(ckpt_path: str | None = None) -> str | None:
    """Hydra's output_subdir: ``.hydra``; none for a resumed run, which keeps the first run's and records its
    own config once it has passed its checks (training/resume.py)."""
    return None if resumed_run(ckpt_path) is not None else ".hydra"


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


def check_command_line(name: str, arguments: list[str]) -> None:
    """Reads every ``key=value`` argument with Hydra's parser first: one it cannot read (a path with non-ASCII
    characters or punctuation, unquoted) exits 2 with one line showing how to quote it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    for argument in (a for a in arguments if "=" in a and not a.startswith("-")):
        try:
            parser.parse_overrides([argument])
        except OverrideParseException:
            key, _, value = argument.partition("=")
            print(f"{name}: error: cannot read the argument {argument} (Hydra reads spaces, non-ASCII characters and "
                  f"most punctuation only inside quotes); quote the value, quotes included: '{key}=\"{value}\"'",
                  file=sys.stderr)
            sys.exit(2)


def remove_unused_run_folders() -> None:
    """Removes the run folders this process created that hold nothing but Hydra's record (``.hydra``, the log):
    a run refused at start-up leaves no folder behind."""
    for folder, *parents in CLAIMED:
        if folder.is_dir() and all(p.name == ".hydra" or p.suffix == ".log" for p in folder.iterdir()):
            shutil.rmtree(folder, ignore_errors=True)
            for parent in parents:  # outputs/, outputs/inpaint/ when this run made them
                if parent.is_dir() and not any(parent.iterdir()):
                    parent.rmdir()


def script(name: str, main: Callable[[], object]) -> object:
    """Runs ``main`` as script ``name``: an InputError exits 1 with ``name: error: …`` (no traceback) and
    removes the unused run folder; Ctrl-C exits 130 with one line (``Interrupted`` says what was finished);
    SIGTERM exits like Ctrl-C, through every ``finally``, so no temporary file is left behind."""
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    try:
        return main()
    except InputError as error:
        remove_unused_run_folders()
        sys.exit(f"{name}: error: {error}")
    except (Interrupted, KeyboardInterrupt) as error:
        print(f"{name}: interrupted" + (f"; {error}" if isinstance(error, Interrupted) else ""), file=sys.stderr)
        sys.exit(130)
