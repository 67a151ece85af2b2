"""Experiment loggers: W&B that falls back to offline mode instead of ever asking for a login."""

from __future__ import annotations

import logging
import netrc
import os
import uuid
from pathlib import Path
from urllib.parse import urlparse

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from neuralpatch.files import atomic_write

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


def wandb_run_id(save_dir: str) -> tuple[str, bool]:
    """(the W&B run id of the run folder ``save_dir``, whether it existed): kept in ``save_dir/wandb_run_id``, so
    a run resumed in its folder continues its W&B run. Only rank 0 writes it."""
    path = Path(save_dir) / "wandb_run_id"
    if path.is_file():
        return path.read_text().strip(), True
    run_id = uuid.uuid4().hex[:8]  # W&B's id format: 8 characters of [a-z0-9]
    if rank_zero_only.rank == 0:
        atomic_write(path, lambda temporary: temporary.write_text(run_id + "\n"))
    return run_id, False


def wandb_logger(save_dir: str, project: str = "neuralpatch", offline: bool | None = None, **kwargs) -> WandbLogger:
    """A ``WandbLogger`` that never prompts for a login (see ``wandb_offline``) and continues the W&B run of its
    run folder when training resumes there."""
    run_id, resumed = wandb_run_id(save_dir)
    if resumed:
        log.info(f"W&B: continuing run {run_id} of {save_dir}")
    return WandbLogger(save_dir=save_dir, project=project, offline=wandb_offline(save_dir, offline), id=run_id,
                       **({"resume": "allow"} if resumed else {}), **kwargs)
