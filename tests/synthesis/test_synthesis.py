import logging
import math
import resource
import subprocess
import sys
import urllib.error

import numpy as np
import pytest
import torch
from torchvision import models

from neuralpatch.metrics.hole import hole_metrics
from neuralpatch.synthesis import texture as texture_module
from neuralpatch.synthesis.energy import gaussian_blur
from neuralpatch.synthesis.holes import feather_weights
from neuralpatch.synthesis.matching import candidate_bank, find_matches, nearest_patches, texture_energy
from neuralpatch.synthesis.patches import Wanted, gather_patches, patch_grid
from neuralpatch.synthesis.patchmatch import ExhaustiveSearch
from neuralpatch.synthesis.synthesizer import Synthesizer
from neuralpatch.synthesis.texture import (build_texture_network, fold_batch_norms, random_vgg19, vgg_features,
                                          vgg_layer_names)


def brute_force_matches(features, hole):
    """Reference: cosine similarity of every query patch with every whole-known patch, argmax."""
    queries, candidates = patch_grid(hole)
    c_rows, c_cols = candidates.nonzero(as_tuple=True)
    cands = gather_patches(features[0], c_rows, c_cols).flatten(1)  # [P,D]
    cands = cands / cands.norm(dim=1, keepdim=True)
    result = {}
    for r, c in zip(*queries.nonzero(as_tuple=True)):
        query = features[0, :, r : r + 3, c : c + 3].flatten()
        result[(int(r), int(c))] = int((cands @ query).argmax())
    return result


def matches(features, hole, **options):
    """Every query patch matched against every known patch of the same features."""
    return find_matches(features, hole, candidate_bank(features, hole, 1, torch.float32), ExhaustiveSearch(64), **options)


@pytest.mark.parametrize("chunk_size", [10_000, 7, 1])
def test_patch_matching_equals_brute_force(chunk_size):
    torch.manual_seed(0)
    features = torch.randn(1, 16, 20, 23, dtype=torch.float64)
    hole = torch.zeros(1, 1, 20, 23, dtype=torch.bool)
    hole[..., 6:13, 8:15] = True
    queries = patch_grid(hole)[0]
    best = nearest_patches(features, candidate_bank(features, hole, 1, torch.float64).filters, chunk_size)
    expected = brute_force_matches(features, hole)
    assert len(expected) == int(queries.sum()) > 0
    assert {(r, c): int(best[r, c]) for r, c in expected} == expected


@pytest.mark.parametrize("distance", ["ncc", "l2"])
def test_matching_only_the_wanted_positions_finds_the_same_candidates(distance):
    """A free-form hole's query positions (``wanted``) scored alone: the full map's matches there, zeros elsewhere."""
    torch.manual_seed(1)
    features = torch.randn(1, 16, 24, 26, dtype=torch.float64)
    hole = torch.rand(1, 1, 24, 26) < 0.15
    bank = candidate_bank(features, hole, 1, torch.float64, distance=distance)
    wanted = patch_grid(hole)[0]
    assert 0 < wanted.sum() < wanted.numel()
    full = nearest_patches(features, bank.filters, 7, bank.bias)
    alone = nearest_patches(features, bank.filters, 7, bank.bias, Wanted.of(wanted))
    assert torch.equal(alone[wanted], full[wanted]) and not alone[~wanted].any()


def test_texture_energy_is_zero_when_the_hole_repeats_a_known_patch():
    features = torch.zeros(1, 4, 12, 12)
    features[..., ::2, :] = 1.0  # horizontal stripes: every hole patch has an exact known twin
    hole = torch.zeros(1, 1, 12, 12, dtype=torch.bool)
    hole[..., 4:8, 4:8] = True
    assert texture_energy(features, matches(features, hole)) == 0
    broken = features.clone().requires_grad_(True)
    with torch.no_grad():
        broken[..., 5, 5] = 7.0
    energy = texture_energy(broken, matches(broken, hole))
    energy.backward()
    assert energy > 0 and broken.grad[0, :, 5, 5].abs().sum() > 0
    assert broken.grad[0, :, 0, 0].abs().sum() == 0  # known patches far from the hole are only targets


