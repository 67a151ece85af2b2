"""Content-network training throughput (images/s): Lightning ContentModule vs a plain PyTorch loop doing the same steps.

Both see the same in-memory batches (data loading is not measured), the default architecture
(128², 4000-unit bottleneck) unless overridden. Prints a markdown table.

    python benchmarks/train_throughput.py [--batch-size 16] [--steps 10] [--warmup 3]
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import time

import lightning as L
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader

from neuralpatch.synthesis.holes import composite
from neuralpatch.training.masks import CenterMask
from neuralpatch.training.module import ContentModule, hole_weights, weighted_l2


def batches(n: int, batch_size: int, size: int, device: str) -> list[dict[str, torch.Tensor]]:
    mask = CenterMask(0.5)(size, size).expand(batch_size, 1, size, size).contiguous()
    return [{"image": torch.rand(batch_size, 3, size, size, device=device), "mask": mask.to(device)} for _ in range(n)]


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class BatchTimer(L.Callback):
    def __init__(self, warmup: int):
        self.warmup, self.start, self.images = warmup, None, 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if batch_idx == self.warmup:
            synchronize(module.device.type)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if batch_idx >= self.warmup:
            self.images += batch["image"].shape[0]

    def images_per_second(self, device: str) -> float:
        synchronize(device)
        return self.images / (time.perf_counter() - self.start)


def model_kwargs(size: int) -> dict:
    return dict(generator=dict(image_size=size), discriminator=dict(image_size=size))


def lightning_throughput(device: str, precision: str, data: list, warmup: int, size: int) -> float:
    timer = BatchTimer(warmup)
    trainer = L.Trainer(accelerator="gpu" if device == "cuda" else "cpu", devices=1, precision=precision,
                        max_steps=2 * len(data), logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, callbacks=[timer])
    trainer.fit(ContentModule(**model_kwargs(size)), train_dataloaders=DataLoader(data, batch_size=None))
    return timer.images_per_second(device)


def plain_throughput(device: str, precision: str, data: list, warmup: int, size: int) -> float:
    module = ContentModule(**model_kwargs(size)).to(device)
    generator, discriminator = module.generator, module.discriminator
    opt_g, opt_d = module.configure_optimizers()
    autocast = (torch.autocast(device, dtype=torch.bfloat16) if precision == "bf16-mixed" else contextlib.nullcontext())

    def adversarial(image, real):
        logits = discriminator(image)
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))

    images = 0
    for i, batch in enumerate(data):
        if i == warmup:
            synchronize(device)
            start = time.perf_counter()
        image, mask = batch["image"], batch["mask"]
        with autocast:
            prediction = generator(image, mask)
            fake = composite(prediction, image, mask)
            loss_d = 0.5 * (adversarial(image, True) + adversarial(fake.detach(), False))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        discriminator.requires_grad_(False)
        with autocast:
            loss_g = 0.999 * weighted_l2(prediction, image, hole_weights(mask, 4, 10.0)) + 0.001 * adversarial(fake, True)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        discriminator.requires_grad_(True)
        if not (torch.isfinite(loss_d) and torch.isfinite(loss_g)):  # the same per-step check Lightning's module makes
            raise FloatingPointError("non-finite loss")
        if i >= warmup:
            images += image.shape[0]
    synchronize(device)
    return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="timed batches")
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    settings = [("cpu", "32-true")]
    if torch.cuda.is_available():
        settings += [("cuda", "32-true"), ("cuda", "bf16-mixed")]
    machine = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or platform.machine()
    table = Table(title=f"content network training, {args.image_size}², batch {args.batch_size}; {machine}, "
                        f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}")
    for column in ("device", "precision", "Lightning img/s", "plain PyTorch img/s", "Lightning / plain"):
        table.add_column(column)
    for device, precision in settings:
        torch.manual_seed(0)
        data = batches(args.warmup + args.steps, args.batch_size, args.image_size, device)
        lightning = lightning_throughput(device, precision, data, args.warmup, args.image_size)
        plain = plain_throughput(device, precision, data, args.warmup, args.image_size)
        table.add_row(device, precision, f"{lightning:.1f}", f"{plain:.1f}", f"{lightning / plain:.2f}")
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
