"""Detail transfer: the fill's fine band (luminance, and colour) taken from the known pixels its nearest patches
cover."""

import pytest
import torch
import torch.nn.functional as F

from neuralpatch.synthesis.energy import to_opponent
from neuralpatch.synthesis.matching import Matches
from neuralpatch.synthesis.synthesizer import Synthesizer
from neuralpatch.synthesis.texture import random_vgg19
from neuralpatch.synthesis.voting import (band_gain, centre_vote, copy_detail, fine_band, surrounding_energy,
                                          transfer_detail)


def periodic_hole(stride: int) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """(image [1,3,32s,32s] with a period of 4 cells, hole cells [32,32], query patches overlapping them)."""
    tile = torch.rand(1, 3, 4 * stride, 4 * stride, generator=torch.Generator().manual_seed(0))
    image = tile.repeat(1, 1, 8, 8)
    hole = torch.zeros(32, 32, dtype=torch.bool)
    hole[10:18, 9:20] = True
    overlaps = F.max_pool2d(hole[None, None].float(), 3, stride=1)[0, 0] > 0
    return image, hole, overlaps.nonzero(as_tuple=True)


@pytest.mark.parametrize("keep_energy", [False, True])
@pytest.mark.parametrize("stride, feather", [(2, 0), (4, 0), (2, 1), (4, 2), (4, 4)])
def test_centre_vote_copies_a_periodic_hole_exactly_from_its_true_matches(stride, feather, keep_energy):
    image, hole, (rows, cols) = periodic_hole(stride)
    voted, weights = centre_vote(image, (rows, cols), (rows - 8, cols), stride, tuple(image.shape[-2:]), feather,
                                 keep_energy)  # a coherent field: the copies agree, the energy needs no help
    inside = (F.interpolate(hole[None, None].float(), scale_factor=stride) > 0).expand_as(image)
    assert torch.allclose(weights.expand_as(image)[inside], torch.ones(())), "the seam windows sum to 1"
    assert torch.allclose(voted[inside], image[inside], atol=1e-6)
    wrong, _ = centre_vote(image, (rows, cols), (rows - 7, cols), stride, tuple(image.shape[-2:]), feather)
    assert not torch.allclose(wrong[inside], image[inside], atol=1e-2)


def energy_by_phase(band: torch.Tensor, stride: int) -> torch.Tensor:
    """``[s,s]``: the mean squared value of ``band`` ``[1,C,h,w]`` at each pixel position within the cells."""
    energy = band.pow(2).sum(1)[0]  # [h,w]
    return energy.unflatten(0, (-1, stride)).unflatten(2, (-1, stride)).mean((0, 2))


@pytest.mark.parametrize("keep_energy, flattest, strongest", [(False, 0.3, 1.0), (True, 0.85, 1.1)])
def test_centre_vote_of_independent_copies_keeps_their_energy_across_the_seams_only_when_asked(
        keep_energy, flattest, strongest):
    stride, feather, cells = 4, 4, 48
    band = torch.randn(1, 3, cells * stride, cells * stride, generator=torch.Generator().manual_seed(2))  # white
    rows, cols = (grid.flatten() for grid in torch.meshgrid(torch.arange(cells - 2), torch.arange(cells - 2),
                                                            indexing="ij"))
    # every cell copied from a random source cell: neighbouring copies are independent
    sources = torch.randint(0, cells - 2, (2, len(rows)), generator=torch.Generator().manual_seed(3))
    voted, _ = centre_vote(band, (rows, cols), (sources[0], sources[1]), stride, tuple(band.shape[-2:]), feather,
                           keep_energy)
    phases = energy_by_phase(voted[..., 2 * stride : -2 * stride, 2 * stride : -2 * stride], stride) / 3
    # the copies' own energy is 1 per channel; at the seams, the cross-fade of two (or four) of them loses up to 3/4
    assert phases.max() < strongest and phases.min() > flattest
    assert (phases.max() / phases.min() < 1.25) == keep_energy  # no lattice of strong cell middles


