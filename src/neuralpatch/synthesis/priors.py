"""Structure priors: a first fill of the hole that the synthesis starts from and is pulled towards.

A prior is a callable ``prior(image [1,3,H,W] in [0,1], hole [1,1,H,W] bool) -> [1,3,H,W]`` that equals ``image``
outside the hole. Each is a small class that Hydra builds from ``conf/prior/``; the synthesis never asks which.
The content network's prior lives with that network, in ``neuralpatch.training.prior``.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from neuralpatch.files import from_uint8, to_uint8
from neuralpatch.synthesis.holes import composite


class MeanPrior:
    """The mean colour of the known region (the paper's initialization without a content network)."""

    name = "mean"

    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        known = ~hole.bool()
        mean = (image * known).sum((2, 3), keepdim=True) / known.sum().clamp_min(1)  # [1,3,1,1]
        return composite(mean.expand_as(image), image, hole.float())


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
