"""Nearest-neighbour patch matching and the texture term (Yang et al. 2017, eq. 3).

Each 3×3 feature patch overlapping the hole is matched to the known patch of highest normalized
cross-correlation (the paper's ``ncc``), or of least squared distance (``l2``: a smooth patch then matches a
smooth one, not a textured one pointing the same way): one convolution of the feature map with the
L2-normalized (or raw) candidate patches, plus a per-candidate bias (0, or −½‖c‖²), then a max.
The candidates are gathered and normalized once per pyramid level (``candidate_bank``). With
``match_channels`` the search compares patches in the level's principal feature directions only (the texture
term still pulls towards the whole matched patch): a C/k-times cheaper convolution.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from neuralpatch.synthesis.patches import QueryPatches, Wanted, gather_patches, patch_grid

Penalty = Callable[[int, int], Tensor]  # (first, end candidate) → [end−first, Q] subtracted from their scores


def nearest_patches(region: Tensor, filters: Tensor, chunk_size: int, bias: Tensor | None = None,
                    wanted: Wanted | None = None, penalty: Penalty | None = None) -> Tensor:
    """Index of the best-matching candidate for every 3×3 patch of ``region`` ``[1,C,h,w]`` (``wanted``: only
    those, the others 0): the patches' products with the candidates ``filters`` ``[P,C,3,3]`` (+ ``bias`` ``[P]``,
    − ``penalty`` of the wanted queries, which it needs), then a max.
    L2-normalized filters and no bias: normalized cross-correlation (the query's own norm does not change the
    argmax); raw filters and bias −½‖c‖²: least squared distance. Chunked over candidates so memory stays
    ``chunk_size`` × the patches. Returns ``[h-2,w-2]`` indices into ``filters``."""
    height, width = region.shape[-2:]
    region = region.to(filters.dtype)
    whole = penalty is None and (wanted is None or wanted.every)
    if whole:  # every position: one convolution per chunk
        scores_of = lambda chunk: F.conv2d(region, chunk)[0].flatten(1)  # [p,L]
    else:  # only the wanted positions (a free-form hole's bounding box is mostly known): one product per chunk
        patches = gather_patches(region[0], wanted.rows, wanted.cols).flatten(1)  # [Q,C·9]
        scores_of = lambda chunk: (patches @ chunk.flatten(1).T).T  # [p,Q]
    best_score, best_index = None, None
    for start in range(0, filters.shape[0], chunk_size):
        scores = scores_of(filters[start : start + chunk_size]).float()
        if bias is not None:
            scores = scores + bias[start : start + chunk_size, None]
        if penalty is not None:
            scores = scores - penalty(start, start + len(scores))
        score, index = scores.max(dim=0)
        if best_score is None:
            best_score, best_index = score, index
        else:
            better = score > best_score
            best_score = torch.where(better, score, best_score)
            best_index = torch.where(better, index + start, best_index)
    if whole:
        return best_index.view(height - 2, width - 2)
    field = torch.zeros(height - 2, width - 2, dtype=torch.long, device=region.device)
    field[wanted.rows, wanted.cols] = best_index
    return field


@dataclass
class CandidateBank:
    """The known 3×3 patches of one layer, gathered and normalized once per pyramid level; those the fill can
    change are refreshed from the current features (``refresh``)."""

    rows: Tensor  # [P] top-left corners in the level's feature map
    cols: Tensor  # [P]
    taps: Tensor  # [P,9,C] the patches, channels last: the texture term sums them tap by tap
    tap_power: Tensor  # [P,9] squared norm of each tap
    filters: Tensor  # [P,C,3,3] L2-normalized (ncc) or raw (l2), in the matching dtype
    feature_power: Tensor  # mean squared activation of the known region: the layer's own scale
    index_map: Tensor  # [h-2,w-2] the candidate index at each top-left corner, -1 where there is none
    stride: int  # between candidates
    bias: Tensor | None = None  # [P] float32 −½‖c‖² (l2); None: normalized cross-correlation
    search_state: dict | None = None  # what a randomized search keeps between matchings of the level
    projection: Tensor | None = None  # [k,C] the search's feature directions (match_channels); None: all C

    def searched(self, features: Tensor) -> Tensor:
        """``features`` ``[N,C,h,w]`` (or patches ``[P,C,3,3]``) as the search compares them."""
        return projected(features, self.projection)

    @property
    def patches(self) -> Tensor:
        """``[P,C,3,3]`` (a view of ``taps``)."""
        return self.taps.transpose(1, 2).unflatten(2, (3, 3))

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.index_map.shape)

    def index_at(self, rows: Tensor, cols: Tensor) -> Tensor:
        """Candidate index at top-left corners (rows, cols), snapped to the candidates' grid; -1 where none."""
        rows = torch.round(rows / self.stride).long() * self.stride
        cols = torch.round(cols / self.stride).long() * self.stride
        inside = (rows >= 0) & (rows < self.grid[0]) & (cols >= 0) & (cols < self.grid[1])
        index = self.index_map[rows.clamp(0, self.grid[0] - 1), cols.clamp(0, self.grid[1] - 1)]
        return torch.where(inside, index, torch.full_like(index, -1))

    def refresh(self, features: Tensor, index: Tensor, rows: Tensor, cols: Tensor) -> None:
        """Candidates ``index`` become the patches of ``features`` ``[1,C,h,w]`` at (rows, cols)."""
        patches = gather_patches(features.detach()[0], rows, cols)
        self.taps[index], self.tap_power[index] = as_taps(patches)
        self.filters[index], bias = as_filters(self.searched(patches), self.filters.dtype, self.bias is not None)
        if self.bias is not None:
            self.bias[index] = bias

    def computed_in(self, box: tuple[int, int, int, int], stride: int, context: int, cells: tuple[int, int],
                    size: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor]:
        """The candidates whose features a forward pass of the crop ``box`` (top, bottom, left, right) of a
        ``size`` image computes exactly, given the network's ``stride`` and ``context`` (px a cell sees beyond
        its block) and the image's ``cells``: their receptive field lies in the crop or is cut by the image's
        edge as in the whole image. Returns (index, rows, cols in the crop's feature map)."""
        top, bottom, left, right = box
        edge = math.ceil(context / stride)  # cells next to a cut that see beyond it
        first_row, first_col = top // stride + (edge if top > 0 else 0), left // stride + (edge if left > 0 else 0)
        end_row = bottom // stride - edge if bottom < size[0] else cells[0]
        end_col = right // stride - edge if right < size[1] else cells[1]
        inside = ((self.rows >= first_row) & (self.rows + 3 <= end_row)
                  & (self.cols >= first_col) & (self.cols + 3 <= end_col))
        index = inside.nonzero()[:, 0]
        return index, self.rows[index] - top // stride, self.cols[index] - left // stride


