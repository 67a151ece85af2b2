"""The fill's parametrization: full-resolution luminance, chroma on a coarser grid."""

import pytest
import torch
import torch.nn.functional as F

from neuralpatch.metrics.hole import grain
from neuralpatch.synthesis.parametrization import FillParameters
from neuralpatch.synthesis.synthesizer import Synthesizer
from neuralpatch.synthesis.texture import random_vgg19


def test_full_resolution_parameters_are_the_image():
    image = torch.rand(1, 3, 20, 28)
    fill = FillParameters(image, 1)
    assert len(fill.tensors) == 1 and torch.equal(fill.image(), image)


@pytest.mark.parametrize("scale", [2, 4])
def test_coarse_chroma_keeps_luminance_and_smooth_colour_and_drops_colour_speckle(scale):
    generator = torch.Generator().manual_seed(0)
    smooth = F.interpolate(torch.rand(1, 3, 3, 4, generator=generator), (24, 32), mode="bilinear", align_corners=False)
    grey_detail = torch.rand(1, 1, 24, 32, generator=generator).expand(1, 3, 24, 32) * 0.2  # luminance only
    image = smooth * 0.7 + grey_detail
    fill = FillParameters(image, scale)
    luminance, chroma = fill.tensors
    assert luminance.shape == (1, 1, 24, 32) and chroma.shape == (1, 2, -(-24 // scale), -(-32 // scale))
    rebuilt = fill.image()
    assert (rebuilt.mean(1) - image.mean(1)).abs().max() < 1e-5  # the luminance is kept exactly
    assert (rebuilt - image).abs().mean() < 0.015  # smooth colour is kept (up to resampling)
    speckled = image + (torch.randn(1, 3, 24, 32, generator=generator) * 0.1 - 0.0)
    fill.assign(speckled)
    hole = torch.ones(1, 1, 24, 32)
    assert grain(fill.image(), image, hole)["grain"] < 0.5 * grain(speckled, image, hole)["grain"]
    (fill.image() * torch.rand(1, 3, 24, 32, generator=generator)).sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in fill.tensors)


def test_synthesis_with_coarse_chroma_keeps_the_known_region():
    image = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    hole = torch.zeros(1, 1, 48, 48)
    hole[..., 16:32, 12:36] = 1
    synthesizer = Synthesizer(random_vgg19(["relu3_1"]), levels=2, iterations=4, line_search=None, chroma_scale=4)
    result, _ = synthesizer(image, hole)
    known = (hole == 0).expand_as(image)
    assert torch.equal(result[known], image[known]) and torch.isfinite(result).all()
