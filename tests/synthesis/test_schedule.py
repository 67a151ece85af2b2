"""The evaluation budget per level and the early stop once the energy has stopped falling (issue #19)."""

import pytest
import torch

from neuralpatch.synthesis.schedule import Schedule
from neuralpatch.synthesis.synthesizer import Synthesizer
from neuralpatch.synthesis.texture import random_vgg19


def first_stop(schedule: Schedule, energies: list[float]) -> int | None:
    """The evaluation (1-based) after which the schedule ends the level, or None."""
    return next((n for n in range(1, len(energies) + 1) if schedule.stopped_falling(energies[:n])), None)


def test_a_falling_energy_is_never_stopped():
    schedule = Schedule(stop_window=5, stop_tolerance=0.005)
    assert first_stop(schedule, [0.99**n for n in range(100)]) is None  # 1 % per evaluation
    zigzag = [0.995**n * (1.02 if n % 2 else 1.0) for n in range(100)]  # line-search trials above the best
    assert first_stop(schedule, zigzag) is None


def test_a_flat_energy_stops_after_its_window():
    schedule = Schedule(stop_window=5, stop_tolerance=0.005)
    falling_then_flat = [0.95**n for n in range(20)] + [0.95**19 * (1 + 0.001 * (n % 3)) for n in range(30)]
    assert first_stop(schedule, falling_then_flat) == 25  # the 5 evaluations after the last fall
    assert first_stop(Schedule(stop_window=None), falling_then_flat) is None


def test_the_finest_level_has_its_own_budget():
    schedule = Schedule(iterations=30, finest_iterations=12)
    assert [schedule.budget(level, 3) for level in range(3)] == [30, 30, 12]
    assert [schedule.budget(level, 2) for level in range(2)] == [30, 12]
    assert Schedule(iterations=30).budget(2, 3) == 30


def test_synthesis_stops_a_converged_level_early_and_ends_where_the_full_budget_does():
    """Pixel term + TV only (a convex energy L-BFGS solves in a few steps): with the early stop the levels end
    before their budget, at the same fill."""
    image, hole = torch.rand(1, 3, 48, 48), torch.zeros(1, 1, 48, 48)
    hole[..., 16:32, 16:32] = 1
    settings = dict(levels=2, iterations=40, finest_iterations=None, alpha=0.0, pixel_blur=0.0, chroma_scale=1,
                    window_context=None, detail_sigma=None)
    network = random_vgg19(["relu3_1"])
    full, full_info = Synthesizer(network, **settings)(image, hole)
    early, early_info = Synthesizer(network, stop_window=4, stop_tolerance=1e-4, **settings)(image, hole)
    assert all(level["evaluations"] >= 40 for level in full_info["levels"])
    assert all(level["evaluations"] < 40 for level in early_info["levels"]), early_info["levels"]
    assert (early - full).abs().max() < 0.02


@pytest.mark.parametrize("setting", [{"stop_window": 0}, {"finest_iterations": 0}, {"stop_tolerance": -1}])
def test_schedule_settings_out_of_range_are_refused(setting):
    with pytest.raises(ValueError, match=next(iter(setting))):
        Synthesizer(random_vgg19(["relu3_1"]), **setting)


def test_the_texture_network_stops_at_the_deepest_layer_asked_for(monkeypatch):
    network = random_vgg19(["relu3_1", "relu4_1"])
    image = torch.rand(1, 3, 48, 48)
    full, shallow = network(image), network(image, ["relu3_1"])
    assert list(shallow) == ["relu3_1"] and torch.equal(shallow["relu3_1"], full["relu3_1"])
    deepest = network.outputs["relu3_1"]
    monkeypatch.setattr(network.layers[deepest + 1], "forward", lambda x: pytest.fail("computed past relu3_1"))
    network(image, ["relu3_1"])


def test_the_finest_level_can_use_fewer_layers_and_a_smaller_crop():
    network = random_vgg19(["relu3_1", "relu4_1"])
    image, hole = torch.rand(1, 3, 96, 96), torch.zeros(1, 1, 96, 96)
    hole[..., 40:56, 40:56] = 1
    settings = dict(levels=2, iterations=3, line_search=None, window_context=None)
    result, info = Synthesizer(network, finest_layers=["relu3_1"], finest_levels=1, **settings)(image, hole)
    _, full_info = Synthesizer(network, finest_layers=None, **settings)(image, hole)
    assert info["levels"][0]["crop"] == full_info["levels"][0]["crop"]  # the coarse level keeps both layers
    assert info["levels"][1]["crop"][0] < full_info["levels"][1]["crop"][0]  # relu3_1 sees less context
    assert torch.equal(result * (1 - hole), image * (1 - hole)) and torch.isfinite(result).all()
    with pytest.raises(ValueError, match="finest_layers"):
        Synthesizer(network, finest_layers=["relu5_1"])


@pytest.mark.parametrize("finest_levels, layers", [(1, [2, 2, 1]), (2, [2, 1, 1]), (5, [1, 1, 1])])
def test_finest_levels_counts_the_levels_on_the_finest_layers_from_the_finest(finest_levels, layers):
    image, hole = torch.rand(1, 3, 96, 96), torch.zeros(1, 1, 96, 96)
    hole[..., 40:56, 40:56] = 1
    _, info = Synthesizer(random_vgg19(["relu3_1", "relu4_1"]), finest_layers=["relu3_1"], finest_levels=finest_levels,
                          levels=3, iterations=2, line_search=None, window_context=None)(image, hole)
    assert [len(level["layers"]) for level in info["levels"]] == layers
    with pytest.raises(ValueError, match="finest_levels"):
        Synthesizer(random_vgg19(["relu3_1"]), finest_levels=0)
