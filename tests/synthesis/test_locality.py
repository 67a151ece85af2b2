"""Issue #18, eighth round: ``synthesis.detail_locality`` — of near-equal known patches the detail's search prefers
the one nearest the query, in the level's grid whatever crop is optimized."""

import math

import pytest
import torch

from neuralpatch.synthesis.matching import candidate_bank, find_matches
from neuralpatch.synthesis.patchmatch import DiverseSearch, ExhaustiveSearch, distance_penalty
from neuralpatch.synthesis.synthesizer import Synthesizer
from neuralpatch.synthesis.texture import random_vgg19


def periodic_case(period: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``[1,16,48,48]`` repeating every ``period`` cells (each hole patch has exact twins at several
    distances outside the hole) and an off-centre hole ``[1,1,48,48]``."""
    tile = torch.randn(1, 16, period, period, generator=torch.Generator().manual_seed(3))
    features = tile.repeat(1, 1, 48 // period, 48 // period)
    hole = torch.zeros(1, 1, 48, 48, dtype=torch.bool)
    hole[..., 14:26, 20:34] = True
    return features, hole


def twin_distances(bank, matches, period: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance from each query to its match, to its nearest exact twin among the bank's candidates) ``[Q]``."""
    rows, cols = matches.queries
    chosen = torch.hypot((matches.sources[0] - rows).float(), (matches.sources[1] - cols).float())
    twin = (((bank.rows[None] - rows[:, None]) % period == 0) & ((bank.cols[None] - cols[:, None]) % period == 0))
    apart = torch.hypot((bank.rows[None] - rows[:, None]).float(), (bank.cols[None] - cols[:, None]).float())
    return chosen, torch.where(twin, apart, torch.inf).amin(1)


def test_the_penalty_is_the_weight_across_the_levels_diagonal():
    features, hole = periodic_case()
    bank = candidate_bank(features, hole, 1, torch.float32)
    corner = int((bank.rows == 0).logical_and(bank.cols == 0).nonzero())
    far_rows, far_cols = torch.tensor([bank.grid[0] - 1, 0]), torch.tensor([bank.grid[1] - 1, 0])
    penalty = distance_penalty(bank, far_rows, far_cols, 0.5)(corner, corner + 1)  # [1,2]
    assert penalty[0, 0] == pytest.approx(0.5 * math.hypot(bank.grid[0] - 1, bank.grid[1] - 1) / math.hypot(*bank.grid))
    assert penalty[0, 1] == 0


@pytest.mark.parametrize("search", [lambda weight: ExhaustiveSearch(256, weight),
                                    lambda weight: DiverseSearch(0.0, top=4, locality=weight)])
def test_of_exact_twins_the_nearest_is_taken(search):
    features, hole = periodic_case()
    bank = candidate_bank(features, hole, 1, torch.float32)
    plain, local = (find_matches(features, hole, bank, search(weight)) for weight in (None, 0.2))
    chosen, nearest = twin_distances(bank, local, 6)
    assert torch.allclose(chosen, nearest)  # every query: the nearest of its exact twins
    assert (twin_distances(bank, plain, 6)[0] > nearest + 1).float().mean() > 0.5  # without: mostly farther ones
    assert ((local.sources[0] - local.queries[0]) % 6 == 0).all() and ((local.sources[1] - local.queries[1]) % 6 == 0).all()


def test_a_crop_matches_as_the_whole_level_given_its_offset():
    features, hole = periodic_case()
    bank = candidate_bank(features, hole, 1, torch.float32)
    whole = find_matches(features, hole, bank, ExhaustiveSearch(256, 0.2))
    crop = (..., slice(8, None), slice(10, None))
    cropped = find_matches(features[crop], hole[crop], bank, ExhaustiveSearch(256, 0.2), offset=(8, 10))
    assert torch.equal(cropped.queries[0] + 8, whole.queries[0]) and torch.equal(cropped.queries[1] + 10, whole.queries[1])
    assert all(torch.equal(a, b) for a, b in zip(cropped.sources, whole.sources))
    unplaced = find_matches(features[crop], hole[crop], bank, ExhaustiveSearch(256, 0.2))  # as if at the corner
    assert not all(torch.equal(a, b) for a, b in zip(unplaced.sources, whole.sources))


def test_detail_locality_is_refused_below_zero_and_reaches_the_details_search():
    network = random_vgg19(["relu3_1"])
    with pytest.raises(ValueError, match=r"synthesis.detail_locality must be ≥ 0 or null"):
        Synthesizer(network, detail_locality=-0.1)
    assert Synthesizer(network, detail_locality=0.3).detail_search.locality == 0.3  # the diverse search (penalty)
    plain = Synthesizer(network, detail_locality=0.3, detail_penalty=None).detail_search
    assert isinstance(plain, ExhaustiveSearch) and plain.locality == 0.3
    assert Synthesizer(network, detail_penalty=None, detail_locality=None).detail_search is None  # the level's own

