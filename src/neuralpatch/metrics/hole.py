"""Hole metrics of one inpainted image (torchmetrics' functional PSNR and SSIM, restricted to the hole)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure
from torchvision.transforms.functional import gaussian_blur

from neuralpatch.synthesis.energy import to_opponent
from neuralpatch.synthesis.holes import erode

GRAIN_SIGMA = 1.0  # px: the finest band is the image minus its Gaussian blur of this σ
GRAIN_EROSION = 4  # px: the band is measured this far inside the hole (its edge mixes in the known region)


def gradient_energy(image: Tensor, hole: Tensor) -> Tensor:
    """Σ of squared forward differences (x and y) at the hole's pixels."""
    dx = F.pad(image[..., :, 1:] - image[..., :, :-1], (0, 1))  # [1,3,H,W]
    dy = F.pad(image[..., 1:, :] - image[..., :-1, :], (0, 0, 0, 1))
    return ((dx.pow(2) + dy.pow(2)) * hole).sum()


def fine_band_energy(image: Tensor, region: Tensor) -> Tensor:
    """Per channel of ``image`` ``[1,C,H,W]``: Σ over ``region`` ``[1,1,H,W]`` of its finest band (image − Gaussian
    blur of σ = GRAIN_SIGMA) squared → ``[C]``."""
    band = image - gaussian_blur(image, 2 * 3 * round(GRAIN_SIGMA) + 1, GRAIN_SIGMA)
    return (band.pow(2) * region).sum((0, 2, 3))


def grain(result: Tensor, target: Tensor, hole: Tensor) -> dict[str, float]:
    """Speckle of a fill: the energy of its finest band over the ground truth's, inside the hole eroded by
    GRAIN_EROSION px (the hole itself when nothing is left), for the chroma (``grain``: colour speckle) and the
    luminance (``grain_luma``). Natural texture ≈ 1; a blur ≪ 1; speckle ≫ 1."""
    hole = hole.float()
    inner = erode(hole, GRAIN_EROSION)  # [1,1,H,W]
    region = inner if inner.any() else hole
    ratio = (fine_band_energy(to_opponent(result), region)
             / fine_band_energy(to_opponent(target), region).clamp_min(1e-12))  # [3]
    return {"grain": float(ratio[1:].mean()), "grain_luma": float(ratio[0])}


def hole_metrics(result: Tensor, target: Tensor, hole: Tensor) -> dict[str, float]:
    """Over the hole pixels of ``[1,3,H,W]`` images in [0,1]: PSNR (dB), SSIM (mean of the SSIM map), mean L1 and
    L2 (fractions of the [0,1] range), and sharpness = gradient energy of the fill / of the ground truth (so a
    blur, which PSNR rewards, shows as < 1), and ``grain`` / ``grain_luma`` (``grain``: speckle, which sharpness
    rewards, shows as > 1)."""
    inside = hole.bool().expand_as(target)  # [1,3,H,W]
    _, ssim_map = structural_similarity_index_measure(result, target, data_range=1.0, return_full_image=True)
    difference = (result - target)[inside]
    return {"psnr": float(peak_signal_noise_ratio(result[inside], target[inside], data_range=1.0)),
            "ssim": float(ssim_map[inside].mean()),
            "l1": float(difference.abs().mean()),
            "l2": float(difference.pow(2).mean()),
            "sharpness": float(gradient_energy(result, hole) / gradient_energy(target, hole).clamp_min(1e-12)),
            **grain(result, target, hole)}
