"""Pixel-space voting from a nearest-neighbour field (the M-step of Wexler et al.'s completion): every query
patch of a feature layer votes, for the pixels it covers, the known pixels its nearest patch covers; each pixel
takes the weighted mean of its votes. A 3×3 patch of a stride-s layer covers a 3s×3s pixel block; the blocks
overlap at stride s and are weighted by a sin² window, whose three shifted copies sum to a constant, so a
coherent field reproduces its source exactly and block seams blend."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def block_window(stride: int, device: torch.device) -> Tensor:
    """``[(3s)²]`` separable sin² weights of a 3s×3s block, > 0 everywhere."""
    side = 3 * stride
    ramp = torch.sin(math.pi * (torch.arange(side, device=device) + 0.5) / side).pow(2)  # [3s]
    return (ramp[:, None] * ramp[None, :]).flatten()


def vote(source: Tensor, queries: tuple[Tensor, Tensor], sources: tuple[Tensor, Tensor], stride: int,
         size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """The voted image ``[1,3,*size]`` and its vote weights ``[1,1,*size]`` (0 where no patch voted).

    ``queries``: top-left corners (feature cells) of the query patches in the voted region's own grid (cell (0, 0)
    = its pixel (0, 0)); ``sources``: those of their nearest patches in ``source`` ``[1,3,H,W]``'s grid."""
    side = 3 * stride
    window = block_window(stride, source.device)  # [(3s)²]
    height, width = size
    # every block of the source at the cells' stride, then the matched ones: [3·(3s)², Q]
    blocks = F.unfold(source, side, stride=stride)[0]
    grid_width = (source.shape[-1] - side) // stride + 1
    matched = blocks[:, sources[0] * grid_width + sources[1]].view(3, side * side, -1) * window[None, :, None]
    # fold them into the region: blocks of the region's grid, the query ones filled
    region_rows, region_cols = (height - side) // stride + 1, (width - side) // stride + 1
    rows, cols = queries
    inside = (rows >= 0) & (rows < region_rows) & (cols >= 0) & (cols < region_cols)
    columns = source.new_zeros(4 * side * side, region_rows * region_cols)
    positions = rows[inside] * region_cols + cols[inside]
    columns[:, positions] = torch.cat([matched[:, :, inside].flatten(0, 1),
                                       window[:, None].expand(-1, int(inside.sum()))])
    sums = F.fold(columns[None], (height, width), side, stride=stride)  # [1,4,h,w]
    weights = sums[:, 3:]
    return sums[:, :3] / weights.clamp_min(1e-12), weights