def test_vgg_layer_names_match_the_papers_layers():
    names = vgg_layer_names(models.vgg19().features)
    assert names["relu3_1"] == 11 and names["relu4_1"] == 20
    assert vgg_layer_names(models.vgg16_bn().features)["relu4_1"] == 26


@pytest.mark.parametrize("config, batch_norm, torchvision_model", [("vgg19", False, "vgg19"), ("vgg16", True, "vgg16_bn")])
def test_vgg_features_are_torchvisions_module_for_module(config, batch_norm, torchvision_model):
    """The VGG built without torchvision loads torchvision's state dict and computes the same features."""
    reference = getattr(models, torchvision_model)().features.eval()
    ours = vgg_features(config, batch_norm).eval()
    assert [type(m) for m in ours] == [type(m) for m in reference]
    ours.load_state_dict(reference.state_dict())  # strict: same keys and shapes
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))


def test_folded_batch_norms_give_the_same_features():
    features = vgg_features("vgg16", batch_norm=True)[:13].eval()
    with torch.no_grad():
        for module in features:
            if isinstance(module, torch.nn.BatchNorm2d):  # non-trivial statistics and affine terms
                module.running_mean.uniform_(-1, 1), module.running_var.uniform_(0.5, 2)
                module.weight.uniform_(0.5, 2), module.bias.uniform_(-1, 1)
        x = torch.rand(1, 3, 32, 32)
        folded = fold_batch_norms(features)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded) and len(folded) == len(features)
        torch.testing.assert_close(folded(x), features(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 2.6])
def test_gaussian_blur_is_torchvisions(sigma):
    from torchvision.transforms.functional import gaussian_blur as reference

    x = torch.rand(1, 3, 30, 27)
    torch.testing.assert_close(gaussian_blur(x, sigma), reference(x, 2 * math.ceil(2 * sigma) + 1, sigma))


def tiny_synthesizer(**kwargs) -> Synthesizer:
    settings = dict(levels=2, iterations=3, finest_iterations=None, line_search=None) | kwargs
    return Synthesizer(random_vgg19(["relu3_1"]), **settings)


