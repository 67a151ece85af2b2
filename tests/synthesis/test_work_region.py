"""Issue #9: per level only the hole's crop is optimized, the candidate bank is built once, and the texture
network may run in bfloat16; none of it may change what is computed beyond rounding."""

import pytest
import torch

from neuralpatch.synthesis import level_energy
from neuralpatch.synthesis.holes import crop_box, dilate, erode, feature_parts, hole_cells
from neuralpatch.synthesis.matching import candidate_bank, find_matches, nearest_patches, overlap_weights, texture_energy
from neuralpatch.synthesis.patches import gather_patches, patch_grid
from neuralpatch.synthesis.patchmatch import ExhaustiveSearch
from neuralpatch.synthesis.synthesizer import Synthesizer
from neuralpatch.synthesis.texture import random_vgg19, receptive_fields


def test_receptive_fields_are_where_the_gradient_reaches():
    network = random_vgg19(["relu3_1", "relu4_1"])
    x = torch.rand(1, 3, 160, 160, requires_grad=True)
    fields = receptive_fields(network.layers, network.outputs)
    for name, (size, stride) in fields.items():
        features = network(x)[name]  # [1,C,160/s,160/s]
        cell = features.shape[-1] // 2
        (gradient,) = torch.autograd.grad(features[0, :, cell, cell].sum(), x)
        rows = gradient[0].abs().sum(dim=(0, 2)).nonzero()
        assert (int(rows.max() - rows.min()) + 1, 160 // features.shape[-1]) == (size, stride), name
    assert fields == {"relu3_1": (24, 4), "relu4_1": (68, 8)} and network.context == 30


def test_dilate_and_erode_move_the_edge_by_the_radius_in_every_direction():
    mask = torch.zeros(1, 1, 20, 20)
    mask[..., 8:12, 6:14] = 1  # 4 rows × 8 columns
    grown, shrunk = dilate(mask, 3), erode(mask, 1)
    assert grown[0, 0].nonzero().amin(0).tolist() == [5, 3] and grown[0, 0].nonzero().amax(0).tolist() == [14, 16]
    assert grown.sum() == 10 * 14
    assert shrunk[0, 0].nonzero().amin(0).tolist() == [9, 7] and shrunk.sum() == 2 * 6
    assert erode(mask, 2).sum() == 0 and torch.equal(erode(dilate(mask, 2), 2), mask)


def test_hole_cells_and_crop_box_follow_the_stride_grid():
    hole = torch.zeros(1, 1, 30, 42, dtype=torch.bool)
    hole[..., 9:11, 17:18] = True
    cells = hole_cells(hole, 4, (7, 10))  # a network that floors 30/4: pixels 28, 29 count for the last row
    assert cells.shape == (1, 1, 7, 10) and cells[0, 0].nonzero().tolist() == [[2, 4]]
    edge = torch.zeros_like(hole)
    edge[..., 29, 41] = True
    assert hole_cells(edge, 4, (7, 10))[0, 0].nonzero().tolist() == [[6, 9]]
    assert crop_box(hole, 5, 4) == (0, 20, 8, 28)  # grid-rounded box (8, 12, 16, 20), grown by 8 and clipped


@pytest.mark.parametrize("finest_layers, finest_crop", [(["relu3_1"], [76, 84]), (None, [184, 168])])
def test_optimizing_the_holes_crop_equals_optimizing_the_whole_image(one_thread, finest_layers, finest_crop):
    """The crop holds what the level's layers see: relu3_1 alone at the finest level (the default) needs far less
    context than relu4_1. Full-resolution chroma: the coarse chroma grid's L-BFGS amplifies float rounding
    differences of the two tensor sizes to ~1e-5. The detail's locality places the crop's patches in the level's
    grid (``find_matches``' offset)."""
    torch.manual_seed(0)
    image, hole = torch.rand(1, 3, 200, 216), torch.zeros(1, 1, 200, 216)
    hole[..., 93:110, 61:86] = 1
    network = random_vgg19(["relu3_1", "relu4_1"])
    (cropped, info), (whole, whole_info) = (
        Synthesizer(network, levels=2, iterations=6, finest_iterations=None, alpha=50.0, window_context=None,
                    precision="float32", crop_to_hole=crop, finest_layers=finest_layers, finest_levels=1,
                    chroma_scale=1, detail_locality=1.2)(image, hole)
        for crop in (True, False))
    assert [level["crop"] for level in info["levels"]] == [[100, 108], finest_crop]
    assert [level["crop"] for level in whole_info["levels"]] == [[100, 108], [200, 216]]
    assert torch.allclose(cropped, whole, atol=1e-5) and (cropped - image).abs().max() > 0.1
    assert info["levels"][-1]["energy"] == pytest.approx(whole_info["levels"][-1]["energy"], rel=1e-5)


def test_feature_parts_cover_what_the_fill_changes_with_their_context_around_it():
    hole = torch.zeros(1, 1, 200, 240)
    hole[..., 8:40, 10:50] = 1
    hole[..., 150:190, 180:230] = 1  # two parts at opposite corners
    parts = feature_parts(hole, 8, 26)
    assert len(parts) == 2 and sum((b - t) * (r - l) for (t, b, l, r), _ in parts) < 0.6 * 200 * 240
    covered = torch.zeros(200, 240, dtype=torch.bool)
    for (top, bottom, left, right), (inner_top, inner_bottom, inner_left, inner_right) in parts:
        assert all(v % 8 == 0 for v in (top, left, inner_top, inner_left))
        assert (top, left) == (max(0, inner_top - 32), max(0, inner_left - 32))  # 26 px rounded up to the grid
        assert (bottom, right) == (min(200, inner_bottom + 32), min(240, inner_right + 32))
        covered[inner_top:inner_bottom, inner_left:inner_right] = True
    assert covered[dilate(hole, 26)[0, 0] > 0].all()
    centre = torch.zeros(1, 1, 512, 512)
    centre[..., 128:384, 128:384] = 1  # the paper's hole, relu3_1: the level's crop as level() makes it
    top, bottom, left, right = crop_box(centre, 2 * 4 + 2 * 10, 4)
    assert feature_parts(centre[..., top:bottom, left:right], 4, 10) == []  # ≥ 90 % of the crop: the whole crop


@pytest.mark.parametrize("height, width, shift", [(160, 200, 0), (230, 270, 40)])
def test_the_network_on_the_holes_parts_computes_what_it_computes_on_the_whole_crop(one_thread, height, width, shift):
    """Two small holes at opposite corners: the finest level (relu3_1) runs the network on two boxes instead of
    the whole crop (the whole photo, or less of it: the features the fill cannot change are computed once either
    way); the coarsest (relu3_1 + relu4_1, 30 px of context) on the whole crop. The energies and the fill are the
    same; the parts' context is what makes them so."""
    torch.manual_seed(0)
    image, hole = torch.rand(1, 3, height, width), torch.zeros(1, 1, height, width)
    hole[..., shift + 10 : shift + 30, shift + 12 : shift + 40] = 1
    hole[..., shift + 120 : shift + 150, shift + 150 : shift + 190] = 1
    (split, info), (whole, whole_info) = (
        Synthesizer(random_vgg19(["relu3_1", "relu4_1"]), levels=2, iterations=6, finest_iterations=None, alpha=50.0,
                    window_context=None, precision="float32", finest_layers=["relu3_1"], finest_levels=1,
                    chroma_scale=1, split_crop=split_crop)(image, hole)
        for split_crop in (True, False))
    assert [level["parts"] for level in info["levels"]] == [1, 2]
    assert (info["levels"][-1]["crop"] == [height, width]) == (shift == 0)
    assert [level["parts"] for level in whole_info["levels"]] == [1, 1]
    assert torch.allclose(split, whole, atol=1e-5) and (split - image).abs().max() > 0.1
    assert info["levels"][-1]["energy"] == pytest.approx(whole_info["levels"][-1]["energy"], rel=1e-5)


def test_bfloat16_features_are_rounded_float32_features():
    network = random_vgg19(["relu3_1"])
    x = torch.rand(1, 3, 32, 32)
    exact = Synthesizer(network, precision="float32").features(x)["relu3_1"]
    rounded = Synthesizer(network, precision="bfloat16").features(x)["relu3_1"]
    assert rounded.dtype == torch.float32 and not torch.equal(rounded, exact)
    assert (rounded - exact).norm() < 0.05 * exact.norm()


def test_candidates_the_fill_changes_are_refreshed_at_each_matching(monkeypatch):
    seen = []
    original = level_energy.find_matches

    def recording(features, hole, bank, *rest):
        current = gather_patches(features.detach()[0], bank.rows, bank.cols)  # crop = level: same coordinates
        seen.append(torch.equal(bank.patches, current))
        return original(features, hole, bank, *rest)

    monkeypatch.setattr(level_energy, "find_matches", recording)
    image, hole = torch.rand(1, 3, 48, 48), torch.zeros(1, 1, 48, 48)
    hole[..., 16:32, 16:32] = 1
    Synthesizer(random_vgg19(["relu3_1"]), levels=1, iterations=5, alpha=50.0, window_context=None,
                crop_to_hole=False, precision="float32")(image, hole)
    assert len(seen) >= 5 and all(seen)


def test_the_candidate_bank_is_bounded_by_raising_its_stride():
    features, hole = torch.randn(1, 4, 40, 40), torch.zeros(1, 1, 40, 40, dtype=torch.bool)
    hole[..., 10:20, 10:20] = True
    everything = candidate_bank(features, hole, 1, torch.float32)
    bounded = candidate_bank(features, hole, 1, torch.float32, max_candidates=300)
    assert len(everything.rows) > 1000 and 150 < len(bounded.rows) <= 300


@pytest.mark.parametrize("overlap_average", [False, True])
def test_the_per_position_texture_energy_equals_the_sum_over_query_patches(overlap_average):
    torch.manual_seed(0)
    features = torch.randn(1, 6, 15, 17, dtype=torch.float64)
    hole = torch.zeros(1, 1, 15, 17, dtype=torch.bool)
    hole[..., 5:10, 4:12] = True
    bank = candidate_bank(features, hole, 1, torch.float64)
    matches = find_matches(features, hole, bank, ExhaustiveSearch(64), overlap_average)
    moved = (features + 0.3 * torch.randn_like(features)).requires_grad_(True)
    queries = patch_grid(hole)[0]
    rows, cols = queries.nonzero(as_tuple=True)
    best = nearest_patches(features[..., rows.min() : rows.max() + 3, cols.min() : cols.max() + 3], bank.filters, 64)
    targets = bank.patches[best[rows - rows.min(), cols - cols.min()]]  # [Q,C,3,3]
    weights = (overlap_weights(queries, rows, cols).double().view(-1, 1, 3, 3) if overlap_average
               else torch.ones(len(rows), 1, 3, 3))
    explicit = (weights * (gather_patches(moved[0], rows, cols) - targets).pow(2)).sum()
    energy = texture_energy(moved, matches)
    assert torch.allclose(energy, explicit, rtol=1e-9)
    assert torch.allclose(torch.autograd.grad(energy, moved)[0], torch.autograd.grad(explicit, moved)[0], rtol=1e-9)
