"""Structure priors: a first fill of the hole that the synthesis starts from and is pulled towards.

A prior is a callable ``prior(image [1,3,H,W] in [0,1], hole [1,1,H,W] bool) -> [1,3,H,W]`` that equals ``image``
outside the hole. Each is a small class that Hydra builds from ``conf/prior/``; the synthesis never asks which.
The content network's prior lives with that network, in ``neuralpatch.training.prior``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from neuralpatch.files import from_uint8, to_uint8
from neuralpatch.synthesis.energy import gaussian_blur
from neuralpatch.synthesis.holes import composite, crop_box, depth

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


class LinesPrior:
    """Straight lines across the hole: each hole pixel interpolates, along the horizontal, the vertical and both
    diagonals through it (with ``max_slope`` 2 also the four lines stepping 2 px one way per px the other, 26.6°
    from the horizontal or the vertical), between the known colours where that line enters and leaves the hole, and
    the lines are mixed with weights that favour the line whose two ends agree in colour (a horizon, a rail, a
    wall's edge that crosses the hole) and whose ends are near: (exp(−Δ / tolerance²) + floor) / (d₁·d₂), Δ the
    ends' mean squared colour difference, d₁, d₂ the distances to them. A line that leaves the photo before the
    hole ends has one end: its colour, with the weight of ``floor`` alone. With a ``fallback`` prior, the
    ``floor`` share of every line's weight goes to the fallback's fill instead of the line's own colours: where no
    line agrees, the fill is the fallback's. An end's colour is the mean of the ``reach`` known pixels beyond it
    on its line, not one noisy pixel, and no structure the line runs along is blurred."""

    name = "lines"

    def __init__(self, tolerance: float = 0.1, floor: float = 0.1, reach: int = 4, fallback: Prior | None = None,
                 max_slope: int = 1):
        for key, value in (("tolerance", tolerance), ("floor", floor), ("reach", reach)):
            if not value > 0 or not math.isfinite(value):
                raise ValueError(f"prior.{key} must be a finite number > 0, got {value}")
        if reach != int(reach):  # int() would make 0.5 a reach of 0: ends of no pixels, black
            raise ValueError(f"prior.reach must be a whole number of px, got {reach}")
        if max_slope not in (1, 2):
            raise ValueError(f"prior.max_slope must be 1 or 2, got {max_slope}")
        self.tolerance, self.floor, self.reach, self.fallback = tolerance, floor, int(reach), fallback
        # (transposed, columns stepped per row, their sign): the lines through each pixel
        self.directions = [(False, 0, 1), (True, 0, 1), (False, 1, -1), (False, 1, 1)] + (
            [(transposed, 2, sign) for transposed in (False, True) for sign in (-1, 1)] if max_slope == 2 else [])

    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        hole = hole.float()
        top, bottom, left, right = crop_box(hole, self.reach, 1)  # the hole's box, the ends' pixels around it
        colours = image[0, :, top:bottom, left:right].double()  # [3,h,w]
        inside = hole[0, 0, top:bottom, left:right].bool()  # [h,w]
        fill = (self.fallback or MeanPrior())(image, hole)  # where no line through a hole pixel leaves the hole
        box = fill[0, :, top:bottom, left:right].double()  # [3,h,w]
        total, weights, floors = torch.zeros_like(colours), torch.zeros_like(colours[0]), torch.zeros_like(colours[0])
        for direction in self.directions:
            line, agreeing, floor = (_unsheared(a, direction, inside.shape) for a in self._along(
                *(_sheared(a, direction) for a in (colours, inside, torch.ones_like(inside)))))
            share = 1 / (1 + direction[1] ** 2)  # d₁·d₂ in px: a step along the line is √(1 + k²) px
            weight = share * (agreeing if self.fallback else agreeing + floor)
            total, weights, floors = total + line * weight, weights + weight, floors + share * floor
        if self.fallback:
            total, weights = total + box * floors, weights + floors
        fill[0, :, top:bottom, left:right] = torch.where(weights > 0, total / weights.clamp_min(1e-30), box).to(fill)
        return composite(fill, image, hole)

    def _along(self, colours: Tensor, inside: Tensor, valid: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Along dimension 0 of ``[3,n,m]`` colours and ``[n,m]`` hole / photo masks: each hole cell's
        interpolated colour ``[3,n,m]`` and the two parts of its weight ``[n,m]``: the ends' agreement's and the
        floor's (0 outside the hole)."""
        n = inside.shape[0]
        known = valid & ~inside
        index = torch.arange(n, device=inside.device)[:, None].expand_as(inside)  # [n,m]
        stops = known | ~valid
        before = torch.where(stops, index, -1).cummax(0).values  # the last stop at or above each cell
        after = torch.where(stops, index, n).flip(0).cummin(0).values.flip(0)  # the first at or below
        has_before = (before >= 0) & known.gather(0, before.clamp(0, n - 1))
        has_after = (after < n) & known.gather(0, after.clamp(0, n - 1))
        sums = F.pad((colours * known).cumsum(1), (0, 0, 1, 0))  # [3,n+1,m]: of the known cells above each row
        counts = F.pad(known.double().cumsum(0), (0, 0, 1, 0))  # [n+1,m]

        def mean(first: Tensor, last: Tensor) -> Tensor:  # of the known cells first…last−1 of each column: [3,n,m]
            first, last = first.clamp(0, n), last.clamp(0, n)
            total = sums.gather(1, last.expand_as(colours)) - sums.gather(1, first.expand_as(colours))
            return total / (counts.gather(0, last) - counts.gather(0, first)).clamp_min(1)

        above, below = mean(before + 1 - self.reach, before + 1), mean(after, after + self.reach)
        near, far = (index - before).double(), (after - index).double()  # [n,m]
        both = has_before & has_after
        line = torch.where(both, (above * far + below * near) / (near + far).clamp_min(1),
                           torch.where(has_before, above, below))
        agreement = torch.exp(-(above - below).pow(2).mean(0) / self.tolerance**2)
        spread = torch.where(both, near * far, torch.where(has_before, near, far).pow(2)).clamp_min(1)
        counted = inside & (has_before | has_after)
        return line, torch.where(counted & both, agreement / spread, 0), torch.where(counted, self.floor / spread, 0)


def _sheared(tensor: Tensor, direction: tuple[bool, int, int]) -> Tensor:
    """``tensor`` ``[...,h,w]`` laid out so that ``direction``'s lines (transposed, k columns stepped per row, their
    sign) are its columns (dimension −2 runs along them): slanted lines sheared into ``[...,h,w+k(h−1)]`` padded
    with zeros."""
    transposed, step, sign = direction
    tensor = tensor.transpose(-1, -2) if transposed else tensor
    if step == 0:
        return tensor
    h, w = tensor.shape[-2:]
    rows, cols = _shear_indices(h, w, step, sign, tensor.device)
    out = tensor.new_zeros((*tensor.shape[:-2], h, w + step * (h - 1)))
    out[..., rows, cols] = tensor
    return out


def _unsheared(tensor: Tensor, direction: tuple[bool, int, int], shape: torch.Size) -> Tensor:
    """The inverse of ``_sheared`` back to ``[...,h,w]`` = ``shape``."""
    transposed, step, sign = direction
    if step:
        h, w = shape[::-1] if transposed else shape
        rows, cols = _shear_indices(h, w, step, sign, tensor.device)
        tensor = tensor[..., rows, cols]
    return tensor.transpose(-1, -2) if transposed else tensor


def _shear_indices(h: int, w: int, step: int, sign: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """(rows ``[h,1]``, columns ``[h,w]``) of each pixel in the sheared layout of lines stepping ``sign`` × ``step``
    columns per row."""
    rows, cols = torch.arange(h, device=device)[:, None], torch.arange(w, device=device)[None, :]
    return rows, (cols - step * rows + step * (h - 1) if sign < 0 else cols + step * rows)
