import math

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.functional import gaussian_blur

from neuralpatch.files import from_uint8
from neuralpatch.metrics.perceptual import Lite0Distance
from neuralpatch.synthesis.energy import gaussian_blur as blur
from neuralpatch.synthesis.holes import depth, downsample
from neuralpatch.synthesis.priors import (HarmonicPrior, LinesPrior, MeanPrior, OpenCVPrior, PatchMatchPrior,
                                         SoftenedPrior, variable_blur)
from neuralpatch.synthesis.synthesizer import Synthesizer
from neuralpatch.synthesis.texture import random_vgg19
from neuralpatch.training.data import samples_dir
from neuralpatch.training.module import ContentModule
from neuralpatch.training.prior import ContentPrior


def tiny_generator():
    return ContentModule(generator=dict(image_size=16, base_channels=4, bottleneck=8),
                         discriminator=dict(image_size=16, base_channels=4)).generator.eval()


PRIORS = {"mean": MeanPrior, "harmonic": HarmonicPrior, "telea": OpenCVPrior, "navier_stokes": lambda: OpenCVPrior("navier_stokes"),
          "softened_telea": lambda: SoftenedPrior(OpenCVPrior()), "patchmatch": PatchMatchPrior, "lines": LinesPrior,
          "content": lambda: ContentPrior(tiny_generator())}


def photo_and_hole(size=(48, 64)):
    torch.manual_seed(0)
    y, x = torch.meshgrid(torch.linspace(0, 1, size[0]), torch.linspace(0, 1, size[1]), indexing="ij")
    image = torch.stack([x, y, 0.5 + 0.3 * torch.sin(12 * x)])[None]  # smooth, so every prior has a fill to find
    hole = torch.zeros(1, 1, *size, dtype=torch.bool)
    hole[..., 14:30, 20:44] = True
    return image, hole


def linear_ramp() -> torch.Tensor:
    """``[1,3,96,96]``: each channel linear in x and y."""
    y, x = torch.meshgrid(torch.linspace(0, 1, 96), torch.linspace(0, 1, 96), indexing="ij")
    return torch.stack([0.2 + 0.6 * x, 0.8 - 0.5 * y, 0.3 + 0.3 * x + 0.2 * y])[None]


@pytest.mark.parametrize("name", list(PRIORS))
def test_each_prior_fills_only_the_hole_within_range(name):
    image, hole = photo_and_hole()
    other = torch.where(hole, torch.rand_like(image), image)  # what lies under the hole must not matter
    fill = PRIORS[name]()(image, hole)
    assert fill.shape == image.shape and fill.min() >= 0 and fill.max() <= 1
    assert torch.equal(fill[~hole.expand_as(image)], image[~hole.expand_as(image)])
    assert not torch.equal(fill[hole.expand_as(image)], image[hole.expand_as(image)])
    if name != "content":  # the network sees the masked image, so the hole's content cannot reach it either
        assert torch.equal(PRIORS[name]()(other, hole), fill)


def test_diffusion_priors_continue_a_smooth_gradient_better_than_the_mean():
    image, hole = photo_and_hole()
    diffusions = ("harmonic", "telea", "navier_stokes", "softened_telea", "lines")
    errors = {name: float((PRIORS[name]()(image, hole) - image).abs()[hole.expand_as(image)].mean())
              for name in ("mean", *diffusions)}
    assert all(errors[name] < errors["mean"] / 3 for name in diffusions), errors


def test_the_harmonic_prior_fills_a_linear_ramp_exactly_where_telea_draws_wedges():
    """A linear ramp solves Laplace's equation, so the membrane over the hole is the ramp itself; Telea's fast
    marching meets itself along the hole's diagonals."""
    image = linear_ramp()
    hole = torch.zeros(1, 1, 96, 96, dtype=torch.bool)
    hole[..., 24:72, 30:78] = True
    inside = hole.expand_as(image)
    errors = {name: float((PRIORS[name]()(image, hole) - image).abs()[inside].max()) for name in ("harmonic", "telea")}
    assert errors["harmonic"] < 2e-3 and errors["harmonic"] < errors["telea"] / 5, errors
    with pytest.raises(ValueError, match="prior.iterations must be ≥ 1"):
        HarmonicPrior(iterations=0)


