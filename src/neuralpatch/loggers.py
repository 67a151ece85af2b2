"""Experiment loggers: W&B that falls back to offline mode instead of ever asking for a login."""

from __future__ import annotations

import logging
import netrc
import os
from urllib.parse import urlparse

from lightning.pytorch.loggers import WandbLogger

log = logging.getLogger(__name__)


def wandb_credentials() -> bool:
    """True when W&B can authenticate without a prompt: WANDB_API_KEY or a netrc entry for its host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc().authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def wandb_offline(save_dir: str, offline: bool | None = None) -> bool:
    """Whether W&B must run offline: when asked, when WANDB_MODE says so, or when no credentials exist (then one
    warning). Sets WANDB_MODE=offline so child processes (DDP ranks, the W&B service) never prompt either."""
    if offline is None:
        offline = os.environ.get("WANDB_MODE") in ("offline", "disabled", "dryrun") or not wandb_credentials()
        if offline and os.environ.get("WANDB_MODE") is None:
            log.warning(f"W&B: no credentials found, logging offline under {save_dir}/wandb "
                        "(run `wandb login`, then `wandb sync <run dir>` to upload)")
    if offline:
        os.environ.setdefault("WANDB_MODE", "offline")
    return offline


def wandb_logger(save_dir: str, project: str = "neuralpatch", offline: bool | None = None, **kwargs) -> WandbLogger:
    """A ``WandbLogger`` that never prompts for a login (see ``wandb_offline``)."""
    return WandbLogger(save_dir=save_dir, project=project, offline=wandb_offline(save_dir, offline), **kwargs)