def as_taps(patches: Tensor) -> tuple[Tensor, Tensor]:
    """``patches`` ``[P,C,3,3]`` → (taps ``[P,9,C]``, their squared norms ``[P,9]``)."""
    taps = patches.flatten(2).transpose(1, 2).contiguous()
    return taps, taps.pow(2).sum(2)


def as_filters(patches: Tensor, dtype: torch.dtype, squared_distance: bool) -> tuple[Tensor, Tensor | None]:
    """(filters, bias) of candidate ``patches`` ``[P,C,3,3]``: L2-normalized and no bias (normalized
    cross-correlation), or raw with bias −½‖c‖² (least squared distance)."""
    norms = patches.flatten(1).norm(dim=1)  # [P]
    if squared_distance:
        return patches.to(dtype), -0.5 * norms.pow(2)
    return (patches / norms.clamp_min(1e-8).view(-1, 1, 1, 1)).to(dtype), None


def projected(features: Tensor, projection: Tensor | None) -> Tensor:
    """``features`` ``[N,C,h,w]`` on the directions ``projection`` ``[k,C]`` → ``[N,k,h,w]``; None: unchanged."""
    if projection is None:
        return features
    return torch.einsum("kc,nchw->nkhw", projection.to(features.dtype), features)


def principal_directions(known: Tensor, outside: Tensor, channels: int) -> Tensor:
    """``[k,C]``: the ``channels`` directions of most energy (uncentred second moment, so dot products and norms are
    kept as well as k directions can) of the features ``known`` ``[C,h,w]`` where ``outside`` ``[h,w]``."""
    samples = known[:, outside].float()  # [C,n]
    moments = samples @ samples.T / max(samples.shape[1], 1)  # [C,C]
    _, vectors = torch.linalg.eigh(moments)  # ascending eigenvalues
    return vectors[:, -channels:].flip(1).T.contiguous()


