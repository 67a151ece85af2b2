"""``serve(cfg)``: the page's server from the composed ``conf/serve.yaml``, the synthesis built as ``inpaint.py``
builds it (the same groups and defaults; the page picks the prior and the preset)."""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path

import uvicorn
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from neuralpatch.files import InputError
from neuralpatch.runs import instantiate_checked
from neuralpatch.serve.app import PageOptions, create_app
from neuralpatch.serve.jobs import Factory, JobQueue
from neuralpatch.synthesis.settings import check_config
from neuralpatch.synthesis.sharding import worker_devices
from neuralpatch.synthesis.synthesizer import build_synthesizer

log = logging.getLogger(__name__)


def synthesis_factory(config_name: str, overrides: list[str]) -> Factory:
    """(prior, preset) → (synthesizer, prior) composed from ``config_name`` with the command line's
    ``overrides`` and the page's choices on top; the last few are kept."""
    lock = threading.Lock()  # Hydra's compose is not thread-safe

    @functools.lru_cache(maxsize=4)
    def build(prior: str, preset: str):
        with lock:
            cfg = compose(config_name, overrides=[*overrides, f"synthesis={preset}", f"prior={prior}"])
        check_config(cfg.synthesis, cfg.pyramid)
        return build_synthesizer(cfg.texture, cfg.synthesis, cfg.pyramid), instantiate_checked(cfg.prior)

    return build


def page_options(conf: Path, cfg: DictConfig, choices: dict[str, str]) -> PageOptions:
    """The priors and presets of ``conf`` (the content prior only when a generator is configured)."""
    priors = sorted(p.stem for p in (conf / "prior").glob("*.yaml")
                    if p.stem != "content" or choices["prior"] == "content")
    presets = sorted(p.stem for p in (conf / "synthesis").glob("*.yaml"))
    return PageOptions(priors, presets, choices["prior"], choices["synthesis"], cfg.max_upload_mb)


def serve(cfg: DictConfig, conf: Path) -> None:
    """Checks the settings, builds the default synthesis once (errors before the page opens), then serves the
    page until Ctrl-C."""
    check_config(cfg.synthesis, cfg.pyramid)
    if not 0 < cfg.port < 65536:
        raise InputError(f"port={cfg.port} must be 1–65535")
    hydra = HydraConfig.get()
    choices = dict(hydra.runtime.choices)
    factory = synthesis_factory(hydra.job.config_name, list(hydra.overrides.task))
    options = page_options(conf, cfg, choices)
    factory(options.prior, options.preset)  # the texture network loads now, not at the first fill
    queue = JobQueue(factory, worker_devices(cfg.device, cfg.devices), cfg.max_waiting, cfg.keep_results)
    print(f"neuralpatch page: http://{cfg.host}:{cfg.port}/  (Ctrl-C stops it)", flush=True)
    try:  # until Ctrl-C
        uvicorn.run(create_app(queue, options), host=cfg.host, port=cfg.port, log_level="warning", lifespan="off")
    finally:
        queue.close()
