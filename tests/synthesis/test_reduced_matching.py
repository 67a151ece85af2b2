"""Matching in the level's principal feature directions (synthesis.match_channels, issue #19)."""

import pytest
import torch

from neuralpatch.synthesis.matching import candidate_bank, find_matches, principal_directions
from neuralpatch.synthesis.patches import gather_patches
from neuralpatch.synthesis.patchmatch import ExhaustiveSearch, PatchMatchSearch
from neuralpatch.synthesis.synthesizer import Synthesizer
from neuralpatch.synthesis.texture import random_vgg19
from test_dense_matching import correlation
from test_synthesis import stripes


def centre_hole(side: int) -> torch.Tensor:
    hole = torch.zeros(1, 1, side, side, dtype=torch.bool)
    hole[..., side // 3 : 2 * side // 3, side // 3 : 2 * side // 3] = True
    return hole


def test_principal_directions_are_orthonormal_and_keep_a_low_rank_map_exactly():
    generator = torch.Generator().manual_seed(0)
    latent, mixing = torch.randn(6, 20, 20, generator=generator), torch.randn(40, 6, generator=generator)
    features = torch.einsum("ck,khw->chw", mixing, latent)[None]  # [1,40,20,20] of rank 6
    hole = centre_hole(20)
    directions = principal_directions(features[0], ~hole[0, 0], 6)  # [6,40]
    torch.testing.assert_close(directions @ directions.T, torch.eye(6), atol=1e-4, rtol=0)
    full, reduced = (find_matches(features, hole, candidate_bank(features, hole, 1, torch.float64, channels=k),
                                  ExhaustiveSearch(256))
                     for k in (None, 6))
    assert torch.equal(full.sources[0], reduced.sources[0]) and torch.equal(full.sources[1], reduced.sources[1])


@pytest.mark.parametrize("search", ["exhaustive", "patchmatch"])
def test_reduced_matching_agrees_with_full_matching_on_a_periodic_texture(search):
    """64 of relu3_1's 256 channels: the matched patches are as good as the full search's (the texture repeats,
    so equally good twins may differ in place)."""
    features = random_vgg19(["relu3_1"])(stripes(96))["relu3_1"].detach()  # [1,256,24,24]
    hole = centre_hole(24)
    matches = {}
    for channels in (None, 64):
        bank = candidate_bank(features, hole, 1, torch.float32, channels=channels)
        assert (bank.filters.shape[1] == 64) == (channels == 64)
        searcher = ExhaustiveSearch(256) if search == "exhaustive" else PatchMatchSearch(seed_candidates=64)
        for _ in range(1 if search == "exhaustive" else 6):
            matches[channels] = find_matches(features, hole, bank, searcher)
    full, reduced = correlation(features, matches[None]), correlation(features, matches[64])
    assert reduced.mean() >= 0.995 * full.mean(), (reduced.mean(), full.mean())
    source = {k: gather_patches(features[0], *m.sources).flatten(1) for k, m in matches.items()}
    relative = (source[64] - source[None]).norm(dim=1) / source[None].norm(dim=1)
    assert (relative < 0.1).float().mean() >= 0.9  # the same patch of the texture, wherever it was found


def test_synthesis_with_reduced_matching_runs_and_matches_in_fewer_channels():
    synthesizer = Synthesizer(random_vgg19(["relu3_1"]), levels=1, iterations=3, line_search=None,
                              match_channels=16, window_context=None)
    image, hole = stripes(64), centre_hole(64).float()
    level = synthesizer.level(image, hole, image, image)
    assert level.banks["relu3_1"].filters.shape[1] == 16 and level.banks["relu3_1"].patches.shape[1] == 256
    result, _ = synthesizer(image, hole)
    assert torch.isfinite(result).all() and torch.equal(result * (1 - hole), image * (1 - hole))
