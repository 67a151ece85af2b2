"""Hole geometry for the synthesis: windows around the parts of a hole, a hole's width, feathering weights, and
resizing image and hole together without letting the hole's content leak into the known region."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def composite(prediction: Tensor, image: Tensor, mask: Tensor) -> Tensor:
    """Prediction inside the hole, the known image outside it."""
    return mask * prediction + (1 - mask) * image


def downsample(image: Tensor, hole: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Box-filtered (image, hole) at ``size``; a coarse pixel whose cell touches the hole is hole, so no hole
    content leaks into the known region."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image, hole > 0
    return F.interpolate(image, size, mode="area"), F.interpolate(hole.float(), size, mode="area") > 0


def resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    return image if tuple(image.shape[-2:]) == tuple(size) else F.interpolate(image, size, mode="bilinear", align_corners=False)


def hole_windows(hole: Tensor, context: float, min_margin: int = 32) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) boxes, one per group of nearby hole parts: each connected part's bounding box
    grown on every side by ``context`` × its longer side (at least ``min_margin`` px: the patches and the texture
    network's receptive field need that much known context), clipped to the image; overlapping boxes merged,
    so each box holds whole parts of the hole."""
    import cv2

    mask = hole[0, 0].cpu().numpy().astype(np.uint8)  # [H,W]
    height, width = mask.shape
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    boxes = []
    for left, top, box_width, box_height, _ in stats[1:count]:
        margin = max(min_margin, math.ceil(context * max(box_width, box_height)))
        boxes.append([max(0, top - margin), min(height, top + box_height + margin),
                      max(0, left - margin), min(width, left + box_width + margin)])
    while True:  # merge overlapping boxes until none overlap
        pair = next(((i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
                     if _overlap(boxes[i], boxes[j])), None)
        if pair is None:
            return sorted(tuple(int(v) for v in box) for box in boxes)
        a, b = boxes[pair[0]], boxes.pop(pair[1])
        boxes[pair[0]] = [min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])]