@pytest.mark.parametrize("feather, widest_step", [(0, 1.0), (2, 0.707), (4, 0.383)])
def test_centre_vote_cross_fades_the_seam_between_cells_copied_from_different_sources(feather, widest_step):
    stride = 4
    source = torch.zeros(1, 1, 8 * stride, 8 * stride)
    source[..., 4 * stride :, :] = 1  # the lower half 1
    rows, cols = torch.full((6,), 2), torch.arange(6)  # a row of queries: centre cells (3, 1..6)
    sources = (torch.tensor([0, 0, 0, 5, 5, 5]), torch.full((6,), 3))  # centre cells in the 0, then the 1 half
    voted, weights = centre_vote(source, (rows, cols), sources, stride, tuple(source.shape[-2:]), feather)
    line = voted[0, 0, 3 * stride + 1, 2 * stride : 6 * stride]  # [16]: cells 2..5, the seam between 3 and 4
    steps = line.diff()
    assert (steps >= -1e-6).all() and torch.allclose(line[[0, -1]], torch.tensor([0.0, 1.0]))
    assert steps.max() == pytest.approx(widest_step, abs=0.01)
    assert (steps > 1e-3).sum() == feather + 1  # the step spread over the feather's pixels ...
    assert torch.allclose(line + line.flip(0), torch.ones(16))  # ... centred on the seam
    with pytest.raises(ValueError, match="feather must be 0 to the stride"):
        centre_vote(source, (rows, cols), sources, stride, tuple(source.shape[-2:]), stride + 1)


def test_transfer_detail_replaces_only_the_fine_luminance_band_in_the_hole():
    generator = torch.Generator().manual_seed(1)
    truth = torch.rand(1, 3, 32, 32, generator=generator)
    fill = F.avg_pool2d(truth, 5, 1, 2)  # a blurred fill: its fine band is weaker than the truth's
    hole = torch.zeros(1, 1, 32, 32)
    hole[..., 8:24, 8:24] = 1
    weights = torch.ones_like(hole)
    assert torch.allclose(transfer_detail(fill, fine_band(fill, 1.0), weights, hole, 1.0), fill, atol=1e-6)
    detailed = transfer_detail(fill, fine_band(truth, 1.0), weights, hole, 1.0)
    outside = (hole == 0).expand_as(fill)
    assert torch.equal(detailed[outside], fill[outside])
    assert torch.allclose(to_opponent(detailed)[:, 1:], to_opponent(fill)[:, 1:], atol=1e-6)  # chroma kept
    inside = hole.bool()
    expected = to_opponent(fill)[:, :1] - fine_band(fill, 1.0) + fine_band(truth, 1.0)  # the coarse fill + the band
    assert torch.allclose(to_opponent(detailed)[:, :1][inside], expected[inside], atol=1e-5)
    assert (detailed - fill)[inside.expand_as(fill)].abs().mean() > 0.01
    unvoted = transfer_detail(fill, fine_band(truth, 1.0), torch.zeros_like(hole), hole, 1.0)
    assert torch.equal(unvoted, fill)


def test_transfer_detail_with_three_axes_replaces_the_chroma_band_too():
    generator = torch.Generator().manual_seed(1)
    truth = torch.rand(1, 3, 32, 32, generator=generator)
    fill = F.avg_pool2d(truth, 5, 1, 2)
    hole = torch.zeros(1, 1, 32, 32)
    hole[..., 8:24, 8:24] = 1
    band = fine_band(truth, 1.0, chroma=True)  # [1,3,32,32]
    assert torch.allclose(band[:, :1], fine_band(truth, 1.0), atol=1e-6)
    detailed = transfer_detail(fill, band, torch.ones_like(hole), hole, 1.0)
    outside = (hole == 0).expand_as(fill)
    assert torch.equal(detailed[outside], fill[outside])
    expected = to_opponent(fill) - fine_band(fill, 1.0, chroma=True) + band  # every axis: the coarse fill + the band
    inside = hole.bool().expand_as(fill)
    assert torch.allclose(to_opponent(detailed)[inside], expected[inside], atol=1e-5)
    assert (to_opponent(detailed) - to_opponent(fill))[:, 1:][inside[:, 1:]].abs().mean() > 0.01


def test_band_gain_raises_a_weak_band_to_the_reference_and_no_further_than_its_limit():
    band = torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    copied = torch.zeros(1, 1, 16, 16, dtype=torch.bool)
    copied[..., 4:12, 4:12] = True
    energy = band.pow(2)[copied].mean()
    assert torch.isclose(band_gain(band, copied, 4 * energy, 3.0), torch.tensor(2.0))
    assert band_gain(band, copied, 100 * energy, 3.0) == 3.0  # the limit
    assert band_gain(band, copied, 0.5 * energy, 3.0) == 1.0  # a band as strong as its surroundings: left alone
    assert band_gain(band, torch.zeros_like(copied), energy, 3.0) == 1.0  # nothing copied


def test_surrounding_energy_leaves_out_the_pixels_the_fill_reaches():
    hole = torch.zeros(1, 1, 32, 32)
    hole[..., 10:20, 12:22] = 1
    band = torch.full((1, 1, 32, 32), 2.0)
    band[..., 7:23, 9:25] = 100.0  # the hole and 3 px around it
    assert surrounding_energy(band, hole, 3) == 4.0
    assert surrounding_energy(band, hole, 2) > 4.0


