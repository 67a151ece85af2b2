"""Hole metrics of one inpainted image (torchmetrics' functional PSNR and SSIM, restricted to the hole)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


def gradient_energy(image: Tensor, hole: Tensor) -> Tensor:
    """Σ of squared forward differences (x and y) at the hole's pixels."""
    dx = F.pad(image[..., :, 1:] - image[..., :, :-1], (0, 1))  # [1,3,H,W]
    dy = F.pad(image[..., 1:, :] - image[..., :-1, :], (0, 0, 0, 1))
    return ((dx.pow(2) + dy.pow(2)) * hole).sum()


def hole_metrics(result: Tensor, target: Tensor, hole: Tensor) -> dict[str, float]:
    """Over the hole pixels of ``[1,3,H,W]`` images in [0,1]: PSNR (dB), SSIM (mean of the SSIM map), mean L1 and
    L2 (fractions of the [0,1] range), and sharpness = gradient energy of the fill / of the ground truth (so a
    blur, which PSNR rewards, shows as < 1)."""
    inside = hole.bool().expand_as(target)  # [1,3,H,W]
    _, ssim_map = structural_similarity_index_measure(result, target, data_range=1.0, return_full_image=True)
    difference = (result - target)[inside]
    return {"psnr": float(peak_signal_noise_ratio(result[inside], target[inside], data_range=1.0)),
            "ssim": float(ssim_map[inside].mean()),
            "l1": float(difference.abs().mean()),
            "l2": float(difference.pow(2).mean()),
            "sharpness": float(gradient_energy(result, hole) / gradient_energy(target, hole).clamp_min(1e-12))}
