"""LightningModule training the content network adversarially, with manual optimization."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor
from torchmetrics import MeanMetric
from torchmetrics.functional.image import structural_similarity_index_measure
from torchmetrics.image import PeakSignalNoiseRatio
from torchvision.utils import make_grid, save_image

from neuralpatch.files import InputError
from neuralpatch.synthesis.holes import composite, dilate
from neuralpatch.training.networks import ContentGenerator, Discriminator


def hole_weights(mask: Tensor, border: int, border_weight: float) -> Tensor:
    """Context Encoder's L2 weights: 1 in the hole, ``border_weight`` on the ``border``-px band of known pixels around it."""
    if border == 0:
        return mask
    return mask + border_weight * (dilate(mask, border) - mask)


def weighted_l2(prediction: Tensor, target: Tensor, weights: Tensor) -> Tensor:
    """Σ w·(p−t)² / Σ w over pixels and channels."""
    squared = (prediction - target).pow(2) * weights  # [N,3,H,W]
    return squared.sum() / (weights.sum() * prediction.shape[1]).clamp_min(1)


@rank_zero_only
def log_image(trainer: L.Trainer, key: str, image: Tensor, caption: str) -> None:
    """Sends an image ``[3,H,W]`` in [0,1] to every logger: W&B natively, others as PNG beside their logs."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=[image], caption=[caption], step=trainer.global_step)
        else:
            folder = Path(logger.log_dir or trainer.default_root_dir) / "images"
            folder.mkdir(parents=True, exist_ok=True)
            save_image(image, folder / f"{key.replace('/', '_')}_step{trainer.global_step:07d}.png")


class ContentModule(L.LightningModule):
    """Content generator + discriminator.

    Per batch: one generator forward; a discriminator step on the detached composite; then a generator
    step on ``lambda_rec``·weighted L2 + ``lambda_adv``·adversarial. Note that Lightning counts both
    optimizer steps in ``global_step`` (2 per batch), so ``trainer.max_steps`` counts them too.
    """

    def __init__(self, generator: dict, discriminator: dict, lambda_rec: float = 0.999, lambda_adv: float = 0.001,
                 border: int = 4, border_weight: float = 10.0, lr_g: float = 2e-3, lr_d: float = 2e-4,
                 betas: tuple[float, float] = (0.5, 0.999), gradient_clip: float | None = None, sample_images: int = 8,
                 val_judge: bool = True):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.generator = ContentGenerator(**generator)
        self.discriminator = Discriminator(**discriminator)
        self.val_psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.val_ssim = MeanMetric()
        self.val_l1 = MeanMetric()
        self.val_judge = MeanMetric()
        self._judge: list[torch.nn.Module] = []  # evaluate.py's judge, built in setup; a list keeps its weights out
        # of the checkpoints and out of DDP

    def configure_optimizers(self):
        betas = tuple(self.hparams.betas)
        return (torch.optim.Adam(self.generator.parameters(), lr=self.hparams.lr_g, betas=betas),
                torch.optim.Adam(self.discriminator.parameters(), lr=self.hparams.lr_d, betas=betas))

    def _adversarial(self, image: Tensor, real: bool) -> Tensor:
        logits = self.discriminator(image)  # [N,1]
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))

    def _step(self, optimizer, loss: Tensor, name: str) -> None:
        finite = bool(torch.isfinite(loss))
        if not self.trainer.strategy.reduce_boolean_decision(finite, all=True):
            raise FloatingPointError(f"non-finite {name} loss at global step {self.global_step} "
                                     f"(lower model.lr_g/model.lr_d or set model.gradient_clip)")
        optimizer.zero_grad()
        self.manual_backward(loss)
        if self.hparams.gradient_clip:
            self.clip_gradients(optimizer, gradient_clip_val=self.hparams.gradient_clip, gradient_clip_algorithm="norm")
        optimizer.step()

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        image, mask = batch["image"], batch["mask"]  # [N,3,S,S], [N,1,S,S]
        opt_g, opt_d = self.optimizers()
        prediction = self.generator(image, mask)  # [N,3,S,S]
        fake = composite(prediction, image, mask)

        with self.toggled_optimizer(opt_d):  # only D's parameters take gradients here
            loss_d = 0.5 * (self._adversarial(image, True) + self._adversarial(fake.detach(), False))
            self._step(opt_d, loss_d, "discriminator")

        with self.toggled_optimizer(opt_g):  # only G's
            weights = hole_weights(mask, self.hparams.border, self.hparams.border_weight)
            loss_rec = weighted_l2(prediction, image, weights)
            loss_adv = self._adversarial(fake, True)
            loss_g = self.hparams.lambda_rec * loss_rec + self.hparams.lambda_adv * loss_adv
            self._step(opt_g, loss_g, "generator")

        self.log_dict({"train/loss_g": loss_g, "train/loss_rec": loss_rec, "train/loss_adv": loss_adv,
                       "train/loss_d": loss_d}, prog_bar=True, batch_size=image.shape[0])

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        image, mask = batch["image"], batch["mask"]
        prediction = self.generator(image, mask).clamp(0, 1).float()
        filled = composite(prediction, image, mask)
        hole = mask.expand_as(image).bool()  # [N,3,S,S]
        pixels = hole.sum()
        _, ssim_map = structural_similarity_index_measure(filled, image, data_range=1.0, return_full_image=True)
        self.val_psnr(filled[hole], image[hole])
        self.val_ssim.update((ssim_map * hole).sum() / pixels.clamp_min(1), weight=pixels)
        self.val_l1.update((filled - image).abs()[hole].mean(), weight=pixels)
        metrics = {"val/psnr": self.val_psnr, "val/ssim": self.val_ssim, "val/l1": self.val_l1}
        if self.hparams.val_judge:
            self._update_judge(filled, image, mask)
            metrics["val/judge"] = self.val_judge
        self.log_dict(metrics, prog_bar=True, batch_size=image.shape[0])
        if batch_idx == 0 and not self.trainer.sanity_checking:
            self._log_samples(image, mask, prediction, filled)

    def setup(self, stage: str) -> None:
        if self.hparams.val_judge:
            self._judge_network()  # a missing package fails here, not at the first validation

    def _judge_network(self) -> torch.nn.Module:
        if not self._judge:
            from neuralpatch.metrics.perceptual import Lite0Distance

            try:
                self._judge.append(Lite0Distance().eval())
            except RuntimeError as error:
                raise InputError(f"model.val_judge=true: {error}; or set model.val_judge=false") from None
        return self._judge[0].to(self.device)

    def _update_judge(self, filled: Tensor, image: Tensor, mask: Tensor) -> None:
        """The perceptual distance of evaluate.py's offline judge (EfficientNet-Lite0), per crop, over the hole."""
        judge = self._judge_network()
        with torch.autocast(self.device.type, enabled=False):
            for i in range(image.shape[0]):
                self.val_judge.update(judge(filled[i : i + 1].float(), image[i : i + 1].float(), mask[i : i + 1]))

    def _log_samples(self, image: Tensor, mask: Tensor, prediction: Tensor, filled: Tensor) -> None:
        n = min(self.hparams.sample_images, image.shape[0])
        columns = torch.stack([image * (1 - mask), prediction, filled, image], dim=1)[:n]  # [n,4,3,S,S]
        grid = make_grid(columns.flatten(0, 1), nrow=4, padding=2, pad_value=1.0)
        log_image(self.trainer, "val/samples", grid, "masked input | prediction | composite | target")