def capped_stride(candidates: Tensor, stride: int, max_candidates: int | None) -> int:
    """The least stride from ``stride`` up at which at most ``max_candidates`` (None: any number) of the
    ``candidates`` ``[h,w]`` (bool) lie on the grid."""
    while max_candidates is not None and int(candidates[::stride, ::stride].sum()) > max_candidates:
        stride += 1
    return stride


def candidate_bank(features: Tensor, hole: Tensor, stride: int, dtype: torch.dtype,
                   max_candidates: int | None = None, distance: str = "ncc",
                   channels: int | None = None) -> CandidateBank | None:
    """Every ``stride``-th 3×3 patch of ``features`` ``[1,C,h,w]`` that lies wholly outside ``hole`` ``[1,1,h,w]``
    (bool), the stride raised until at most ``max_candidates`` remain; None when there is none. ``channels``
    (< C): the search compares patches in the known features' ``channels`` principal directions."""
    if min(features.shape[-2:]) < 3:
        return None
    candidates = patch_grid(hole)[1]
    stride = capped_stride(candidates, stride, max_candidates)
    on_grid = torch.zeros_like(candidates)
    on_grid[::stride, ::stride] = True
    rows, cols = (candidates & on_grid).nonzero(as_tuple=True)
    if len(rows) == 0:
        return None
    known = features.detach()[0]  # [C,h,w]
    patches = gather_patches(known, rows, cols)
    outside = ~hole[0]
    power = known.pow(2).mul(outside).sum() / (outside.sum() * known.shape[0]).clamp_min(1)
    index_map = torch.full(candidates.shape, -1, dtype=torch.long, device=known.device)
    index_map[rows, cols] = torch.arange(len(rows), device=known.device)
    projection = (principal_directions(known, outside[0], channels)
                  if channels is not None and channels < known.shape[0] else None)
    filters, bias = as_filters(projected(patches, projection), dtype, distance == "l2")
    return CandidateBank(rows, cols, *as_taps(patches), filters, power.clamp_min(1e-12), index_map, stride, bias,
                         projection=projection)


@dataclass
class Matches:
    """One layer's texture term for fixed nearest neighbours, gathered per feature position:
    Σ_q w‖P_q − T_q‖² = Σ_pos c·‖F(pos) − T̄(pos)‖² + spread, where c is the summed weight of the query patches
    covering the position, T̄ their targets' weighted mean there and ``spread`` the targets' weighted variance
    (which no feature map can remove). Elementwise over the feature map, so forward and backward are cheap."""

    coverage: Tensor  # [1,1,h,w] c: 0 outside the query patches
    mean_target: Tensor  # [1,C,h,w] T̄
    spread: Tensor  # []
    feature_power: Tensor  # the bank's
    queries: tuple[Tensor, Tensor]  # [Q] rows, cols: the query patches' top-left corners in the features
    sources: tuple[Tensor, Tensor]  # [Q] rows, cols: their nearest candidates' in the level's feature map