def test_copy_detail_amplifies_a_band_copied_from_weak_texture_to_the_holes_surroundings():
    texture = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)).repeat(1, 1, 12, 12)  # [1,3,96,96]
    source = 0.5 + 0.1 * (texture - 0.5)
    source[..., :40, :] = 0.5 + 0.05 * (texture[..., :40, :] - 0.5)  # a strip of half the contrast
    hole = torch.zeros(1, 1, 96, 96)
    hole[..., 56:88, 32:64] = 1
    noise = torch.rand(1, 1, 96, 96, generator=torch.Generator().manual_seed(1)).expand(1, 3, 96, 96)
    source = torch.where(hole.bool(), noise, source)  # a noisy fill, whose band must not count as the surroundings'
    top, bottom, left, right = box = (44, 96, 20, 76)  # the level's crop: the hole's cells 3–10 of a stride-4 layer
    fill, crop_hole = source[..., top:bottom, left:right], hole[..., top:bottom, left:right]
    rows, cols = torch.meshgrid(torch.arange(2, 10), torch.arange(2, 10), indexing="ij")
    queries = (rows.flatten(), cols.flatten())  # their centre cells cover the hole
    matches = Matches(None, None, None, None, queries, (queries[0] - 2, queries[1] + 5))  # centre cells in the strip
    coarse = to_opponent(fill)[:, :1] - fine_band(fill, 1.0)  # [1,1,52,56] the fill without its band

    def detail(gain, chroma=False):  # the energy of the band put in the hole
        result = copy_detail(fill, crop_hole, source, lambda image: matches, 4, 1.0, 1, gain, box, chroma=chroma)
        return (to_opponent(result)[:, :1] - coarse)[crop_hole.bool()].pow(2).mean(), to_opponent(result)[:, 1:]

    assert detail(None)[0] > 0  # a band was copied
    assert detail(4.0)[0] / detail(None)[0] == pytest.approx(4.0, rel=0.05)  # the crop's known band is twice as strong
    assert detail(1.2)[0] / detail(None)[0] == pytest.approx(1.44, rel=0.02)  # the limit
    assert torch.isclose(detail(4.0, chroma=True)[0], detail(4.0)[0])  # the luminance's band is the same with colour
    chroma, plain_chroma = detail(None, chroma=True)[1], detail(None)[1]
    assert (chroma - plain_chroma).abs().max() > 0.01  # the colour band was copied ...
    assert torch.allclose(detail(4.0, chroma=True)[1], chroma, atol=1e-6)  # ... and never amplified


def test_copy_detail_in_colour_gives_a_periodic_hole_the_fine_band_of_its_true_matches():
    stride, sigma = 4, 1.0
    image, hole_cells, (rows, cols) = periodic_hole(stride)  # [1,3,128,128]
    image = 0.3 + 0.4 * image  # no result clamped to [0,1]
    hole = F.interpolate(hole_cells[None, None].float(), scale_factor=stride)  # [1,1,128,128]
    blurred = F.avg_pool2d(image, 5, 1, 2)
    fill = torch.where(hole.bool(), blurred, image)  # the hole holds a blurred copy of the truth
    matches = Matches(None, None, None, None, (rows, cols), (rows + 12, cols))  # whose band the hole does not reach
    inside = hole.bool().expand(1, 3, -1, -1)
    for chroma in (True, False):
        result = copy_detail(fill, hole, fill, lambda x: matches, stride, sigma, 1, feather=4, chroma=chroma)
        coarse = to_opponent(fill) - fine_band(fill, sigma, chroma=True)
        expected = coarse + fine_band(image, sigma, chroma=True)  # the truth's band on the blurred fill's coarse part
        got = to_opponent(result)
        axes = 3 if chroma else 1
        assert torch.allclose(got[:, :axes][inside[:, :axes]], expected[:, :axes][inside[:, :axes]], atol=1e-5)
        if not chroma:  # the colour as the fill had it
            assert torch.allclose(got[:, 1:][inside[:, 1:]], to_opponent(fill)[:, 1:][inside[:, 1:]], atol=1e-6)


