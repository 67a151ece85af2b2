"""Randomized and diverse nearest-neighbour search (PatchMatch over features, occurrence penalty) and pixel-space
voting."""

import pytest
import torch
import torch.nn.functional as F

from neuralpatch.synthesis.matching import candidate_bank, capped_stride, find_matches
from neuralpatch.synthesis.patches import gather_patches
from neuralpatch.synthesis.patchmatch import DiverseSearch, ExhaustiveSearch, PatchMatchSearch, build_search
from neuralpatch.synthesis.synthesizer import Synthesizer
from neuralpatch.synthesis.texture import random_vgg19
from neuralpatch.synthesis.voting import block_window, vote


def features_with_texture(seed: int = 0, channels: int = 32, side: int = 48) -> torch.Tensor:
    """Feature-like maps ``[1,C,side,side]``: smooth random fields plus a periodic pattern, so that patches
    have near but not exact twins."""
    generator = torch.Generator().manual_seed(seed)
    smooth = F.avg_pool2d(torch.randn(1, channels, side + 4, side + 4, generator=generator), 5, 1)
    grid = torch.arange(side, dtype=torch.float32)
    periodic = torch.sin(grid[:, None] * 0.9)[None, None] * torch.cos(grid[None, :] * 0.7)[None, None]
    return smooth + 0.5 * periodic * torch.randn(1, channels, 1, 1, generator=generator)


def correlation(features: torch.Tensor, matches) -> torch.Tensor:
    """Normalized cross-correlation of each query patch with its match → ``[Q]``."""
    query = gather_patches(features[0], *matches.queries).flatten(1)
    source = gather_patches(features[0], *matches.sources).flatten(1)
    return (query * source).sum(1) / (query.norm(dim=1) * source.norm(dim=1))


@pytest.mark.parametrize("seed", [0, 1])
def test_patchmatch_scores_within_two_percent_of_the_exhaustive_search(seed):
    features = features_with_texture(seed)
    hole = torch.zeros(1, 1, 48, 48, dtype=torch.bool)
    hole[..., 16:32, 14:34] = True
    bank = candidate_bank(features, hole, 1, torch.float32)
    exact = find_matches(features, hole, bank, ExhaustiveSearch(256))
    search = PatchMatchSearch(seed_candidates=64)  # a coarse start: propagation and random search do the rest
    for _ in range(8):  # as in a level (30 matchings): each continues from the last field
        randomized = find_matches(features, hole, bank, search)
    best, found = correlation(features, exact), correlation(features, randomized)
    assert torch.equal(exact.queries[0], randomized.queries[0]) and torch.equal(exact.queries[1], randomized.queries[1])
    assert found.mean() >= 0.98 * best.mean(), (found.mean(), best.mean())
    assert (found >= best - 0.02).float().mean() >= 0.75, (found >= best - 0.02).float().mean()
    assert (found <= best + 1e-5).all()  # never better than the exact nearest neighbour


def test_patchmatch_keeps_its_field_and_finds_exact_twins():
    generator = torch.Generator().manual_seed(3)
    tile = torch.randn(1, 16, 6, 6, generator=generator)
    features = tile.repeat(1, 1, 8, 8)  # period 6: every hole patch has exact twins outside the hole
    hole = torch.zeros(1, 1, 48, 48, dtype=torch.bool)
    hole[..., 18:30, 18:30] = True
    bank = candidate_bank(features, hole, 1, torch.float32)
    search = PatchMatchSearch(iterations=2, first_iterations=4, seed_candidates=16)
    for _ in range(3):
        matches = find_matches(features, hole, bank, search)
    assert bank.search_state is not None
    assert correlation(features, matches).min() > 1 - 1e-5
    assert ((matches.sources[0] - matches.queries[0]) % 6 == 0).all()
    assert ((matches.sources[1] - matches.queries[1]) % 6 == 0).all()


def test_diverse_search_without_penalty_is_the_exhaustive_search():
    features = features_with_texture(2)
    hole = torch.zeros(1, 1, 48, 48, dtype=torch.bool)
    hole[..., 16:32, 14:34] = True
    bank = candidate_bank(features, hole, 1, torch.float32)
    exact, diverse = (find_matches(features, hole, bank, search)
                      for search in (ExhaustiveSearch(256), DiverseSearch(0.0, top=4)))
    assert len(exact.queries[0]) > 300
    assert all(torch.equal(a, b) for a, b in zip(exact.sources, diverse.sources))


