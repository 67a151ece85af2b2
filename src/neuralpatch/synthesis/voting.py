"""Pixels from a nearest-neighbour field. Voting (the M-step of Wexler et al.'s completion): every query patch
of a feature layer votes, for the pixels it covers, the known pixels its nearest patch covers; each pixel takes
the weighted mean of its votes. A 3×3 patch of a stride-s layer covers a 3s×3s pixel block; the blocks overlap
at stride s and are weighted by a sin² window, whose three shifted copies sum to a constant, so a coherent field
reproduces its source exactly and block seams blend. Detail transfer: each cell takes the fine band (luminance,
and with ``chroma`` the colour too) of its match's centre cell alone (``copy_detail``), so incoherent matches do
not average the band away, cross-faded with its neighbours' only across the cell seams (``seam_window``); its
luminance may then be raised towards the band energy of the known pixels around the hole (``band_gain``)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from neuralpatch.synthesis.energy import gaussian_blur, opponent_matrix, to_opponent
from neuralpatch.synthesis.holes import dilate
from neuralpatch.synthesis.matching import Matches


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


def seam_window(stride: int, feather: int, device: torch.device) -> Tensor:
    """``[s+f]`` weights of a cell's s px grown by ``feather`` = f px across its seams: sin² up over the first f,
    1, cos² down over the last f; copies shifted by s sum to 1."""
    position = torch.arange(stride + feather, device=device, dtype=torch.float32) + 0.5  # [s+f]
    window = torch.ones_like(position)
    if feather:
        window[:feather] = torch.sin(math.pi * position[:feather] / (2 * feather)).pow(2)
        window[stride:] = torch.cos(math.pi * (position[stride:] - stride) / (2 * feather)).pow(2)
    return window


def seam_energy_gain(blend: Tensor, weights: Tensor, energy: Tensor, squared_weights: Tensor) -> Tensor:
    """``[1,1,h,w]``: the factor that gives ``blend`` ``[1,C,h,w]``, a cross-fade of zero-mean copies, the copies'
    own energy, from Σw, Σw·‖copy‖² and Σw² over the copies at each pixel (each ``[1,1,h,w]``). Where copies of
    mean energy m overlap with q = Σw²/(Σw)² and correlation ρ, the blend's energy is m·(q + ρ(1−q)): copies that
    agree (a coherent field, ρ = 1) keep it; independent ones lose it — at weights ½, ½ half of it — so a cell's
    middle would be stronger than its seams, a lattice at the cell period. ρ is estimated from the blend's energy
    over the pixels within a Gaussian of 1 px, and the blend scaled by 1/√(q + ρ(1−q)) (for ρ = 0:
    variance-preserving blending, Heitz & Neyret 2018)."""
    weights = weights.clamp_min(1e-12)
    mean_energy = energy / weights  # m
    blend_energy = blend.pow(2).sum(1, keepdim=True)
    overlap = squared_weights / weights.pow(2)  # q: 1 where one copy alone
    shared = gaussian_blur(blend_energy - overlap * mean_energy, 1.0)  # ρ·(1−q)·m, summed near each pixel
    possible = gaussian_blur((1 - overlap) * mean_energy, 1.0)
    correlation = (shared / possible.clamp_min(1e-12)).clamp(0, 1)
    return (overlap + correlation * (1 - overlap)).clamp_min(1e-12).rsqrt()


def centre_vote(source: Tensor, queries: tuple[Tensor, Tensor], sources: tuple[Tensor, Tensor], stride: int,
                size: tuple[int, int], feather: int = 0, keep_energy: bool = False) -> tuple[Tensor, Tensor]:
    """As ``vote``, but each query patch gives only its centre cell's s×s pixels, copied from its match's centre
    cell (no wider averaging, so a texture keeps its fine band), grown by ``feather`` px (≤ s) across the cell's
    seams and cross-faded there with its neighbours' copies (``seam_window``; 0: hard seams). ``keep_energy``, for
    a zero-mean ``source`` (a band): the cross-fade keeps the copies' energy (``seam_energy_gain``)."""
    if not 0 <= feather <= stride:
        raise ValueError(f"feather must be 0 to the stride ({stride}), got {feather}")
    channels, side, before = source.shape[1], stride + feather, feather // 2
    padded = F.pad(source, (before, feather - before, before, feather - before))
    blocks = F.unfold(padded, side, stride=stride)[0]  # [C·side², cells of the source]: cell pixels ± the feather
    grid_width = source.shape[-1] // stride
    ramp = seam_window(stride, feather, source.device)
    window = (ramp[:, None] * ramp[None, :]).flatten()  # [side²]
    copied = blocks[:, (sources[0] + 1) * grid_width + sources[1] + 1].view(channels, side * side, -1)
    height, width = size
    region_rows, region_cols = height // stride, width // stride
    rows, cols = queries[0] + 1, queries[1] + 1
    inside = (rows < region_rows) & (cols < region_cols)
    count = int(inside.sum())
    copied, window = copied[:, :, inside], window[:, None].expand(-1, count)  # [C,side²,Q'], [side²,Q']
    # per pixel of each copy: w·copy, w, then (for keep_energy) w·‖copy‖², w²
    terms = [copied * window, window[None]] + ([copied.pow(2).sum(0, keepdim=True) * window, window[None].pow(2)]
                                               if keep_energy else [])
    columns = source.new_zeros(sum(len(term) for term in terms) * side * side, region_rows * region_cols)
    columns[:, rows[inside] * region_cols + cols[inside]] = torch.cat([term.flatten(0, 1) for term in terms])
    grown = (region_rows * stride + feather, region_cols * stride + feather)
    sums = F.fold(columns[None], grown, side, stride=stride)  # [1,C+1(+2),h'+f,w'+f]
    sums = sums[..., before : before + region_rows * stride, before : before + region_cols * stride]
    sums = F.pad(sums, (0, width - sums.shape[-1], 0, height - sums.shape[-2]))
    weights = sums[:, channels : channels + 1]
    voted = sums[:, :channels] / weights.clamp_min(1e-12) * (weights > 0)
    if keep_energy:
        voted = voted * seam_energy_gain(voted, weights, sums[:, channels + 1 : channels + 2], sums[:, channels + 2 :])
    return voted, weights