@pytest.mark.parametrize("size", [(37, 53), (64, 41), (33, 33)])
def test_output_equals_input_outside_the_hole_for_odd_sizes(size):
    torch.manual_seed(0)
    image = torch.rand(1, 3, *size)
    hole = torch.zeros(1, 1, *size)
    hole[..., size[0] // 3 : size[0] // 2 + 4, size[1] // 4 : size[1] // 2] = 1
    result, info = tiny_synthesizer()(image, hole)
    assert result.shape == image.shape
    assert torch.equal(result[(hole == 0).expand_as(image)], image[(hole == 0).expand_as(image)])
    assert not torch.equal(result, image)
    assert [level["size"] for level in info["levels"]] == [[round(size[0] / 2), round(size[1] / 2)], list(size)]


def test_hole_content_never_leaks_into_the_fill(one_thread):
    torch.manual_seed(0)
    image = torch.rand(1, 3, 40, 40)
    hole = torch.zeros(1, 1, 40, 40)
    hole[..., 13:27, 11:25] = 1
    other = torch.where(hole.bool(), torch.rand(1, 3, 40, 40), image)
    synthesizer = tiny_synthesizer(levels=3)
    assert torch.equal(synthesizer(image, hole)[0], synthesizer(other, hole)[0])


def test_max_pixels_processes_at_reduced_size_with_a_warning(caplog):
    image, hole = torch.rand(1, 3, 60, 80), torch.zeros(1, 1, 60, 80)
    hole[..., 20:40, 30:50] = 1
    with caplog.at_level(logging.WARNING):
        result, info = tiny_synthesizer(max_pixels=30 * 40)(image, hole)
    assert "exceeds pyramid.max_pixels" in caplog.text and info["scale"] == pytest.approx(0.5)
    assert info["levels"][-1]["size"] == [30, 40] and result.shape == image.shape
    assert torch.equal(result[(hole == 0).expand_as(image)], image[(hole == 0).expand_as(image)])


def test_feather_weights_ramp_inside_the_hole_only():
    hole = torch.zeros(1, 1, 20, 20)
    hole[..., 5:15, 5:15] = 1
    weights = feather_weights(hole.bool(), 3)
    assert weights[hole == 0].eq(0).all()
    assert weights[0, 0, 5, 10] == pytest.approx(0.25) and weights[0, 0, 10, 10] == 1


def test_feathered_fill_blends_the_inputs_pixels_at_the_hole_edge(monkeypatch):
    image, hole = torch.rand(1, 3, 40, 40), torch.zeros(1, 1, 40, 40)
    hole[..., 10:30, 10:30] = 1
    synthesizer = tiny_synthesizer(feather=3, window_context=None)
    monkeypatch.setattr(synthesizer, "_optimize", lambda level, *rest: (level.known * (1 - level.hole), {}, 0))
    result, _ = synthesizer(image, hole)  # the fill is 0 in the hole: what remains is the input's share
    assert torch.allclose(result, image * (1 - feather_weights(hole.bool(), 3)))


def test_mask_covering_everything_is_an_error():
    with pytest.raises(ValueError, match="covers the whole image"):
        tiny_synthesizer()(torch.rand(1, 3, 16, 16), torch.ones(1, 1, 16, 16))


def test_vgg19_without_weights_falls_back_with_one_warning(monkeypatch, caplog):
    def offline(layers, weights_path=None):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(texture_module, "vgg19", offline)
    with caplog.at_level(logging.WARNING):
        network = build_texture_network("vgg19", ["relu3_1", "relu4_1"], offline_fallback="vgg16_bn_craft")
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no network" in warnings[0] and "texture.weights_path" in warnings[0]
    assert "CRAFT" in network.name and set(network(torch.rand(1, 3, 32, 32))) == {"relu3_1", "relu4_1"}


def test_efficientnet_accepts_vgg_layer_names():
    network = build_texture_network("efficientnet_lite0", ["relu3_1", "relu4_1"])
    features = network(torch.rand(1, 3, 64, 64))
    assert features["relu3_1"].shape == (1, 24, 16, 16) and features["relu4_1"].shape == (1, 40, 8, 8)


def stripes(size: int = 128, period: int = 16) -> torch.Tensor:
    """Diagonal two-colour stripes."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    phase = ((x + y) % period < period // 2).float()
    return torch.stack([0.2 + 0.6 * phase, 0.7 - 0.5 * phase, 0.5 + 0.0 * phase])[None]


def test_synthesis_recovers_a_periodic_texture_far_better_than_telea():
    """The texture term alone (pixel weight 0; α = 1 against plain TV β = 0.1, no hole-width scaling), real
    offline backbone (the default fallback),
    from the flat mean-colour start, one full-resolution level of 100 L-BFGS evaluations, every known patch a
    candidate (stride 1: with stride 2 half the stripe phases have no candidate at relu3_1)."""
    cv2 = pytest.importorskip("cv2")
    image = stripes()
    hole = torch.zeros(1, 1, 128, 128)
    hole[..., 48:80, 48:80] = 1
    network = build_texture_network("vgg16_bn_craft", ["relu3_1", "relu4_1"])
    result, _ = Synthesizer(network, alpha=1.0, levels=1, iterations=100, candidate_stride=1, pixel_weight=0,
                            beta_chroma=None, full_texture_width=None)(image, hole)
    photo = (image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    telea = cv2.inpaint(photo, hole[0, 0].numpy().astype(np.uint8), 3, cv2.INPAINT_TELEA)
    telea = torch.from_numpy(telea).permute(2, 0, 1)[None].float() / 255
    ours, baseline = hole_metrics(result, image, hole)["psnr"], hole_metrics(telea, image, hole)["psnr"]
    assert ours > baseline + 5, (ours, baseline)


def test_overlap_average_divides_each_positions_gradient_by_the_patches_covering_it():
    """The authors' CNNMRF normalization: the gradient at a feature position is the mean over the query patches
    covering it of that patch's gradient, so it equals the plain gradient divided by the covering count."""
    torch.manual_seed(0)
    features = torch.randn(1, 8, 14, 14, requires_grad=True)
    hole = torch.zeros(1, 1, 14, 14, dtype=torch.bool)
    hole[..., 5:9, 5:9] = True
    plain = matches(features, hole)
    averaged = matches(features, hole, overlap_average=True)
    assert torch.allclose(plain.mean_target, averaged.mean_target) and averaged.coverage.max() == 1
    (plain_grad,) = torch.autograd.grad(texture_energy(features, plain), features)
    (averaged_grad,) = torch.autograd.grad(texture_energy(features, averaged), features)
    queries, _ = patch_grid(hole)
    counts = torch.zeros(14, 14)
    for r, c in zip(*queries.nonzero(as_tuple=True)):
        counts[r : r + 3, c : c + 3] += 1
    covered = counts > 0
    assert counts.max() == 9 and counts[covered].min() == 1
    assert torch.allclose(averaged_grad[0][:, covered], plain_grad[0][:, covered] / counts[covered], atol=1e-6)
    assert averaged_grad[0][:, ~covered].abs().sum() == 0


def test_normalized_texture_energy_ignores_the_activation_scale_and_the_patch_count():
    torch.manual_seed(0)
    features = torch.randn(1, 8, 20, 20)
    hole = torch.zeros(1, 1, 20, 20, dtype=torch.bool)
    hole[..., 6:12, 6:12] = True
    energy = texture_energy(features, matches(features, hole), normalize=True)
    scaled = texture_energy(features * 50, matches(features * 50, hole), normalize=True)
    assert energy > 0 and torch.allclose(energy, scaled, rtol=1e-4)
    tiled, tiled_hole = features.repeat(1, 1, 2, 2), hole.repeat(1, 1, 2, 2)  # 4× the hole patches, alike
    big = texture_energy(tiled, matches(tiled, tiled_hole), normalize=True)
    raw, raw_big = (texture_energy(f, matches(f, h))
                    for f, h in ((features, hole), (tiled, tiled_hole)))
    assert raw_big > 3 * raw and abs(float(big / energy) - 1) < 0.25, (raw, raw_big, energy, big)


def test_matches_kept_for_a_level_when_rematch_every_is_zero_and_the_bank_built_once(monkeypatch):
    from neuralpatch.synthesis import level_energy

    calls = {"find_matches": 0, "candidate_bank": 0}

    def counting(name):
        original = getattr(level_energy, name)

        def counted(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)
        return counted

    for name in calls:
        monkeypatch.setattr(level_energy, name, counting(name))
    image, hole = torch.rand(1, 3, 40, 40), torch.zeros(1, 1, 40, 40)
    hole[..., 12:28, 12:28] = 1
    for rematch_every, expected in ((0, 1), (1, 6), (3, 2)):
        calls.update(find_matches=0, candidate_bank=0)
        tiny_synthesizer(levels=1, iterations=6, rematch_every=rematch_every, detail_sigma=None)(image, hole)
        assert calls == {"find_matches": expected, "candidate_bank": 1}, (rematch_every, calls)


def test_a_window_covering_the_whole_image_equals_full_frame_synthesis(one_thread):
    torch.manual_seed(0)
    image, hole = torch.rand(1, 3, 48, 48), torch.zeros(1, 1, 48, 48)
    hole[..., 16:32, 18:30] = 1
    windowed, info = tiny_synthesizer(window_context=10.0)(image, hole)
    full, full_info = tiny_synthesizer(window_context=None)(image, hole)
    assert info["windows"] == full_info["windows"] == [(0, 48, 0, 48)]
    assert torch.equal(windowed, full)


def test_holes_far_apart_get_their_own_windows_and_border_holes_are_filled():
    torch.manual_seed(0)
    image, hole = torch.rand(1, 3, 120, 200), torch.zeros(1, 1, 120, 200)
    hole[..., 10:20, 10:22] = 1  # top-left
    hole[..., 100:120, 185:200] = 1  # touching the bottom and right borders
    result, info = tiny_synthesizer(window_context=1.0)(image, hole)
    assert info["windows"] == [(0, 52, 0, 54), (68, 120, 153, 200)]
    assert [level["window"] for level in info["levels"]] == [0, 0, 1, 1]
    known = (hole == 0).expand_as(image)
    assert torch.equal(result[known], image[known])
    for top, bottom, left, right in info["windows"]:
        inside = hole[..., top:bottom, left:right].bool().expand(1, 3, -1, -1)
        assert not torch.equal(result[..., top:bottom, left:right][inside], image[..., top:bottom, left:right][inside])
    assert torch.equal(info["prior"][known], image[known])


def test_nearby_parts_of_a_hole_share_a_window():
    from neuralpatch.synthesis.holes import hole_windows

    hole = torch.zeros(1, 1, 100, 100, dtype=torch.bool)
    hole[..., 40:50, 10:20] = hole[..., 40:50, 60:70] = True  # 40 px apart, each grown by 32 px: they overlap
    assert hole_windows(hole, 1.0) == [(8, 82, 0, 100)]


def test_edge_pads_mirror_only_the_sides_where_the_hole_nears_the_photos_edge():
    from neuralpatch.synthesis.holes import edge_pads

    hole = torch.zeros(1, 1, 100, 120, dtype=torch.bool)
    hole[..., 40:50, 3:13] = True  # 3 px from the left edge
    assert edge_pads(hole, (8, 82, 0, 45), 8) == (8, 0, 0, 0) and edge_pads(hole, (8, 82, 0, 45), 3) == (0, 0, 0, 0)
    hole[..., 90:100, 110:120] = True  # touching the bottom and right edges
    assert edge_pads(hole, (58, 100, 78, 120), 8) == (0, 8, 0, 8)
    assert edge_pads(hole, (95, 100, 0, 120), 8) == (0, 8, 0, 4)  # a window 5 px high mirrors at most 4
    middle = torch.zeros(1, 1, 100, 120, dtype=torch.bool)
    middle[..., 40:60, 50:70] = True
    assert edge_pads(middle, (8, 92, 18, 102), 8) == (0, 0, 0, 0)


def test_a_hole_at_the_photos_edge_is_synthesized_in_a_mirrored_window(monkeypatch):
    torch.manual_seed(0)
    image, hole = torch.rand(1, 3, 60, 80), torch.zeros(1, 1, 60, 80)
    hole[..., 20:30, 0:10] = 1  # touching the left edge
    windows = []
    synthesize = Synthesizer._synthesize

    def recorded(self, window, window_hole, prior, progress):
        windows.append((window.clone(), window_hole.clone()))
        return synthesize(self, window, window_hole, prior, progress)

    monkeypatch.setattr(Synthesizer, "_synthesize", recorded)
    result, info = tiny_synthesizer(edge_padding=6)(image, hole)
    (top, bottom, left, right), = info["windows"]
    window, window_hole = windows[0]
    assert window.shape[-2:] == (bottom - top, right - left + 6)  # mirrored by 6 px on the left only
    assert torch.equal(window[..., 6:], image[..., top:bottom, left:right])
    assert torch.equal(window[..., :6], image[..., top:bottom, 1:7].flip(-1))  # a reflection, the edge not repeated
    assert torch.equal(window_hole[..., :6], hole[..., top:bottom, 1:7].flip(-1).bool())  # the hole mirrored too
    known = (hole == 0).expand_as(image)
    assert result.shape == image.shape and torch.equal(result[known], image[known])
    assert torch.equal(info["prior"][known], image[known])
    windows.clear()
    tiny_synthesizer(edge_padding=0)(image, hole)
    assert windows[0][0].shape[-2:] == (bottom - top, right - left)


def test_a_large_photo_is_untouched_outside_a_small_hole_and_synthesized_at_full_resolution():
    image, hole = torch.rand(1, 3, 3072, 4096), torch.zeros(1, 1, 3072, 4096)
    hole[..., 1500:1564, 2000:2064] = 1
    result, info = tiny_synthesizer(max_pixels=512 * 512)(image, hole)
    known = (hole == 0).expand_as(image)
    assert torch.equal(result[known], image[known]) and not torch.equal(result[~known], image[~known])
    assert info["windows"] == [(1436, 1628, 1936, 2128)] and info["scale"] == 1.0
    assert info["levels"][-1]["size"] == [192, 192]


def test_low_passed_pixel_term_ignores_fine_detail_but_not_a_shift():
    target, hole = torch.full((1, 3, 32, 32), 0.5), torch.zeros(1, 1, 32, 32)
    hole[..., 8:24, 8:24] = 1
    rows, cols = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    detail = target + 0.1 * ((rows + cols) % 2 * 2 - 1) * hole  # a checkerboard: only high frequencies
    shift = target + 0.1 * hole  # the same amplitude, low frequencies
    plain, low_passed = (Synthesizer(random_vgg19(["relu3_1"]), pixel_blur=blur, crop_to_hole=False)
                         for blur in (0.0, 2.0))

    def pixel(synthesizer, x):
        return float(synthesizer.energies(x, synthesizer.level(x, hole, x, target))[0]["pixel"])

    assert pixel(plain, detail) == pytest.approx(0.01) and pixel(plain, shift) == pytest.approx(0.01)
    assert pixel(low_passed, detail) < 0.01 * pixel(low_passed, shift)


def test_the_tv_term_splits_into_luminance_and_chroma():
    hole = torch.ones(1, 1, 16, 16)
    noise = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    grey = noise.expand(1, 3, 16, 16)  # detail in luminance only
    colour = torch.cat([noise, 1 - noise, torch.full_like(noise, 0.5)], dim=1)  # R and G swap: chroma only
    synthesizer = Synthesizer(random_vgg19(["relu3_1"]))

    def tv(x):
        terms = synthesizer.energies(x, synthesizer.level(x, hole, x, x))[0]
        return float(terms["tv"]), float(terms["tv_chroma"])

    assert tv(grey)[1] == pytest.approx(0, abs=1e-6) and tv(grey)[0] > 0.1
    assert tv(colour)[0] == pytest.approx(0, abs=1e-6) and tv(colour)[1] > 0.1
    rgb = (grey[..., 1:, :] - grey[..., :-1, :]).pow(2).sum() + (grey[..., 1:] - grey[..., :-1]).pow(2).sum()
    assert sum(tv(grey)) == pytest.approx(float(rgb) / 256, rel=1e-5)  # the split loses nothing


def test_thin_holes_get_a_weaker_texture_term_and_a_sharper_pixel_term():
    image = torch.rand(1, 3, 96, 96)
    stroke, square = torch.zeros(1, 1, 96, 96), torch.zeros(1, 1, 96, 96)
    stroke[..., 20:76, 45:51] = 1  # 6 px wide
    square[..., 28:68, 28:68] = 1  # 40 px wide
    synthesizer = tiny_synthesizer(alpha=2.0, pixel_blur=2.0, full_texture_width=32, window_context=None)
    thin, wide = (synthesizer(image, hole)[1]["levels"][0] for hole in (stroke, square))
    assert thin["alpha"] == pytest.approx(2.0 * (6 / 32) ** 2, rel=0.3)
    assert thin["pixel_blur"] == pytest.approx(2.0 * (6 / 32) ** 2, rel=0.3)
    assert (wide["alpha"], wide["pixel_blur"]) == (2.0, 2.0)
    off = tiny_synthesizer(alpha=2.0, full_texture_width=None)
    assert off(image, stroke)[1]["levels"][0]["alpha"] == 2.0  # null: every hole gets α


def test_chroma_tv_weight_smooths_the_fills_colour():
    torch.manual_seed(0)
    image, hole = torch.rand(1, 3, 48, 48), torch.zeros(1, 1, 48, 48)  # colour noise: texture pulls towards it
    hole[..., 12:36, 12:36] = 1
    opponent = torch.tensor([[1, -1, 0], [1, 1, -2]], dtype=torch.float32)  # two chroma axes (unnormalized)

    def chroma_detail(beta_chroma):
        synthesizer = tiny_synthesizer(alpha=5.0, beta=0.0, beta_chroma=beta_chroma, full_texture_width=None,
                                       window_context=None, iterations=10, detail_sigma=None)  # the optimized fill
        fill = synthesizer(image, hole)[0][..., 14:34, 14:34]
        chroma = torch.einsum("oc,nchw->nohw", opponent, fill)
        return float((chroma[..., 1:, :] - chroma[..., :-1, :]).pow(2).mean())

    assert chroma_detail(100.0) < 0.5 * chroma_detail(0.0)


def test_peak_memory_of_a_process_is_its_own_not_its_forking_parents():
    held = np.ones(500_000_000, dtype=np.uint8)  # 500 MB resident in this process, the child's parent
    code = "import torch; from neuralpatch.synthesis.synthesizer import peak_memory_mb; print(peak_memory_mb(torch.device('cpu')))"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB: this process's peak, the held array included
    assert held.sum() == 500_000_000 and float(child.stdout) < own - 400
