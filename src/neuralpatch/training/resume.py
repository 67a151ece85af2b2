"""Resuming a training run as the README shows (``python train.py ckpt_path=<run>/checkpoints/last.ckpt``): the
run's own configuration with the command line's value overrides on top, and a checkpoint that does not fit the
model refused in one line before anything is written."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import nn

from neuralpatch.files import InputError, atomic_write
from neuralpatch.runs import resumed_run

log = logging.getLogger(__name__)


def resumed_config(cfg: DictConfig) -> tuple[DictConfig, list[str] | None]:
    """(config, overrides): in a Hydra run whose ``ckpt_path`` lies in ``<run>/checkpoints/``, ``<run>``'s own
    ``.hydra/config.yaml`` with this command line's ``key=value`` / ``+key=value`` / ``~key`` overrides applied on
    top; else (``cfg``, None). A group override other than the run's own choice (``model=…``) is refused: the
    checkpoint was trained with the run's."""
    run = resumed_run(cfg.get("ckpt_path"))
    if run is None or not HydraConfig.initialized():
        return cfg, None
    typed = list(HydraConfig.get().overrides.task)
    saved = OmegaConf.load(run / ".hydra" / "config.yaml")
    choices = OmegaConf.load(run / ".hydra" / "hydra.yaml").hydra.runtime.choices  # the run's groups
    for override in OverridesParser.create().parse_overrides(typed):
        key, value = override.key_or_group, override.value()
        if key in choices:  # a group: the run's own choice repeated is fine, another is not
            if value != choices[key]:
                raise InputError(f"{override.input_line}: a resumed run keeps the groups it was started with "
                                 f"({key}={choices[key]}, {run / '.hydra' / 'config.yaml'}); override single values "
                                 f"(e.g. trainer.max_steps=N) or start a new run without ckpt_path")
            continue
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(saved, parent) if parent else saved
        with open_dict(saved):
            if override.is_delete():
                if isinstance(node, DictConfig) and leaf in node:
                    del node[leaf]
            else:
                OmegaConf.update(saved, key, value, merge=True, force_add=override.is_add())
    log.info(f"resuming {run} with its own config" + (f"; overrides: {' '.join(typed)}" if typed else ""))
    return saved, typed


def save_resumed_config(cfg: DictConfig, overrides: list[str]) -> None:
    """Records a resumed run's config and overrides in ``<run>/.hydra/resumed_<time>/`` (after the checks)."""
    folder = Path(HydraConfig.get().runtime.output_dir) / ".hydra" / f"resumed_{datetime.now():%Y-%m-%d_%H-%M-%S}"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "config.yaml", lambda temporary: OmegaConf.save(cfg, temporary))
    atomic_write(folder / "overrides.yaml", lambda temporary: OmegaConf.save(OmegaConf.create(overrides), temporary))


def check_checkpoint_fits(model: nn.Module, state: dict, path: str) -> None:
    """An InputError naming the first parameter whose shape (or presence) differs between the checkpoint's
    ``state_dict`` and ``model``'s."""
    expected = {key: list(value.shape) for key, value in model.state_dict().items()}
    found = {key: list(value.shape) for key, value in state["state_dict"].items()}
    differences = [f"{key} is {found.get(key, 'missing')} in the checkpoint, {expected.get(key, 'absent')} in the model"
                   for key in sorted(expected.keys() | found.keys()) if found.get(key) != expected.get(key)]
    if differences:
        more = f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""
        raise InputError(f"ckpt_path {path} does not fit the configured model: {differences[0]}{more}; resume with "
                         f"the model the checkpoint was trained with, or start a new run without ckpt_path")
