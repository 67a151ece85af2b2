"""What one pyramid level's energy compares the image with (``Level``), and the energy's image terms."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from neuralpatch.synthesis.holes import Box
from neuralpatch.synthesis.matching import CandidateBank, Search
from neuralpatch.synthesis.patches import QueryPatches

# orthonormal RGB → (luminance, two chroma axes): TV(x) = TV(luminance) + TV(chroma)
OPPONENT = torch.tensor([[1 / 3**0.5] * 3, [1 / 2**0.5, -1 / 2**0.5, 0], [1 / 6**0.5, 1 / 6**0.5, -2 / 6**0.5]])
PIXEL_SCALE = 255.0  # unnormalized energies are measured on the 0–255 scale, as in the paper
ENERGY_TERMS = ("pixel", "texture", "tv", "tv_chroma")  # the energy's terms, unweighted


@functools.cache
def opponent_matrix(device: torch.device, dtype: torch.dtype) -> Tensor:
    """``OPPONENT`` on ``device``, copied there once (a CUDA graph's capture cannot copy from the host)."""
    return OPPONENT.to(device, dtype)


def to_opponent(image: Tensor) -> Tensor:
    """RGB ``[N,3,H,W]`` → (luminance, two chroma axes) ``[N,3,H,W]`` (orthonormal: the inverse is the transpose)."""
    return torch.einsum("oc,nchw->nohw", opponent_matrix(image.device, image.dtype), image)


def gaussian_blur(image: Tensor, sigma: float) -> Tensor:
    """``image`` ``[N,C,H,W]`` blurred by a Gaussian of ``sigma`` px, kernel 2·⌈2σ⌉+1, reflected edges: what
    torchvision's ``gaussian_blur`` gives, without importing torchvision on the inpainting path (1.2 s)."""
    radius = math.ceil(2 * sigma)
    kernel = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, device=image.device) / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(image.dtype)
    channels = image.shape[1]
    padded = F.pad(image, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)


def total_variation(image: Tensor, hole: Tensor) -> Tensor:
    """Σ squared differences of neighbouring pixels of ``image`` ``[1,C,h,w]``, over the pairs that touch
    ``hole`` ``[1,1,h,w]`` (the others never change)."""
    vertical = (image[..., 1:, :] - image[..., :-1, :]).pow(2) * torch.maximum(hole[..., 1:, :], hole[..., :-1, :])
    horizontal = (image[..., 1:] - image[..., :-1]).pow(2) * torch.maximum(hole[..., 1:], hole[..., :-1])
    return vertical.sum() + horizontal.sum()


@dataclass
class Level:
    """What the energy of one pyramid level compares the image with. Only a crop of the level is optimized: the
    hole's bounding box grown so that it holds every patch whose features the fill changes, with the context
    those features see."""

    box: tuple[int, int, int, int]  # (top, bottom, left, right) of the crop in the level's image
    known: Tensor  # [1,3,h,w] the crop of the level's image
    hole: Tensor  # [1,1,h,w] float
    target: Tensor  # [1,3,h,w] the pixel term's target: the prior's fill, or with voting the vote
    cells: dict[str, Tensor]  # layer → [1,1,≥h/s,≥w/s] bool: hole cells from the crop's top-left on
    banks: dict[str, CandidateBank | None]  # layer → the known patches of the whole level
    fresh: dict[str, tuple[Tensor, Tensor, Tensor]]  # layer → the candidates the fill can change, refreshed from
    # the crop's features at each matching: (index in the bank, rows, cols in the crop's feature map)
    alpha: float
    pixel_blur: float
    target_features: dict[str, Tensor]  # with content_layer: the target's features
    content_count: int  # elements of content_layer's features over the whole level: the mean's denominator
    search: Search  # the nearest-neighbour search (a randomized one keeps its field in the banks)
    vote_source: Tensor | None = None  # [1,3,H,W] the whole level's image: with voting, the pixel target is the
    # vote of the vote layer's matches from it (re-voted at each EM round), the prior's fill where none voted
    prior_target: Tensor | None = None  # [1,3,h,w] the prior's fill of the crop
    layers: tuple[str, ...] = ()  # the texture layers of this level's energy
    around: tuple[int, int, int, int] | None = None  # the hole's box grown by the context its features see (the
    # crop, with crop_to_hole): the photo around the hole, whatever crop is optimized
    queries: dict[tuple[str, tuple[int, int]], QueryPatches | None] = field(default_factory=dict)  # (layer, feature
    # map size) → the patches overlapping the hole, found at the first matching and kept for the level
    parts: list[tuple[Box, Box]] = field(default_factory=list)  # (box, inner) in the crop: the texture network runs
    # on each box and its features over the inner box replace those of ``unchanged`` (holes.feature_parts); [] =
    # on the whole crop
    unchanged: dict[str, Tensor] = field(default_factory=dict)  # layer → [1,C,h/s,w/s] the crop's features at the
    # level's start: exact wherever the fill cannot change them

    @property
    def parts_share(self) -> float:
        """The share of the crop's pixels that each evaluation runs through the texture network."""
        pixels = sum((bottom - top) * (right - left) for (top, bottom, left, right), _ in self.parts)
        return pixels / self.hole[0, 0].numel() if self.parts else 1.0