def fine_band(image: Tensor, sigma: float, chroma: bool = False) -> Tensor:
    """The luminance ``[1,1,h,w]`` (with ``chroma``: luminance and chroma, ``[1,3,h,w]``, ``to_opponent``'s axes)
    of ``image`` ``[1,3,h,w]`` finer than a Gaussian of ``sigma`` px."""
    opponent = to_opponent(image)[:, : 3 if chroma else 1]
    return opponent - gaussian_blur(opponent, sigma)


def transfer_detail(fill: Tensor, band: Tensor, weights: Tensor, hole: Tensor, sigma: float) -> Tensor:
    """``fill`` ``[1,3,h,w]`` whose band finer than a Gaussian of ``sigma`` px is replaced by ``band`` in ``hole``
    ``[1,1,h,w]`` where ``weights`` > 0: ``[1,1,h,w]`` the luminance's, ``[1,3,h,w]`` also the chroma's (the
    ``fine_band`` axes). The fill's own fine band (the texture term's grain) gives way to the photo's real patches'."""
    axes = band.shape[1]
    change = torch.where((weights > 0) & hole.bool(), band - fine_band(fill, sigma, axes == 3), torch.zeros_like(band))
    opponent = opponent_matrix(fill.device, fill.dtype)[:axes]
    return fill + torch.einsum("oc,nohw->nchw", opponent, change)  # back along the opponent axes


def surrounding_energy(band: Tensor, hole: Tensor, distance: int) -> Tensor:
    """Mean of ``band`` ``[1,1,h,w]`` squared over the pixels at least ``distance`` px from ``hole`` ``[1,1,h,w]``
    (0 when there are none)."""
    known = 1 - dilate(hole.float(), distance)  # [1,1,h,w]
    return (band.pow(2) * known).sum() / known.sum().clamp_min(1)


def band_gain(band: Tensor, copied: Tensor, reference: Tensor, limit: float) -> Tensor:
    """The factor, 1 to ``limit``, that brings the mean energy of ``band`` ``[1,1,h,w]`` over ``copied`` (bool,
    ``[1,1,h,w]``) up to ``reference`` (a mean energy): a band copied from smoother-than-average patches gets the
    strength of the photo around the hole; a band already as strong is left alone."""
    if not copied.any():
        return band.new_ones(())
    return (reference / band.pow(2)[copied].mean().clamp_min(1e-12)).sqrt().clamp(1, limit)


def copy_detail(fill: Tensor, hole: Tensor, source: Tensor, matches_of: Callable[[Tensor], Matches | None],
                stride: int, sigma: float, rounds: int, gain: float | None = None,
                box: tuple[int, int, int, int] | None = None, around: tuple[int, int, int, int] | None = None,
                feather: int = 0, chroma: bool = False) -> Tensor:
    """``fill`` ``[1,3,h,w]`` (the crop ``box`` of ``source``; default all of it) with its fine luminance band
    (with ``chroma``, the chroma's too: ``transfer_detail``) copied cell by cell (``centre_vote``) from ``source``
    ``[1,3,H,W]`` by the nearest patches ``matches_of`` finds at a stride-s layer (cross-faded ``feather`` px across
    the cells' seams, the luminance keeping the copies' energy there); each of ``rounds`` rounds matches the previous
    round's result (a sharper fill matches sharper patches). With ``gain``, the copied luminance band is amplified
    up to ``gain`` times towards the band energy of the known pixels of ``around`` (a box of ``source`` within
    ``box``; default ``box``: ``band_gain``); the chroma's is copied as it is. ``source`` must hold no hole content
    but the fill; its band is cut before copying, so no cell seam enters it."""
    band_source = fine_band(source, sigma, chroma)  # [1,1|3,H,W]
    if gain:
        box = box or (0, source.shape[-2], 0, source.shape[-1])
        top, bottom, left, right = around or box
        near = hole[..., top - box[0] : bottom - box[0], left - box[2] : right - box[2]]  # the hole within around
        # the known pixels whose band the fill does not reach (3σ of the Gaussian)
        reach = max(stride, math.ceil(3 * sigma))
        reference = surrounding_energy(band_source[:, :1, top:bottom, left:right], near, reach)
    for _ in range(rounds):
        matches = matches_of(fill)
        if matches is None:
            break
        size = tuple(fill.shape[-2:])
        band, weights = centre_vote(band_source[:, :1], matches.queries, matches.sources, stride, size, feather,
                                    keep_energy=True)  # [1,1,h,w] the luminance's
        if gain:
            band = band * band_gain(band, (weights > 0) & hole.bool(), reference, gain)
        if chroma:
            band = torch.cat([band, centre_vote(band_source[:, 1:], matches.queries, matches.sources, stride, size,
                                                feather)[0]], 1)  # [1,3,h,w]
        fill = transfer_detail(fill, band, weights, hole, sigma).clamp(0, 1)
    return fill
