"""Nearest-neighbour search over a candidate bank: exhaustive (one convolution per chunk of candidates),
randomized (PatchMatch's propagation + random search, Barnes et al. 2009), both by normalized cross-correlation,
or diverse (the top few by correlation, each pick penalized by the candidate's earlier picks).

A search maps the 3×3 patches of a feature region to candidate indices. The randomized one keeps its
nearest-neighbour field between calls (the bank is per level and layer), so each matching of a level continues
from the last one: its cost is ~(4 + log₂ size) patch products per query and iteration, whatever the number of
candidates, so every known patch (stride 1) can be a candidate at any photo size.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from neuralpatch.synthesis.matching import CandidateBank, Penalty, Search, nearest_patches
from neuralpatch.synthesis.patches import Wanted, gather_patches


def distance_penalty(bank: CandidateBank, rows: Tensor, cols: Tensor, weight: float) -> Penalty:
    """(start, end) → ``[end−start, Q]``: ``weight`` × the distance from candidates start:end of ``bank`` to the
    queries at (``rows``, ``cols``) ``[Q]`` of the level's feature grid, over the grid's diagonal (so ``weight`` is
    the correlation a candidate across the whole level loses against one beside the query)."""
    scale = weight / math.hypot(*bank.grid)

    def penalty(start: int, end: int) -> Tensor:
        rows_apart, cols_apart = bank.rows[start:end, None] - rows, bank.cols[start:end, None] - cols  # [p,Q]
        return scale * torch.hypot(rows_apart.float(), cols_apart.float())
    return penalty


class ExhaustiveSearch:
    """Every candidate scored against every query (``nearest_patches``): the exact nearest neighbours; with
    ``locality``, of the correlation less ``distance_penalty``."""

    def __init__(self, chunk_size: int = 1024, locality: float | None = None):
        self.chunk_size, self.locality = chunk_size, locality

    def __call__(self, region: Tensor, origin: tuple[int, int], bank: CandidateBank, wanted: Wanted) -> Tensor:
        penalty = None
        if self.locality:
            penalty = distance_penalty(bank, wanted.rows + origin[0], wanted.cols + origin[1], self.locality)
        return nearest_patches(bank.searched(region), bank.filters, self.chunk_size, bank.bias, wanted, penalty)


class PatchMatchSearch:
    """Propagation from the four neighbours (their match shifted by one cell) and random search around the
    current match at halving radii (``samples`` at each), ``iterations`` rounds per call (``first_iterations``
    when the field is new: it starts from the exact nearest neighbours among an even subsample of at most
    ``seed_candidates`` candidates). Candidates are those of the bank (on its grid, wholly known)."""

    def __init__(self, iterations: int = 2, first_iterations: int = 4, samples: int = 4, seed_candidates: int = 1024,
                 chunk_size: int = 1024, seed: int = 0):
        self.iterations, self.first_iterations, self.samples, self.seed = iterations, first_iterations, samples, seed
        self.seed_candidates, self.chunk_size = seed_candidates, chunk_size

    def __call__(self, region: Tensor, origin: tuple[int, int], bank: CandidateBank, wanted: Wanted) -> Tensor:
        """The field of every position of ``region`` (propagation needs them all, ``wanted`` or not)."""
        height, width = region.shape[-2] - 2, region.shape[-1] - 2  # query positions
        region = bank.searched(region)
        queries = F.unfold(region.float(), 3)[0].T  # [L,C·9], position-major as the region's grid
        filters = bank.filters.flatten(1)  # [P,C·9]
        bias = torch.zeros(len(filters), device=region.device) if bank.bias is None else bank.bias  # [P]
        state = bank.search_state
        calls = 0 if state is None else state["calls"] + 1  # a new random stream at each matching
        generator = torch.Generator(device="cpu").manual_seed(self.seed + calls)
        if state is None or state["origin"] != origin or state["field"].shape != (height, width):
            step = -(-len(filters) // self.seed_candidates)  # ceil
            field = nearest_patches(region, bank.filters[::step], self.chunk_size, bias[::step]) * step
            rounds = self.first_iterations
        else:
            field, rounds = state["field"], self.iterations
        score = self._score(queries, filters, bias, field.flatten()).view(height, width)
        rows, cols = bank.rows, bank.cols  # [P] each candidate's place in the level's grid
        for _ in range(rounds):
            for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):  # the neighbour at (-dr,-dc)'s match, shifted
                neighbour = F.pad(field[None, None].float(), (max(dc, 0), max(-dc, 0), max(dr, 0), max(-dr, 0)),
                                  mode="replicate")[0, 0].long()  # exact below 2²⁴ candidates
                neighbour = neighbour[max(-dr, 0): max(-dr, 0) + height, max(-dc, 0): max(-dc, 0) + width]
                field, score = self._try(queries, filters, bias, field, score,
                                         bank.index_at(rows[neighbour] + dr, cols[neighbour] + dc))
            radius = max(bank.grid)
            while radius >= 1:
                for _ in range(self.samples):
                    jitter = (torch.randint(-radius, radius + 1, (2, height, width), generator=generator)
                              .to(region.device))
                    field, score = self._try(queries, filters, bias, field, score,
                                             bank.index_at(rows[field] + jitter[0], cols[field] + jitter[1]))
                radius //= 2
        bank.search_state = {"origin": origin, "field": field, "calls": calls}
        return field

    @staticmethod
    def _score(queries: Tensor, filters: Tensor, bias: Tensor, index: Tensor) -> Tensor:
        """Each query's score against its candidate ``index``, as ``nearest_patches`` scores it."""
        return (queries * filters[index].float()).sum(1) + bias[index]

    def _try(self, queries: Tensor, filters: Tensor, bias: Tensor, field: Tensor, score: Tensor, proposal: Tensor,
             ) -> tuple[Tensor, Tensor]:
        """Keep ``proposal`` (candidate indices, -1 = none) where it scores better."""
        valid = proposal >= 0
        candidate = self._score(queries, filters, bias, proposal.clamp_min(0).flatten()).view_as(score)
        better = valid & (candidate > score)
        return torch.where(better, proposal, field), torch.where(better, candidate, score)


