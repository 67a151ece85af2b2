import pytest
import torch

from neuralpatch.synthesis.holes import composite
from neuralpatch.training.module import hole_weights, weighted_l2
from neuralpatch.training.networks import ContentGenerator, Discriminator


@pytest.mark.parametrize("size", [128, 256])
def test_generator_and_discriminator_shapes(size):
    generator = ContentGenerator(image_size=size)  # the default Context Encoder widths, 4000-unit bottleneck
    image, mask = torch.rand(2, 3, size, size), torch.zeros(2, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    prediction = generator(image, mask)
    assert prediction.shape == (2, 3, size, size)
    assert 0 <= prediction.min() and prediction.max() <= 1
    assert generator.bottleneck[1].out_features == 4000
    assert Discriminator(image_size=size)(image).shape == (2, 1)


def test_generator_ignores_the_hole_content():
    generator = ContentGenerator(image_size=32, base_channels=8, bottleneck=16).eval()
    image, mask = torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    other = image.clone()
    other[..., 8:24, 8:24] = torch.rand(1, 3, 16, 16)
    assert torch.equal(generator(image, mask), generator(other, mask))


def test_image_size_must_be_a_power_of_two_multiple_of_four():
    with pytest.raises(ValueError, match="image_size"):
        ContentGenerator(image_size=100)


def test_hole_weights_are_one_in_the_hole_and_ten_on_the_border_band():
    mask = torch.zeros(1, 1, 20, 20)
    mask[..., 8:12, 8:12] = 1
    weights = hole_weights(mask, border=4, border_weight=10.0)
    assert weights[0, 0, 10, 10] == 1  # hole
    assert weights[0, 0, 4, 4] == 10 and weights[0, 0, 8, 15] == 10  # within 4 px (max-norm) of the hole
    assert weights[0, 0, 3, 10] == 0 and weights[0, 0, 0, 0] == 0  # further away
    assert (weights == 10).sum() == 12 * 12 - 4 * 4


def test_weighted_l2_and_composite():
    prediction, target = torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    weights = torch.zeros(1, 1, 4, 4)
    weights[..., 0, 0] = 3
    assert weighted_l2(prediction, target, weights) == pytest.approx(1.0)
    error = torch.zeros(1, 3, 4, 4)
    error[..., 0, 0], error[..., 2, 2] = 1.0, 2.0  # errors of 1 (weight 3) and 2 (weight 1); 0 where weight 0
    weights[..., 2, 2] = 1
    assert weighted_l2(error, target, weights) == pytest.approx((3 * 1 + 1 * 4) / 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 1, 1] = 1
    filled = composite(prediction, target, mask)
    assert filled.sum() == 3 and filled[0, :, 1, 1].eq(1).all()


@pytest.mark.parametrize("size", [128, 256])
def test_the_small_content_model_shapes_and_export_size(compose_config, size):
    model = compose_config(overrides=["model=content_small", f"data.image_size={size}"]).model
    generator = ContentGenerator(**model.generator)
    image, mask = torch.rand(2, 3, size, size), torch.zeros(2, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    assert generator(image, mask).shape == (2, 3, size, size)
    assert Discriminator(**model.discriminator)(image).shape == (2, 1)
    half_precision_mb = 2 * sum(p.numel() for p in generator.parameters()) / 2**20
    assert half_precision_mb < 30, half_precision_mb
