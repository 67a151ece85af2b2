"""Nearest-neighbour patch matching and the texture term (Yang et al. 2017, eq. 3).

Each 3×3 feature patch overlapping the hole is matched to the known patch of highest normalized
cross-correlation: one convolution of the feature map with the L2-normalized candidate patches, then a max.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def patch_grid(hole: Tensor) -> tuple[Tensor, Tensor]:
    """For every 3×3 patch position (top-left corner, valid positions ``[h-2,w-2]``) of ``hole`` ``[1,1,h,w]``:
    (the patch overlaps the hole → query, the patch lies wholly in the known region → candidate)."""
    overlaps = F.max_pool2d(hole.float(), 3, stride=1)[0, 0] > 0  # [h-2,w-2]
    return overlaps, ~overlaps


def gather_patches(features: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """3×3 patches of ``features`` ``[C,h,w]`` with top-left corners (rows, cols) → ``[n,C,3,3]``."""
    offsets = torch.arange(3, device=features.device)
    r = (rows[:, None] + offsets)[:, :, None]  # [n,3,1]
    c = (cols[:, None] + offsets)[:, None, :]  # [n,1,3]
    return features[:, r, c].permute(1, 0, 2, 3)


def nearest_patches(region: Tensor, candidates: Tensor, chunk_size: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Index of the best-matching candidate for every 3×3 patch of ``region`` ``[1,C,h,w]``, by normalized
    cross-correlation: one convolution with the L2-normalized candidates ``[P,C,3,3]`` + max (the query's
    own norm does not change the argmax). Chunked over candidates so memory stays ``chunk_size·h·w``.
    Returns ``[h-2,w-2]`` indices into ``candidates``."""
    norms = candidates.flatten(1).norm(dim=1).clamp_min(1e-8).view(-1, 1, 1, 1)
    height, width = region.shape[-2:]
    best_score = torch.full((height - 2, width - 2), -math.inf, device=region.device)
    best_index = torch.zeros_like(best_score, dtype=torch.long)
    for start in range(0, candidates.shape[0], chunk_size):
        filters = (candidates[start : start + chunk_size] / norms[start : start + chunk_size]).to(dtype)
        scores = F.conv2d(region.to(dtype), filters)[0].float()  # [p,h-2,w-2]
        score, index = scores.max(dim=0)
        better = score > best_score
        best_score = torch.where(better, score, best_score)
        best_index = torch.where(better, index + start, best_index)
    return best_index


@dataclass
class Matches:
    """The query patches of one layer and their (constant) nearest known patches."""

    rows: Tensor  # [Q] top-left corners of the query patches
    cols: Tensor  # [Q]
    targets: Tensor  # [Q,C,3,3]
    weights: Tensor  # [Q,1,3,3]: 1, or 1 / (query patches covering that position) with overlap averaging
    feature_power: Tensor  # mean squared activation of the known region: the layer's own scale


def overlap_weights(queries: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """1 / number of query patches covering each position, gathered per query patch → ``[Q,1,3,3]``, so each
    position's gradient is the average over the patches covering it (the authors' CNNMRF code)."""
    counts = F.conv_transpose2d(queries[None, None].float(), torch.ones(1, 1, 3, 3, device=queries.device))[0]  # [1,h,w]
    return 1 / gather_patches(counts, rows, cols)


def find_matches(features: Tensor, hole: Tensor, stride: int, chunk_size: int, dtype: torch.dtype,
                 overlap_average: bool = False) -> Matches | None:
    """Nearest known patch of every 3×3 patch of ``features`` ``[1,C,h,w]`` that overlaps ``hole`` ``[1,1,h,w]``;
    ``stride`` subsamples the candidates. None when there is no query or no candidate."""
    if min(features.shape[-2:]) < 3:
        return None
    queries, candidates = patch_grid(hole)
    if stride > 1:
        on_grid = torch.zeros_like(candidates)
        on_grid[::stride, ::stride] = True
        candidates = candidates & on_grid
    if not queries.any() or not candidates.any():
        return None
    q_rows, q_cols = queries.nonzero(as_tuple=True)
    c_rows, c_cols = candidates.nonzero(as_tuple=True)
    with torch.no_grad():
        known = features.detach()[0]  # [C,h,w]
        top, left, bottom, right = q_rows.min(), q_cols.min(), q_rows.max(), q_cols.max()
        region = known[None, :, top : bottom + 3, left : right + 3]  # patches of every query position
        best = nearest_patches(region, gather_patches(known, c_rows, c_cols), chunk_size, dtype)
        match = best[q_rows - top, q_cols - left]  # [Q]
        targets = gather_patches(known, c_rows[match], c_cols[match])  # [Q,C,3,3]
        weights = overlap_weights(queries, q_rows, q_cols) if overlap_average else torch.ones_like(targets[:, :1])
        feature_power = known.pow(2).mul(~hole[0].bool()).sum() / ((~hole[0].bool()).sum() * known.shape[0]).clamp_min(1)
    return Matches(q_rows, q_cols, targets, weights, feature_power.clamp_min(1e-12))


def texture_energy(features: Tensor, matches: Matches | None, normalize: bool = False) -> Tensor:
    """Σ_q w·‖patch_q − nearest_q‖² for one layer ``[1,C,h,w]`` (the gradient flows through the query patches);
    ``normalize``: divided by Σw·C·(mean squared known activation), a relative error independent of the image
    size, the number of patches and the backbone's activation scale."""
    if matches is None:
        return features.new_zeros(())
    difference = (gather_patches(features[0], matches.rows, matches.cols) - matches.targets).pow(2)  # [Q,C,3,3]
    energy = (difference * matches.weights).sum()
    if normalize:
        energy = energy / (matches.weights.sum() * features.shape[1] * matches.feature_power)
    return energy
