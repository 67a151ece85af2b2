import pytest
import torch

from neuralpatch.training.masks import IRREGULAR_PRESETS, BoxMask, CenterMask, IrregularMask, MixedMask


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_center_mask_is_the_papers_centre_square():
    mask = CenterMask(0.5)(128, 128)
    assert mask.shape == (1, 128, 128)
    assert mask[0, 32:96, 32:96].eq(1).all() and mask.sum() == 64 * 64


@pytest.mark.parametrize("name", sorted(IRREGULAR_PRESETS))
def test_irregular_presets_are_binary_and_within_their_coverage(name):
    low, high = IRREGULAR_PRESETS[name]["coverage"]
    generator = IrregularMask.preset(name)
    coverages = []
    for seed in range(40):
        mask = generator(96, 128, seeded(seed))
        assert mask.shape == (1, 96, 128)
        assert set(mask.unique().tolist()) <= {0.0, 1.0}
        coverages.append(mask.mean().item())
    assert min(coverages) >= low and max(coverages) <= high, (name, min(coverages), max(coverages))
    assert max(coverages) - min(coverages) > 0.05  # masks actually vary


def test_presets_get_thicker():
    means = {name: sum(IrregularMask.preset(name)(128, 128, seeded(s)).mean().item() for s in range(20)) / 20
             for name in ("thin", "medium", "thick")}
    assert means["thin"] < means["medium"] < means["thick"]


def test_box_mask_coverage_range():
    coverages = [BoxMask((1, 3), (0.1, 0.5))(64, 64, seeded(s)).mean().item() for s in range(100)]
    assert 0.01 * 0.01 <= min(coverages) and max(coverages) <= 0.75


@pytest.mark.parametrize("generator", [BoxMask(), IrregularMask.preset("medium"),
                                       MixedMask({"box": BoxMask(), "thick": IrregularMask.preset("thick")},
                                                 {"box": 1.0, "thick": 1.0})])
def test_masks_are_deterministic_under_a_seed(generator):
    torch.manual_seed(0)  # a generator that used the global RNG instead of its seed would differ on some seed
    for seed in range(20):
        assert torch.equal(generator(64, 80, seeded(seed)), generator(64, 80, seeded(seed))), seed
    assert not torch.equal(generator(64, 80, seeded(7)), generator(64, 80, seeded(8)))


def test_mixed_mask_uses_weights():
    mixed = MixedMask({"center": CenterMask(0.5), "box": BoxMask()}, {"center": 1.0, "box": 0.0})
    assert all(torch.equal(mixed(32, 32, seeded(s)), CenterMask(0.5)(32, 32)) for s in range(10))
    with pytest.raises(ValueError, match="unknown generators"):
        MixedMask({"center": CenterMask()}, {"centre": 1.0})


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="thin"):
        IrregularMask.preset("huge")