class DiverseSearch:
    """The ``top`` candidates of each wanted query by normalized cross-correlation (exact), then one of them per
    query, the queries taken in a seeded random order, each candidate's correlation lowered by ``penalty`` for
    every earlier pick of it (an occurrence penalty, as Kaspar et al. 2015): near-identical queries (a smooth
    fill) no longer all take the one best candidate; with ``locality``, the correlation less ``distance_penalty``.
    Normalized filters (ncc) only; other positions get 0."""

    def __init__(self, penalty: float, top: int = 16, chunk_size: int = 1024, seed: int = 0,
                 locality: float | None = None):
        self.penalty, self.top, self.chunk_size, self.seed = penalty, top, chunk_size, seed
        self.locality = locality

    def __call__(self, region: Tensor, origin: tuple[int, int], bank: CandidateBank, wanted: Wanted) -> Tensor:
        rows, cols = wanted.rows, wanted.cols
        distance = distance_penalty(bank, rows + origin[0], cols + origin[1], self.locality) if self.locality else None
        queries = gather_patches(bank.searched(region)[0].float(), rows, cols).flatten(1)  # [Q,C·9]
        queries = (queries / queries.norm(dim=1, keepdim=True).clamp_min(1e-8)).to(bank.filters.dtype)
        scores, index = queries.new_empty(len(rows), 0, dtype=torch.float32), rows.new_empty(len(rows), 0)
        for start in range(0, len(bank.filters), self.chunk_size):  # the running top candidates, chunk by chunk
            chunk = bank.filters[start : start + self.chunk_size].flatten(1)  # [p,C·9]
            numbers = torch.arange(start, start + len(chunk), device=index.device).expand(len(rows), -1)  # [Q,p]
            chunk_scores = (queries @ chunk.T).float()  # [Q,p]
            if distance is not None:
                chunk_scores = chunk_scores - distance(start, start + len(chunk)).T
            scores = torch.cat([scores, chunk_scores], dim=1)  # [Q,k+p]
            scores, kept = scores.topk(min(self.top, scores.shape[1]), dim=1)
            index = torch.cat([index, numbers], dim=1).gather(1, kept)
        scores, index = scores.cpu().numpy(), index.cpu().numpy()  # [Q,top]
        picks, chosen = np.zeros(len(bank.filters)), np.empty(len(rows), dtype=np.int64)
        for query in np.random.default_rng(self.seed).permutation(len(rows)):
            candidates = index[query]
            chosen[query] = candidates[np.argmax(scores[query] - self.penalty * picks[candidates])]
            picks[chosen[query]] += 1
        field = torch.zeros(wanted.map.shape, dtype=torch.long, device=region.device)
        field[rows, cols] = torch.from_numpy(chosen).to(region.device)
        return field


def build_search(matcher: str, chunk_size: int) -> Search:
    """``synthesis.matcher`` → its search: ``exhaustive`` (exact) or ``patchmatch`` (randomized)."""
    return {"exhaustive": ExhaustiveSearch, "patchmatch": PatchMatchSearch}[matcher](chunk_size=chunk_size)