def test_diverse_search_spreads_identical_queries_over_the_top_candidates():
    features = features_with_texture(3)
    hole = torch.zeros(1, 1, 48, 48, dtype=torch.bool)
    hole[..., 16:32, 14:34] = True
    features[..., 14:34, 12:36] = features[..., 2:3, 2:3]  # every query patch the same constant patch
    bank = candidate_bank(features, hole, 1, torch.float32)
    exact = find_matches(features, hole, bank, ExhaustiveSearch(256))
    diverse = find_matches(features, hole, bank, DiverseSearch(1.0, top=8))
    queries = len(exact.queries[0])
    picks = lambda matches: torch.stack(matches.sources).unique(dim=1, return_counts=True)[1]  # per source
    assert picks(exact).tolist() == [queries]  # one source for all
    assert len(picks(diverse)) == 8 and picks(diverse).max() <= -(-queries // 8)  # an even share each
    query = gather_patches(features[0], *exact.queries)[0].flatten()  # the one query patch
    candidates = bank.patches.flatten(1)
    eighth_best = (candidates @ query / (candidates.norm(dim=1) * query.norm())).topk(8).values[-1]
    assert correlation(features, diverse).min() >= eighth_best - 1e-5  # each pick among the 8 best


def test_build_search_names_both_matchers():
    assert type(build_search("patchmatch", 64)).__name__ == "PatchMatchSearch"
    assert build_search("exhaustive", 64).chunk_size == 64


def test_block_windows_at_the_stride_sum_to_a_constant():
    for stride in (1, 2, 4, 8):
        window = block_window(stride, torch.device("cpu")).view(3 * stride, 3 * stride)
        row = window.sum(1) / window.sum(1).max()  # the separable profile
        total = sum(F.pad(row, (k * stride, (2 - k) * stride)) for k in range(3))[2 * stride : 3 * stride]
        assert torch.allclose(total, total[0].expand_as(total), atol=1e-6)


@pytest.mark.parametrize("stride", [2, 4])
def test_voting_reproduces_a_periodic_hole_from_its_true_matches(stride):
    period = 4 * stride  # px: 4 cells
    generator = torch.Generator().manual_seed(0)
    tile = torch.rand(1, 3, period, period, generator=generator)
    image = tile.repeat(1, 1, 8, 8)  # [1,3,32s,32s]
    cells = image.shape[-1] // stride
    hole = torch.zeros(cells, cells, dtype=torch.bool)
    hole[10:18, 9:20] = True
    # every query patch (3×3 cells overlapping the hole) matched to its twin 12 cells up (a multiple of the period)
    overlaps = F.max_pool2d(hole[None, None].float(), 3, stride=1)[0, 0] > 0
    rows, cols = overlaps.nonzero(as_tuple=True)
    voted, weights = vote(image, (rows, cols), (rows - 8, cols), stride, tuple(image.shape[-2:]))
    inside = F.interpolate(hole[None, None].float(), scale_factor=stride) > 0  # the hole's pixels
    assert (weights[inside] > 0).all()
    assert torch.allclose(voted.expand_as(image)[inside.expand_as(image)], image[inside.expand_as(image)], atol=1e-5)
    # a wrong field does not reproduce it
    wrong, _ = vote(image, (rows, cols), (rows - 7, cols), stride, tuple(image.shape[-2:]))
    assert not torch.allclose(wrong[inside.expand_as(image)], image[inside.expand_as(image)], atol=1e-2)


def test_voting_synthesis_keeps_the_known_region_and_runs_em_rounds():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 8, 8, generator=generator).repeat(1, 1, 8, 8)  # [1,3,64,64] periodic
    hole = torch.zeros(1, 1, 64, 64)
    hole[..., 24:40, 20:44] = 1
    calls = []
    synthesizer = Synthesizer(random_vgg19(["relu3_1"]), levels=2, iterations=6, line_search=None,
                              vote_from_level=0, vote_start=True, vote_rounds=3, matcher="patchmatch",
                              candidate_stride=1, max_candidates=None, window_context=None)
    original = synthesizer.revote
    synthesizer.revote = lambda level, x: calls.append(level.box) or original(level, x)
    result, info = synthesizer(image, hole)
    known = (hole == 0).expand_as(image)
    assert torch.equal(result[known], image[known]) and torch.isfinite(result).all()
    assert len(calls) == 3 * len(info["levels"])


@pytest.mark.parametrize(("cap", "stride"), [(None, 1), (100, 1), (99, 2), (25, 2), (24, 3), (1, 10)])
def test_the_candidate_stride_is_raised_until_the_cap_holds(cap, stride):
    candidates = torch.ones(10, 10, dtype=torch.bool)  # 100 at stride 1, 25 at 2, 16 at 3, 1 at 10
    assert capped_stride(candidates, 1, cap) == stride


@pytest.mark.parametrize(("detail_stride", "max_candidates", "expected"),
                         [(1, None, [2, 2, 1]), (None, None, [2, 2, 2]), (1, 600, [2, 2, 2]), (1, 100, [2, 3, 3])])
def test_the_detail_matches_among_its_own_candidates(detail_stride, max_candidates, expected):
    """Banks' strides of the coarse level, the finest level and the detail's level: the detail's own stride where
    the cap leaves it finer than the finest level's, else the finest level itself (not rebuilt)."""
    image = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    hole = torch.zeros(1, 1, 128, 128)
    hole[..., 48:80, 48:80] = 1
    synthesizer = Synthesizer(random_vgg19(["relu3_1"]), levels=2, iterations=1, line_search=None, detail_sigma=1.0,
                              detail_rounds=1, candidate_stride=2, detail_candidate_stride=detail_stride,
                              max_candidates=max_candidates, window_context=None)
    built, copied_from, original, transfer = [], [], synthesizer.level, synthesizer.transfer_detail
    synthesizer.level = lambda *args: built.append(original(*args)) or built[-1]
    synthesizer.transfer_detail = lambda level, *args: copied_from.append(level) or transfer(level, *args)
    synthesizer(image, hole)
    levels = built[:2] + copied_from
    assert [level.banks["relu3_1"].stride for level in levels] == expected  # coarsest first
    assert len(built) == (3 if expected[2] < expected[1] else 2)  # rebuilt only for a finer stride


def test_a_detail_candidate_stride_under_one_is_refused():
    with pytest.raises(ValueError, match="synthesis.detail_candidate_stride must be ≥ 1 or null"):
        Synthesizer(random_vgg19(["relu3_1"]), detail_candidate_stride=0)