EXPORT_KEY = "neuralpatch_generator"  # an export (neuralpatch.training.export) holds the generator's architecture under it


def read_checkpoint(path: str | Path, setting: str, export: bool = False) -> dict:
    """The contents of a train.py checkpoint (tensors and plain values only) or, with ``export``, of a generator
    export too; else an InputError naming ``setting`` and the file: missing, unreadable, or not neuralpatch's."""
    path = Path(path).expanduser()
    wanted = "a .ckpt written by train.py" + (" or a generator exported from one" if export else "")
    if not path.is_file():
        raise InputError(f"{setting} {path} does not exist; pass {wanted}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and torch errors alike: the file is not a checkpoint we can read
        raise InputError(f"{setting} {path} cannot be read as a checkpoint ({type(error).__name__}); "
                         f"pass {wanted}") from None
    exported = export and isinstance(state, dict) and EXPORT_KEY in state and "state_dict" in state
    if not exported and (not isinstance(state, dict) or "state_dict" not in state
                         or "generator" not in state.get("hyper_parameters", {})):
        raise InputError(f"{setting} {path} is not a neuralpatch content checkpoint (no generator in its "
                         f"hyper_parameters); pass {wanted}")
    return state


def generator_weights(state: dict) -> dict[str, Tensor]:
    """The generator's state dict inside a train.py checkpoint's contents."""
    prefix = "generator."
    return {key[len(prefix):]: value for key, value in state["state_dict"].items() if key.startswith(prefix)}


def load_generator(checkpoint: str | Path, map_location: str | torch.device = "cpu",
                   setting: str = "content checkpoint") -> ContentGenerator:
    """Rebuilds the trained content generator (eval mode, float32) from a training checkpoint or a generator
    export alone; errors name ``setting``."""
    state = read_checkpoint(checkpoint, setting, export=True)
    if EXPORT_KEY in state:
        generator, weights = ContentGenerator(**state[EXPORT_KEY]), state["state_dict"]
    else:
        generator, weights = ContentGenerator(**state["hyper_parameters"]["generator"]), generator_weights(state)
    broken = next((key for key, value in weights.items()
                   if value.is_floating_point() and not value.isfinite().all()), None)
    if broken is not None:
        raise InputError(f"{setting} {checkpoint} holds non-finite values in {broken}; re-export it from its .ckpt "
                         "(python -m neuralpatch.training.export) or pass another checkpoint")
    generator.load_state_dict(weights)  # copied into float32 parameters
    return generator.eval().requires_grad_(False).to(map_location)
