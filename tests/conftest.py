from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from neuralpatch.runs import register_resolvers

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
register_resolvers()

# A model and data small enough for CPU tests; the architecture is the default one, only sizes change.
TINY = [
    "data.image_size=32", "data.batch_size=4", "data.num_workers=0", "data.train_repeats=4", "data.val_crops=2",
    "model.generator.base_channels=8", "model.generator.bottleneck=32", "model.discriminator.base_channels=8",
    "trainer.accelerator=cpu", "trainer.val_check_interval=2", "trainer.limit_val_batches=1",
    "trainer.log_every_n_steps=1", "trainer.num_sanity_val_steps=0", "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false", "~callbacks.synthesis",
]


@pytest.fixture(autouse=True)
def _offline_wandb(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


@pytest.fixture
def compose_config(tmp_path):
    """compose_config(name, overrides) -> DictConfig with output_dir in tmp_path."""

    def _compose(config_name: str = "train", overrides: list[str] = (), hydra: bool = False) -> DictConfig:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            run_dir = f"output_dir={tmp_path}" if config_name == "train" else f"output={tmp_path}"
            return compose(config_name, [*overrides, run_dir], return_hydra_config=hydra)

    return _compose


@pytest.fixture
def one_thread():
    """Parallel CPU kernels differ in the last bit from run to run; one thread makes syntheses exactly repeatable."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