@pytest.mark.parametrize("finest_iterations", [1, 3])
def test_detail_transfer_keeps_the_known_region(finest_iterations):
    image = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)).repeat(1, 1, 8, 8)  # [1,3,64,64]
    hole = torch.zeros(1, 1, 64, 64)
    hole[..., 24:40, 20:44] = 1
    settings = dict(levels=2, iterations=3, line_search=None, finest_iterations=finest_iterations,
                    window_context=None)
    network = random_vgg19(["relu3_1", "relu4_1"])
    result, info = Synthesizer(network, detail_sigma=1.0, **settings)(image, hole)
    known = (hole == 0).expand_as(image)
    assert torch.equal(result[known], image[known]) and torch.isfinite(result).all()
    assert [level["evaluations"] for level in info["levels"]] == [3, finest_iterations]
    optimized, _ = Synthesizer(network, detail_sigma=None, **settings)(image, hole)
    luminance_only, _ = Synthesizer(network, detail_sigma=1.0, detail_chroma=False, **settings)(image, hole)
    for detailed, chroma in ((result, True), (luminance_only, False)):
        change = to_opponent(detailed - optimized)[0, :, hole[0, 0] > 0]  # [3,n]: the detail step's, in the hole
        assert change[0].abs().mean() > 0.01
        assert (change[1:].abs().mean() > 0.1 * change[0].abs().mean()) == chroma


def test_the_holes_content_never_reaches_the_detailed_fill():
    image = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)).repeat(1, 1, 8, 8)  # [1,3,64,64]
    hole = torch.zeros(1, 1, 64, 64)
    hole[..., 24:40, 20:44] = 1
    other = torch.where(hole.bool(), torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)), image)
    synthesizer = Synthesizer(random_vgg19(["relu3_1", "relu4_1"]), levels=2, iterations=2, line_search=None,
                              detail_sigma=3.0, detail_rounds=2, window_context=None)
    assert torch.equal(synthesizer(image, hole)[0], synthesizer(other, hole)[0])


def fill_with(**options) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(image [1,3,64,64], hole [1,1,64,64], its fill by a small 2-level synthesis with the detail and ``options``)."""
    image = F.avg_pool2d(torch.rand(1, 3, 66, 66, generator=torch.Generator().manual_seed(0)), 3, 1)  # [1,3,64,64]
    hole = torch.zeros(1, 1, 64, 64)
    hole[..., 24:40, 20:44] = 1
    synthesizer = Synthesizer(random_vgg19(["relu3_1", "relu4_1"]), levels=2, iterations=2, line_search=None,
                              detail_sigma=2.0, window_context=None, **options)
    return image, hole, synthesizer(image, hole)[0]


def test_the_detail_penalty_changes_only_the_hole_and_needs_correlation_matching():
    _, _, plain = fill_with(detail_penalty=None)
    image, hole, penalized = fill_with(detail_penalty=0.5)
    known = (hole == 0).expand_as(image)
    assert torch.equal(penalized[known], image[known]) and not torch.equal(penalized, plain)
    with pytest.raises(ValueError, match="detail_penalty needs match_distance: ncc"):
        Synthesizer(random_vgg19(["relu3_1", "relu4_1"]), detail_penalty=0.5, match_distance="l2")


def test_the_detail_feather_changes_only_the_hole_and_is_capped_at_the_cell():
    image, hole, feathered = fill_with(detail_feather=4)
    hard, beyond = (fill_with(detail_feather=feather)[2] for feather in (0, 9))
    known = (hole == 0).expand_as(image)
    assert torch.equal(feathered[known], image[known]) and not torch.equal(feathered, hard)
    assert torch.equal(beyond, feathered)  # relu3_1's cells are 4 px: a wider feather is the cell's


@pytest.mark.parametrize("coarse_width, detailed_sizes", [(None, [64]), (40, [64]), (12, [32, 64])])
def test_a_wide_hole_gets_the_detail_one_level_coarser_too(monkeypatch, coarse_width, detailed_sizes):
    """The hole is 16 px wide: ``detail_coarse_width`` ≤ 16 adds the detail at the level before the finest."""
    image = F.avg_pool2d(torch.rand(1, 3, 66, 66, generator=torch.Generator().manual_seed(0)), 3, 1)  # [1,3,64,64]
    hole = torch.zeros(1, 1, 64, 64)
    hole[..., 24:40, 20:44] = 1
    sizes, transfer = [], Synthesizer.transfer_detail

    def recorded(synthesizer, level, x, source):
        sizes.append(source.shape[-1])
        return transfer(synthesizer, level, x, source)

    monkeypatch.setattr(Synthesizer, "transfer_detail", recorded)
    synthesizer = Synthesizer(random_vgg19(["relu3_1", "relu4_1"]), levels=2, iterations=2, line_search=None,
                              detail_sigma=2.0, window_context=None, detail_coarse_width=coarse_width)
    result = synthesizer(image, hole)[0]
    known = (hole == 0).expand_as(image)
    assert sizes == detailed_sizes and torch.equal(result[known], image[known])


def test_a_coarse_width_of_zero_is_refused():
    with pytest.raises(ValueError, match=r"synthesis.detail_coarse_width must be > 0 px or null"):
        Synthesizer(random_vgg19(["relu3_1"]), detail_coarse_width=0)
