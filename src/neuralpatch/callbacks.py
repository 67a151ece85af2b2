"""The optimization callback: neural patch synthesis with the generator being trained as content prior."""

from __future__ import annotations

import lightning as L
import torch
from torchvision.utils import make_grid

from neuralpatch.metrics import hole_metrics
from neuralpatch.module import log_image
from neuralpatch.priors import ContentPrior
from neuralpatch.synthesis import Synthesizer, build_synthesizer, check_config


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
