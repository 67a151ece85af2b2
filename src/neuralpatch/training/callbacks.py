"""The optimization callback (neural patch synthesis with the generator being trained as content prior), the
training run's progress bar and its latest checkpoint."""

from __future__ import annotations

import sys

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from torchvision.utils import make_grid

from neuralpatch.metrics.hole import hole_metrics
from neuralpatch.synthesis.settings import check_config
from neuralpatch.synthesis.synthesizer import Synthesizer, build_synthesizer
from neuralpatch.training.module import log_image
from neuralpatch.training.prior import ContentPrior


class SynthesisCallback(L.Callback):
    """Every ``every_n_validations`` validations, inpaints the first ``num_images`` (fixed) validation crops by
    synthesis with the current generator as content prior and logs the grid (masked input | content | synthesis |
    target) and the hole PSNR/SSIM as ``synthesis/...``. Holds the ``texture``/``synthesis``/``pyramid`` settings."""

    def __init__(self, texture: dict, synthesis: dict, pyramid: dict, every_n_validations: int = 4, num_images: int = 2):
        check_config(synthesis, pyramid)  # at start-up, not at the first synthesis
        self.settings = {"texture": texture, "synthesis": synthesis, "pyramid": pyramid}
        self.every_n_validations, self.num_images = every_n_validations, num_images
        self.validations = 0
        self.synthesizer: Synthesizer | None = None  # built on first use: the texture network loads weights

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self.validations += 1
        if self.validations % self.every_n_validations == 0:
            if trainer.is_global_zero:
                with torch.inference_mode(False), torch.enable_grad():
                    self._synthesize(trainer, module)
            trainer.strategy.barrier()

    def _synthesize(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.synthesizer is None:
            self.synthesizer = build_synthesizer(**self.settings)
        synthesizer = self.synthesizer.to(module.device)
        val_set = trainer.datamodule.val_set
        generator, was_training = module.generator, module.generator.training
        generator.eval()
        rows, scores, prior = [], [], ContentPrior(generator)
        for index in range(min(self.num_images, len(val_set))):
            item = val_set[index]
            image, hole = item["image"][None].to(module.device), item["mask"][None].to(module.device)
            result, info = synthesizer(image, hole, prior)
            scores.append(hole_metrics(result, image, hole))
            rows += [image * (1 - hole), info["prior"], result, image]
        generator.train(was_training)
        metrics = {f"synthesis/{name}": sum(s[name] for s in scores) / len(scores) for name in ("psnr", "ssim", "l1")}
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        grid = make_grid(torch.cat(rows).clamp(0, 1), nrow=4, padding=2, pad_value=1.0)
        log_image(trainer, "synthesis/samples", grid, "masked input | content prediction | synthesis | target")


class RunProgressBar(TQDMProgressBar):
    """Lightning's progress bar over the whole run (``trainer.max_steps``, in batches: two optimizer steps each)
    instead of each epoch, so its ETA is the run's; quiet when the output is not a terminal (SLURM logs)."""

    def __init__(self, refresh_rate: int = 1):
        super().__init__(refresh_rate)
        if not sys.stderr.isatty():
            self.disable()

    def on_train_epoch_start(self, trainer: L.Trainer, *_) -> None:
        if trainer.max_steps <= 0:  # a run bounded by epochs: Lightning's bar per epoch
            return super().on_train_epoch_start(trainer)
        bar, done = self.train_progress_bar, trainer.global_step // 2
        if bar.total != trainer.max_steps // 2:  # the run's first epoch (or a resumed run's)
            bar.reset(total=trainer.max_steps // 2)
            bar.initial = bar.n = done  # the ETA counts only this session's speed
        bar.set_description(f"epoch {trainer.current_epoch}")

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        if trainer.max_steps <= 0:
            return super().on_train_batch_end(trainer, module, outputs, batch, batch_idx)
        done = trainer.global_step // 2
        if self._should_update(done, self.train_progress_bar.total):
            self.train_progress_bar.n = done
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, module))


class LatestCheckpoint(ModelCheckpoint):
    """``last.ckpt``: the training state at every validation and where training stops (max_steps, max_time), what
    ``ckpt_path=`` resumes from. Lightning's own ``save_last`` only follows the saves of the best checkpoint."""

    def __init__(self, dirpath: str, filename: str = "last"):
        super().__init__(dirpath=dirpath, filename=filename, monitor=None, save_top_k=1, enable_version_counter=False)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._should_skip_saving_checkpoint(trainer):  # skips a step the last validation saved already
            self._save_none_monitor_checkpoint(trainer, self._monitor_candidates(trainer))