def test_the_softened_prior_keeps_telea_at_the_border_and_softens_its_wedges_in_the_middle():
    """On a linear ramp Telea's fronts meet along the hole's diagonals in steps ~12× the ramp's; blurred by
    σ = ¼ of the depth, the steps in the middle shrink at least 3×, while the border's fill barely moves."""
    image = linear_ramp()
    hole = torch.zeros(1, 1, 96, 96, dtype=torch.bool)
    hole[..., 24:72, 30:78] = True
    telea, softened = OpenCVPrior()(image, hole), SoftenedPrior(OpenCVPrior())(image, hole)

    def steepest_step(fill, region):  # the largest difference of neighbouring pixels in region [1,1,95,95]
        down, right = (fill[..., 1:, :-1] - fill[..., :-1, :-1]).abs(), (fill[..., :-1, 1:] - fill[..., :-1, :-1]).abs()
        return float(torch.maximum(down, right).amax(1, keepdim=True)[region].max())

    middle = depth(hole)[..., :-1, :-1] > 8
    assert steepest_step(softened, middle) < steepest_step(telea, middle) / 3
    border = hole & (depth(hole) <= 2)
    assert float((softened - telea).abs()[border.expand_as(image)].max()) < 0.01
    assert torch.equal(SoftenedPrior(OpenCVPrior(), spread=0)(image, hole), telea)
    with pytest.raises(ValueError, match="prior.spread must be ≥ 0"):
        SoftenedPrior(OpenCVPrior(), spread=-1)