def overlap_weights(queries: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """1 / number of query patches covering each position, gathered per query patch and tap → ``[Q,9]``, so each
    position's gradient is the average over the patches covering it (the authors' CNNMRF code)."""
    counts = F.conv_transpose2d(queries[None, None].float(), torch.ones(1, 1, 3, 3, device=queries.device))[0]  # [1,h,w]
    return 1 / gather_patches(counts, rows, cols).flatten(1)


# (region, its top-left cell in the level's feature grid, bank, the query positions of its [h-2,w-2] patches)
#   → [h-2,w-2] candidate index
Search = Callable[[Tensor, tuple[int, int], CandidateBank, Wanted], Tensor]


def find_matches(features: Tensor, hole: Tensor | QueryPatches | None, bank: CandidateBank | None, search: Search,
                 overlap_average: bool = False, offset: tuple[int, int] = (0, 0)) -> Matches | None:
    """Nearest patch in ``bank`` of every 3×3 patch of ``features`` ``[1,C,h,w]`` that overlaps ``hole``
    ``[1,1,h,w]`` (bool; or its ``QueryPatches``), found by ``search`` (patchmatch.py); ``offset``: the features'
    top-left cell in the level's feature grid (a crop's). None when there is no query or no candidate."""
    if bank is None or min(features.shape[-2:]) < 3:
        return None
    queries = QueryPatches.of(hole) if isinstance(hole, Tensor) else hole
    if queries is None:
        return None
    rows, cols, wanted = queries.rows, queries.cols, queries.wanted
    top, left, bottom, right = queries.box
    height, width = features.shape[-2:]
    with torch.no_grad():
        region = features.detach()[..., top : bottom + 3, left : right + 3]  # patches of every query position
        match = search(region, (top + offset[0], left + offset[1]), bank, wanted)[wanted.rows, wanted.cols]  # [Q]
        targets = bank.taps.index_select(0, match)  # [Q,9,C]
        weights = overlap_weights(queries.grid, rows, cols) if overlap_average else targets.new_ones(len(rows), 9)

        # Σ over the query patches covering each position of the region, of (w, w·T), tap by tap, channels last
        region_height, region_width = region.shape[-2:]
        sums = targets.new_zeros(region_height * region_width, 1 + targets.shape[-1])  # [h·w,1+C]
        corners = wanted.rows * region_width + wanted.cols  # [Q]
        for tap in range(9):
            tap_weights = weights[:, tap, None]  # [Q,1]
            sums.index_add_(0, corners + (tap // 3) * region_width + tap % 3,
                            torch.cat([tap_weights, tap_weights * targets[:, tap]], dim=1))
        sums = F.pad(sums.view(region_height, region_width, -1).permute(2, 0, 1)[None],  # [1,1+C,h,w]
                     (left, width - region_width - left, top, height - region_height - top))
        coverage = sums[:, :1]
        mean_target = sums[:, 1:] / coverage.clamp_min(1e-12)
        spread = (weights * bank.tap_power.index_select(0, match)).sum() - (coverage * mean_target.pow(2)).sum()
    return Matches(coverage, mean_target, spread.clamp_min(0), bank.feature_power, (rows, cols),
                   (bank.rows[match], bank.cols[match]))


def texture_energy(features: Tensor, matches: Matches | None, normalize: bool = False) -> Tensor:
    """Σ_q w·‖patch_q − nearest_q‖² for one layer ``[1,C,h,w]`` (the gradient flows through the query patches);
    ``normalize``: divided by Σw·C·(mean squared known activation), a relative error independent of the image
    size, the number of patches and the backbone's activation scale."""
    if matches is None:
        return features.new_zeros(())
    energy = (matches.coverage * (features - matches.mean_target).pow(2)).sum() + matches.spread
    if normalize:
        energy = energy / (matches.coverage.sum() * features.shape[1] * matches.feature_power)
    return energy
