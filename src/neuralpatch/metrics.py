"""Hole metrics of one inpainted image (torchmetrics' functional PSNR and SSIM, restricted to the hole)."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


def hole_metrics(result: Tensor, target: Tensor, hole: Tensor) -> dict[str, float]:
    """PSNR (dB), SSIM (mean of the SSIM map) and L1 over the hole pixels of ``[1,3,H,W]`` images in [0,1]."""
    inside = hole.bool().expand_as(target)  # [1,3,H,W]
    _, ssim_map = structural_similarity_index_measure(result, target, data_range=1.0, return_full_image=True)
    return {"psnr": float(peak_signal_noise_ratio(result[inside], target[inside], data_range=1.0)),
            "ssim": float(ssim_map[inside].mean()),
            "l1": float((result - target).abs()[inside].mean())}
