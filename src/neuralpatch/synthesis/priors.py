"""Structure priors: a first fill of the hole that the synthesis starts from and is pulled towards.

A prior is a callable ``prior(image [1,3,H,W] in [0,1], hole [1,1,H,W] bool) -> [1,3,H,W]`` that equals ``image``
outside the hole. Each is a small class that Hydra builds from ``conf/prior/``; the synthesis never asks which.
The content network's prior lives with that network, in ``neuralpatch.training.prior``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from neuralpatch.files import from_uint8, to_uint8
from neuralpatch.synthesis.energy import gaussian_blur
from neuralpatch.synthesis.holes import composite, depth

if TYPE_CHECKING:
    from neuralpatch.synthesis.synthesizer import Prior


class MeanPrior:
    """The mean colour of the known region (the paper's initialization without a content network)."""

    name = "mean"

    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        known = ~hole.bool()
        mean = (image * known).sum((2, 3), keepdim=True) / known.sum().clamp_min(1)  # [1,3,1,1]
        return composite(mean.expand_as(image), image, hole.float())


class HarmonicPrior:
    """The smoothest fill: the solution of Laplace's equation in the hole with the known pixels as its boundary
    (each hole pixel the mean of its four neighbours: a membrane stretched over the hole), solved coarse to fine.
    It continues no edge, and it draws none of the fast-marching wedges that Telea's fill leaves on a smooth
    background."""

    name = "harmonic"

    def __init__(self, iterations: int = 100):
        if iterations < 1:
            raise ValueError(f"prior.iterations must be ≥ 1, got {iterations}")
        self.iterations = iterations

    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        return membrane(image, hole.float(), self.iterations)


def membrane(image: Tensor, hole: Tensor, iterations: int) -> Tensor:
    """``image`` ``[1,C,h,w]`` with its ``hole`` ``[1,1,h,w]`` (0/1) pixels relaxed towards the mean of their four
    neighbours by ``iterations`` Jacobi sweeps (edge pixels repeated beyond the border), from the solution at half
    the size (where a 2×2 block with any known pixel is known: their mean), or the known mean colour at the
    coarsest."""
    if min(image.shape[-2:]) >= 4 and bool((F.avg_pool2d(hole, 2, ceil_mode=True) == 1).any()):
        weight = F.avg_pool2d(1 - hole, 2, ceil_mode=True)  # [1,1,⌈h/2⌉,⌈w/2⌉]: the known share of each block
        coarse = F.avg_pool2d(image * (1 - hole), 2, ceil_mode=True) / weight.clamp_min(1e-6)
        start = F.interpolate(membrane(coarse, (weight == 0).float(), iterations), scale_factor=2, mode="bilinear",
                              align_corners=False)[..., : image.shape[-2], : image.shape[-1]]
        x = composite(start, image, hole)
    else:
        x = MeanPrior()(image, hole.bool())
    for _ in range(iterations):
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        neighbours = (padded[..., :-2, 1:-1] + padded[..., 2:, 1:-1]
                      + padded[..., 1:-1, :-2] + padded[..., 1:-1, 2:]) / 4  # [1,C,h,w]
        x = composite(neighbours, image, hole)
    return x


class OpenCVPrior:
    """OpenCV's diffusion inpainting: ``telea`` (fast marching, Telea 2004) or ``navier_stokes`` (Bertalmio 2001)."""

    ALGORITHMS = {"telea": "INPAINT_TELEA", "navier_stokes": "INPAINT_NS"}

    def __init__(self, algorithm: str = "telea", radius: int = 3):
        import cv2

        if algorithm not in self.ALGORITHMS:
            raise ValueError(f"prior.algorithm must be one of {list(self.ALGORITHMS)}, got {algorithm!r}")
        if radius < 1:
            raise ValueError(f"prior.radius must be ≥ 1 px, got {radius}")
        self.cv2, self.flag, self.radius, self.name = cv2, getattr(cv2, self.ALGORITHMS[algorithm]), radius, algorithm

    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        mask = hole[0, 0].cpu().numpy().astype(np.uint8)  # [H,W]
        result = self.cv2.inpaint(to_uint8(image), mask, self.radius, self.flag)
        return composite(from_uint8(result, image.device), image, hole.float())


class SoftenedPrior:
    """``prior``'s fill blurred the more the deeper it lies in the hole, by a Gaussian of σ = ``spread`` × the
    distance to the known region: its edges continued from the border stay sharp there, and the sharp-edged
    wedges that Telea's fast-marching fronts draw where they meet in the hole's middle become soft shading."""

    def __init__(self, prior: Prior, spread: float = 0.25):
        if spread < 0:
            raise ValueError(f"prior.spread must be ≥ 0, got {spread}")
        self.prior, self.spread, self.name = prior, spread, f"softened_{prior.name}"

    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        fill = self.prior(image, hole)  # [1,3,h,w]
        return composite(variable_blur(fill, depth(hole).to(fill) * self.spread), image, hole.float())


def variable_blur(image: Tensor, sigma: Tensor) -> Tensor:
    """``image`` ``[1,C,h,w]`` blurred at each pixel by a Gaussian of ``sigma`` ``[1,1,h,w]`` px: linear in σ
    between blurs at 0, ½, 1, 2, 4, … px (at most (side − 1) / 2.5 px, what reflected edges allow)."""
    sigma = sigma.clamp(max=(min(image.shape[-2:]) - 1) / 2.5)
    largest = float(sigma.max())
    if largest == 0:
        return image.clone()
    levels = [0.0, *(2.0 ** k for k in range(-1, 16) if 2.0 ** k < largest), largest]
    result, previous = image.clone(), image
    for low, high in zip(levels, levels[1:]):
        blurred = gaussian_blur(image, high)
        share = ((sigma - low) / (high - low)).clamp(0, 1)  # [1,1,h,w]
        result = torch.where((sigma > low) & (sigma <= high), previous + (blurred - previous) * share, result)
        previous = blurred
    return result


class PatchMatchPrior:
    """PatchMatch pyramid inpainting (patchmatch-cython): copies known patches into the hole."""

    name = "patchmatch"

    def __init__(self, patch_size: int = 5, seed: int = 0):
        from patchmatch_cython import inpaint_pyramid

        self.inpaint, self.patch_size, self.seed = inpaint_pyramid, patch_size, seed

    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        mask = hole[0, 0].bool().cpu().numpy()
        result = self.inpaint(to_uint8(image), mask, patch_size=self.patch_size, seed=self.seed)
        return composite(from_uint8(result, image.device), image, hole.float())