def horizon(size=96):
    """Sky over ground with a 3-px light rail across: horizontal structures a square hole cuts."""
    image = torch.empty(1, 3, size, size)
    image[..., : size // 2, :] = torch.tensor([0.3, 0.4, 0.7])[:, None, None]
    image[..., size // 2 :, :] = torch.tensor([0.3, 0.5, 0.2])[:, None, None]
    image[..., 60:63, :] = torch.tensor([0.8, 0.8, 0.8])[:, None, None]
    hole = torch.zeros(1, 1, size, size, dtype=torch.bool)
    hole[..., 24:72, 24:72] = True
    return image, hole


def test_the_lines_prior_continues_a_horizon_and_a_rail_across_the_hole():
    """Each row's two ends agree (sky, ground, rail), each column's do not: the rows carry the fill, so the rail
    runs on through the hole's middle and the horizon stays a line; Telea carries the border's colours in as
    wedges. (Near the hole's sides the diagonals through the rail, ground at both ends and nearer, win.) Alone
    and, as configured, with Telea's fill where no line agrees."""
    image, hole = horizon()
    telea = OpenCVPrior()(image, hole)
    inside = hole.expand_as(image)

    def errors(fill):  # mean in the hole, mean on the rail's middle, largest about the horizon (row 48)
        return (float((fill - image).abs()[inside].mean()), float((fill - image)[..., 60:63, 36:60].abs().mean()),
                float((fill - image)[..., 44:53, 24:72].abs().max()))

    assert all(error > bound for error, bound in zip(errors(telea), (0.04, 0.4, 0.25)))
    for prior in (LinesPrior(), LinesPrior(fallback=OpenCVPrior())):
        assert all(error < bound for error, bound in zip(errors(prior(image, hole)), (0.025, 0.15, 0.07)))
    ramp = linear_ramp()  # every line interpolates it
    assert float((LinesPrior()(ramp, hole) - ramp).abs()[inside].max()) < 0.01


def test_the_lines_prior_with_one_or_no_end():
    """A band across the whole photo: its columns have two ends, its rows none (the band's pixels are not the
    mean colour then); a hole at the photo's corner: lines with one end; a hole that is the whole photo: the mean."""
    image, _ = horizon()
    band = torch.zeros(1, 1, 96, 96, dtype=torch.bool)
    band[..., 40:50, :] = True
    fill = LinesPrior()(image, band)
    column = image[..., 39, :] * (1 - 0.5) + image[..., 50, :] * 0.5
    assert torch.allclose(fill[..., 44:46, 10:86].mean(-2), column[..., 10:86], atol=0.05)
    corner = torch.zeros_like(band)
    corner[..., :30, :30] = True
    fill = LinesPrior()(image, corner)
    assert torch.isfinite(fill).all() and torch.allclose(fill[..., :30, :30], image[..., :30, :30], atol=0.02)
    everything = torch.ones_like(band)
    assert torch.equal(LinesPrior()(image, everything), MeanPrior()(image, everything))
    for key in ("tolerance", "floor", "reach"):
        with pytest.raises(ValueError, match=f"prior.{key} must be a finite number > 0"):
            LinesPrior(**{key: 0})
    with pytest.raises(ValueError, match="prior.reach must be a whole number of px, got 2.5"):
        LinesPrior(reach=2.5)


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("steep", [False, True])
def test_the_lines_prior_with_max_slope_2_continues_an_edge_at_26_degrees(sign, steep):
    """A half-plane whose edge runs 26.6° from the horizontal (or, transposed, from the vertical), falling or
    rising, across a square hole: lines stepping 2 px per px run along it, both ends on one side, and keep it
    sharp; the four lines of ``max_slope`` 1 cross it and blur it as Telea does."""
    rows, cols = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    edge = ((cols - 48) * sign - 2 * (rows - 48) > 0).float()
    image = (0.2 + 0.6 * edge)[None, None].expand(1, 3, -1, -1).contiguous()
    hole = torch.zeros(1, 1, 96, 96, dtype=torch.bool)
    hole[..., 28:68, 28:68] = True
    if steep:
        image, hole = image.transpose(-1, -2).contiguous(), hole.transpose(-1, -2).contiguous()
    inside = hole.expand_as(image)
    four, eight = (float((LinesPrior(max_slope=slope, fallback=OpenCVPrior())(image, hole) - image).abs()[inside].mean())
                   for slope in (1, 2))
    assert eight < 0.6 * four and four > 0.9 * float((OpenCVPrior()(image, hole) - image).abs()[inside].mean())
    with pytest.raises(ValueError, match="prior.max_slope must be 1 or 2, got 3"):
        LinesPrior(max_slope=3)


def test_a_lines_end_is_the_mean_of_reach_known_pixels_along_it_and_the_fallback_takes_the_floor():
    """One column: known 0.9, 0.1, 0.2, 0.3, 0.4 | hole × 5 | known 0.5 × 4. With reach 4 the upper end is 0.25
    (0.9 lies beyond the reach), the lower 0.5; each cell interpolates them by its distances and weighs them by
    their agreement over d₁·d₂. With no line agreeing (a tolerance ≪ the photo's differences) the fill is the
    fallback's."""
    values = torch.tensor([0.9, 0.1, 0.2, 0.3, 0.4, 0, 0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5], dtype=torch.float64)
    inside = torch.zeros(14, 1, dtype=torch.bool)
    inside[5:10] = True
    line, agreeing, floor = LinesPrior(tolerance=0.1, floor=0.1, reach=4)._along(
        values[None, :, None].expand(3, -1, -1), inside, torch.ones_like(inside))
    near, far = torch.arange(1, 6, dtype=torch.float64), torch.arange(5, 0, -1, dtype=torch.float64)
    assert torch.allclose(line[:, 5:10, 0], (0.25 * far + 0.5 * near) / 6)
    assert torch.allclose(agreeing[5:10, 0], math.exp(-0.25**2 / 0.1**2) / (near * far))
    assert torch.allclose(floor[5:10, 0], 0.1 / (near * far)) and not agreeing[inside.logical_not()].any()
    image, hole = photo_and_hole()
    noise = torch.rand_like(image)
    telea = OpenCVPrior()(noise, hole)
    for prior in (LinesPrior(tolerance=1e-6, fallback=OpenCVPrior()), LinesPrior(floor=1e6, fallback=OpenCVPrior())):
        assert torch.allclose(prior(noise, hole), telea, atol=1e-5)
    assert not torch.allclose(LinesPrior(fallback=OpenCVPrior())(noise, hole), telea, atol=1e-2)


def test_variable_blur_is_the_gaussian_blur_of_each_pixels_sigma():
    image = torch.rand(1, 3, 40, 50)
    assert torch.equal(variable_blur(image, torch.zeros(1, 1, 40, 50)), image)
    for sigma in (0.5, 2.0, 4.0):
        assert torch.allclose(variable_blur(image, torch.full((1, 1, 40, 50), sigma)), blur(image, sigma), atol=1e-6)
    sigma = torch.full((1, 1, 40, 50), 4.0)
    sigma[..., :20, :] = 3.0  # between the blurs at 2 and 4 px: their mean
    mixed = variable_blur(image, sigma)
    assert torch.allclose(mixed[..., :20, :], ((blur(image, 2.0) + blur(image, 4.0)) / 2)[..., :20, :], atol=1e-6)
    assert torch.allclose(mixed[..., 20:, :], blur(image, 4.0)[..., 20:, :], atol=1e-6)


def test_the_priors_fill_is_the_start_and_the_pixel_target_of_every_level():
    image, hole = photo_and_hole((64, 80))
    synthesizer = Synthesizer(random_vgg19(["relu3_1"]), levels=3, iterations=2, line_search=None, window_context=None)
    seen = []
    optimize = synthesizer._optimize

    def recording(level, init, *rest):
        seen.append((init.clone(), level.target.clone(), level.box))
        return optimize(level, init, *rest)

    synthesizer._optimize = recording
    prior = OpenCVPrior()
    _, info = synthesizer(image, hole, prior)
    expected = prior(image, hole)
    assert torch.allclose(info["prior"], expected)
    assert len(seen) == 3 and torch.equal(seen[0][0], seen[0][1])  # the coarsest level starts from the prior
    for (_, target, (top, bottom, left, right)), size in zip(seen, synthesizer.level_sizes(64, 80)):
        assert torch.allclose(target, downsample(expected, hole.float(), size)[0][..., top:bottom, left:right])


def test_without_texture_the_fill_converges_to_the_prior():
    image, hole = photo_and_hole()
    synthesizer = Synthesizer(random_vgg19(["relu3_1"]), alpha=0, beta=0, beta_chroma=0, pixel_blur=0, levels=2,
                              iterations=20, chroma_scale=1, detail_sigma=None)
    prior = OpenCVPrior()
    result, _ = synthesizer(image, hole, prior)
    assert torch.allclose(result, prior(image, hole), atol=2e-3)
    synthesizer.chroma_scale = 4  # coarse chroma: the luminance still converges to the prior's
    result, _ = synthesizer(image, hole, prior)
    assert torch.allclose(result.mean(1), prior(image, hole).mean(1), atol=2e-3)


def shipped_photos(count=3, size=128):
    photos = sorted(samples_dir().glob("*.jpg"))[:count]
    for path in photos:
        image = Image.open(path).convert("RGB")
        side = min(image.size)
        image = image.crop((0, 0, side, side)).resize((size, size), Image.BICUBIC)
        yield from_uint8(np.array(image))


def test_judge_is_zero_for_identical_images_and_ranks_blur_then_flat_fill_worse():
    judge = Lite0Distance()
    hole = torch.zeros(1, 1, 128, 128)
    hole[..., 32:96, 32:96] = 1
    for image in shipped_photos():
        assert judge(image, image, hole) == 0
        blurred = image * (1 - hole) + gaussian_blur(image, 9, 2.0) * hole
        flat = MeanPrior()(image, hole.bool())
        scores = [judge(candidate, image, hole) for candidate in (image, blurred, flat)]
        assert scores[0] < scores[1] < scores[2], scores


def test_judge_sees_only_the_hole():
    judge = Lite0Distance()
    image = next(shipped_photos(1))
    hole = torch.zeros(1, 1, 128, 128)
    hole[..., 48:80, 48:80] = 1
    far_change = image.clone()
    far_change[..., :8, :8] = 0  # outside the hole, far from it: the hole-averaged distance barely moves
    near_change = image * (1 - hole) + hole * 0.5
    assert judge(far_change, image, hole) < 0.05 * judge(near_change, image, hole)
