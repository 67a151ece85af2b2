"""``train(cfg)``: builds data, masks, model, loggers and trainer from a composed Hydra config and fits."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from neuralpatch.runs import instantiate_checked
from neuralpatch.training.callbacks import LatestCheckpoint, RunProgressBar
from neuralpatch.training.module import read_checkpoint
from neuralpatch.training.resume import check_checkpoint_fits, resumed_config, save_resumed_config

log = logging.getLogger(__name__)


def is_distributed(devices: int | str | Sequence[int], num_nodes: int, accelerator: str = "auto") -> bool:
    """Whether the trainer will start several processes (so ``strategy: auto`` must become DDP)."""
    if num_nodes > 1 or devices == -1 or devices == "-1":
        return True
    if devices == "auto":  # Lightning takes every GPU, or one CPU process
        return accelerator != "cpu" and torch.cuda.device_count() > 1
    if isinstance(devices, int):
        return devices > 1
    if isinstance(devices, str):
        return "," in devices.strip(",") or (devices.isdigit() and int(devices) > 1)
    return len(devices) > 1


def strategy(cfg: DictConfig):
    """DDP for several processes. find_unused_parameters: each of the GAN's two backward passes reaches only one network."""
    if cfg.trainer.strategy == "auto" and is_distributed(cfg.trainer.devices, cfg.trainer.num_nodes, cfg.trainer.accelerator):
        return "ddp_find_unused_parameters_true"
    return cfg.trainer.strategy


def train(cfg: DictConfig) -> dict[str, float]:
    """Trains the content network; returns the final logged metrics."""
    state = read_checkpoint(cfg.ckpt_path, "ckpt_path") if cfg.get("ckpt_path") else None
    cfg, overrides = resumed_config(cfg)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate_checked(cfg.data, masks=instantiate_checked(cfg.masks))
    model = instantiate_checked(cfg.model)
    if state is not None:
        check_checkpoint_fits(model, state, cfg.ckpt_path)
    if overrides is not None:
        save_resumed_config(cfg, overrides)
    loggers = [instantiate_checked(c) for c in cfg.logger.values()] if cfg.get("logger") else []
    callbacks = [instantiate_checked(c) for c in cfg.callbacks.values()] if cfg.get("callbacks") else []
    if cfg.trainer.get("enable_progress_bar", True):
        callbacks.append(RunProgressBar())  # the whole run's ETA, not each epoch's
    trainer = instantiate_checked(cfg.trainer, strategy=strategy(cfg), logger=loggers or False, callbacks=callbacks)
    datamodule.check(trainer.world_size)  # photos readable and at least one batch, before anything trains
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
    report(trainer, metrics)
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.finish()  # one W&B run per multirun job
    return metrics


@rank_zero_only
def report(trainer: L.Trainer, metrics: dict[str, float]) -> None:
    for checkpoint in (c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)):
        if isinstance(checkpoint, LatestCheckpoint):
            log.info(f"checkpoint where training stopped: {checkpoint.best_model_path or '-'}")
        else:
            log.info(f"best checkpoint on {checkpoint.monitor}: {checkpoint.best_model_path or '-'} "
                     f"({float(checkpoint.best_model_score or float('nan')):.4g})")
    for logger in trainer.loggers:
        log.info(f"logs ({type(logger).__name__}): {logger.log_dir or logger.save_dir}")
    log.info(f"run folder: {trainer.default_root_dir}; final metrics: "
             + ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items())))