def edge_pads(hole: Tensor, window: tuple[int, int, int, int], padding: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) px by which to mirror ``window`` (top, bottom, left, right) of ``hole``
    ``[1,1,H,W]`` out at the photo's edges: ``padding`` on each side where the window's hole comes within
    ``padding`` px of the photo's edge, 0 elsewhere; at most the window's side − 1 (a reflection's limit)."""
    top, bottom, left, right = window
    height, width = hole.shape[-2:]
    first_row, last_row, first_col, last_col = hole_bounds(hole[..., top:bottom, left:right])
    near = (left + first_col < padding, left + last_col >= width - padding,
            top + first_row < padding, top + last_row >= height - padding)
    sides = (right - left, right - left, bottom - top, bottom - top)
    return tuple(min(padding, side - 1) if close else 0 for close, side in zip(near, sides))


def _overlap(a: list[int], b: list[int]) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def dilate(mask: Tensor, radius: int) -> Tensor:
    """``mask`` ``[N,1,h,w]`` (0/1, float) grown by ``radius`` px (a (2r+1)² square): 1 within r px of a 1."""
    return F.max_pool2d(mask, 2 * radius + 1, stride=1, padding=radius)


def erode(mask: Tensor, radius: int) -> Tensor:
    """``mask`` ``[N,1,h,w]`` (0/1, float) shrunk by ``radius`` px: 1 where every pixel within r px is 1."""
    return 1 - dilate(1 - mask, radius)


def depth(hole: Tensor) -> Tensor:
    """``[1,1,h,w]``: each pixel's distance in px to the nearest known pixel of ``hole`` ``[1,1,h,w]`` (0 outside)."""
    import cv2

    distance = cv2.distanceTransform(hole[0, 0].cpu().numpy().astype(np.uint8), cv2.DIST_L2, 3)  # [h,w]
    return torch.from_numpy(distance).to(hole.device)[None, None]


def hole_width(hole: Tensor) -> float:
    """Width in px of the widest part of ``hole`` ``[1,1,h,w]``: twice the largest distance to a known pixel."""
    return 2 * float(depth(hole).max())


def hole_bounds(hole: Tensor) -> tuple[int, int, int, int]:
    """(first row, last row, first column, last column) of ``hole`` ``[1,1,h,w]`` (not empty), inclusive."""
    rows, cols = hole[0, 0].any(1).nonzero()[:, 0], hole[0, 0].any(0).nonzero()[:, 0]
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def crop_box(hole: Tensor, margin: int, stride: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right): the bounding box of ``hole`` ``[1,1,h,w]`` rounded out to the ``stride``
    grid, then grown by ``margin`` px (rounded up to the grid) and clipped to the image."""
    height, width = hole.shape[-2:]
    first_row, last_row, first_col, last_col = hole_bounds(hole)
    grown = math.ceil(margin / stride) * stride

    def span(first: int, last: int, size: int) -> tuple[int, int]:
        return max(0, first // stride * stride - grown), min(size, (last // stride + 1) * stride + grown)

    return *span(first_row, last_row, height), *span(first_col, last_col, width)


def hole_cells(hole: Tensor, stride: int, shape: tuple[int, int]) -> Tensor:
    """``[1,1,*shape]`` bool: the feature cells (``stride`` px blocks from the top-left) that touch ``hole``
    ``[1,1,h,w]``; pixels past the last cell (a network that floors its sizes) count for the last one."""
    cells = F.max_pool2d(hole.float(), stride, stride, ceil_mode=True) > 0  # [1,1,⌈h/s⌉,⌈w/s⌉]
    rows, cols = shape
    cells[..., rows - 1, :] = cells[..., rows - 1 :, :].any(-2)
    cells[..., :, cols - 1] = cells[..., :, cols - 1 :].any(-1)
    return cells[..., :rows, :cols]


def feather_weights(hole: Tensor, width: int) -> Tensor:
    """1 deep inside the hole, ramping to 1/(width+1) at its edge over ``width`` px, 0 outside."""
    if width <= 0:
        return hole.float()
    depth, inside = torch.zeros_like(hole, dtype=torch.float32), hole.float()
    for _ in range(width + 1):
        depth += inside
        inside = erode(inside, 1)
    return depth.clamp(max=width + 1) / (width + 1)


Box = tuple[int, int, int, int]  # (top, bottom, left, right) px


def feature_parts(hole: Tensor, stride: int, context: int, blocks: int = 64) -> list[tuple[Box, Box]]:
    """Where to run the texture network on a level's crop ``hole`` ``[1,1,h,w]`` part by part: (box, inner) pairs
    on the ``stride`` grid. Each box is its inner box grown by ``context`` px (rounded up to the grid, clipped to
    the crop), so its features over the inner box are the whole crop's; the inner boxes cover every pixel within
    ``context`` px of the hole, where the fill changes the features. Found by guillotine cuts on a grid of at most
    ``blocks``² cells while a cut saves ≥ 5 % of its box's pixels; [] where the boxes would not save ≥ 10 % of the
    crop's (one compact hole)."""
    height, width = hole.shape[-2:]
    cell = stride * math.ceil(max(height, width) / (blocks * stride))  # px, a multiple of the stride
    halo = math.ceil(context / stride) * stride
    changed = F.max_pool2d(dilate(hole.float(), context), cell, cell, ceil_mode=True)[0, 0] > 0  # [⌈h/c⌉,⌈w/c⌉]
    need = changed.cpu().numpy()

    def pixels(cells: Box) -> Box:  # inner box in px
        return cells[0] * cell, min(height, cells[1] * cell), cells[2] * cell, min(width, cells[3] * cell)

    def grown(inner: Box) -> Box:
        top, bottom, left, right = inner
        return max(0, top - halo), min(height, bottom + halo), max(0, left - halo), min(width, right + halo)

    def cost(cells: Box) -> int:
        top, bottom, left, right = grown(pixels(cells))
        return (bottom - top) * (right - left)

    def shrink(top: int, bottom: int, left: int, right: int) -> Box | None:  # the bounding cells of need in it
        rows, cols = need[top:bottom, left:right].any(1).nonzero()[0], need[top:bottom, left:right].any(0).nonzero()[0]
        return None if len(rows) == 0 else (top + int(rows[0]), top + int(rows[-1]) + 1, left + int(cols[0]),
                                            left + int(cols[-1]) + 1)

    def split(cells: Box) -> list[Box]:
        top, bottom, left, right = cells
        halves = [(shrink(top, cut, left, right), shrink(cut, bottom, left, right)) for cut in range(top + 1, bottom)]
        halves += [(shrink(top, bottom, left, cut), shrink(top, bottom, cut, right)) for cut in range(left + 1, right)]
        halves = [pair for pair in halves if None not in pair]
        best = min(halves, key=lambda pair: cost(pair[0]) + cost(pair[1]), default=None)
        if best is None or cost(best[0]) + cost(best[1]) > 0.95 * cost(cells):
            return [cells]
        return split(best[0]) + split(best[1])

    whole = shrink(0, need.shape[0], 0, need.shape[1])
    parts = split(whole) if whole is not None else []
    if sum(cost(cells) for cells in parts) > 0.9 * height * width:
        return []
    return [(grown(pixels(cells)), pixels(cells)) for cells in parts]
