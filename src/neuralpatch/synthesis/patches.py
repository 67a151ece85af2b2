"""The 3×3 patches of a feature map: where they are (``patch_grid``), their values (``gather_patches``) and the
queries of a level's matching (``QueryPatches``, ``Wanted``), found once per level so that no matching reads a
value back from the device."""

from __future__ import annotations

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
    """3×3 patches of ``features`` ``[C,h,w]`` with top-left corners (rows, cols) → ``[n,C,3,3]``: rows of a
    channels-last copy picked by one ``index_select`` (on a CPU 6× faster than indexing the channels-first map)."""
    offsets = torch.arange(3, device=features.device)
    taps = (rows[:, None, None] + offsets[:, None]) * features.shape[-1] + cols[:, None, None] + offsets  # [n,3,3]
    pixels = features.flatten(1).T.contiguous()  # [h·w,C]
    return pixels.index_select(0, taps.flatten()).view(len(rows), 3, 3, -1).permute(0, 3, 1, 2)


@dataclass(frozen=True)
class Wanted:
    """The query positions of a region's patches: ``map`` ``[h-2,w-2]`` bool, its (``rows``, ``cols``) ``[Q]`` and
    whether it is ``every`` position, found once (a level's hole is fixed), so a search given them reads nothing
    back from the device: a GPU runs the matching without waiting for the host (and can capture it in a graph)."""

    map: Tensor
    rows: Tensor
    cols: Tensor
    every: bool

    @classmethod
    def of(cls, positions: Tensor) -> Wanted:
        rows, cols = positions.nonzero(as_tuple=True)
        return cls(positions, rows, cols, len(rows) == positions.numel())


@dataclass(frozen=True)
class QueryPatches:
    """The 3×3 patches of a feature map that overlap the hole: their top-left corners (``rows``, ``cols``) ``[Q]``
    (``grid`` ``[h-2,w-2]`` bool), the corners' bounding box (top, left, bottom, right) and the ``wanted`` positions
    of the box. A level's are fixed: found once (``of``) and given to every matching of the level."""

    grid: Tensor
    rows: Tensor
    cols: Tensor
    box: tuple[int, int, int, int]
    wanted: Wanted

    @classmethod
    def of(cls, hole: Tensor) -> QueryPatches | None:
        """Those of ``hole`` ``[1,1,h,w]`` (bool, on the feature map's cells); None when there is none."""
        if min(hole.shape[-2:]) < 3:
            return None
        grid = patch_grid(hole)[0]
        rows, cols = grid.nonzero(as_tuple=True)
        if len(rows) == 0:
            return None
        top, left, bottom, right = (int(v) for v in (rows.min(), cols.min(), rows.max(), cols.max()))
        box = grid[top : bottom + 1, left : right + 1]  # the same positions, row-major as grid's: no second search
        wanted = Wanted(box, rows - top, cols - left, len(rows) == box.numel())
        return cls(grid, rows, cols, (top, left, bottom, right), wanted)
