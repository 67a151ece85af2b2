"""The CUDA-graph evaluation (synthesis.cuda_graphs) fills as the eager one does (those tests need a GPU and are
skipped without one), and which settings replay a graph."""

import logging

import pytest
import torch

from neuralpatch.synthesis import graphs
from neuralpatch.synthesis.lbfgs import DeviceLBFGS
from neuralpatch.synthesis.priors import MeanPrior
from neuralpatch.synthesis.synthesizer import Synthesizer
from neuralpatch.synthesis.texture import build_texture_network

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def photo_and_hole(size: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth gradient with stripes (structure to match) and a centred square hole, on the GPU."""
    rows, cols = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    image = torch.stack([rows, cols, 0.5 + 0.4 * torch.sin(cols * 40)])[None]  # [1,3,H,W]
    hole = torch.zeros(1, 1, size, size)
    hole[..., size // 3 : 2 * size // 3, size // 3 : 2 * size // 3] = 1
    return image.cuda(), hole.cuda()


@cuda
def test_a_replay_evaluates_the_parameters_as_they_are_now():
    """Captured once, replayed after the parameters moved: the energy terms and the gradient of an eager
    evaluation at the new parameters (float32; the matches' atomic sums differ only in rounding)."""
    network = build_texture_network("random", ["relu3_1", "relu4_1"]).cuda()
    synthesizer = Synthesizer(network, precision="float32", match_dtype="float32")
    image, hole = photo_and_hole()
    init = MeanPrior()(image, hole)
    level = synthesizer.level(image, hole, init, init)
    top, bottom, left, right = level.box
    x = init[..., top:bottom, left:right].clone().requires_grad_(True)

    def evaluate() -> torch.Tensor:
        terms, _ = synthesizer.energies(level.known * (1 - level.hole) + x * level.hole, level)
        energy = sum(terms.values())
        energy.backward()
        return torch.stack([*terms.values(), energy]).detach()

    before = evaluate()
    captured = graphs.CapturedEvaluation(evaluate, [x])
    with torch.no_grad():
        x.add_(0.05 * torch.randn(x.shape, generator=torch.Generator(x.device).manual_seed(0), device=x.device))
    replayed, replayed_grad = captured().clone(), x.grad.clone()
    x.grad = None
    eager = evaluate()
    assert not torch.allclose(replayed, before, rtol=1e-3)  # the replay saw the moved parameters
    assert torch.allclose(replayed, eager, rtol=1e-4), (replayed, eager)
    assert torch.allclose(replayed_grad, x.grad, rtol=1e-3, atol=1e-6 * x.grad.abs().max())


@cuda
@pytest.mark.parametrize("chroma_scale", [1, 4])
def test_graph_replays_fill_as_the_eager_evaluation(monkeypatch, caplog, chroma_scale):
    """Same settings with and without the graph: the captured evaluation is replayed at every evaluation (no
    fallback warning) and the fills agree (the atomic sums' rounding can flip a near-tie match: on average)."""
    replays, steps, step = [], [], DeviceLBFGS.step
    monkeypatch.setattr(graphs.CapturedEvaluation, "__call__",
                        lambda self: replays.append(1) or (self.graph.replay() or self.output))
    monkeypatch.setattr(DeviceLBFGS, "step", lambda self, closure: steps.append(1) or step(self, closure))
    network = build_texture_network("random", ["relu3_1", "relu4_1"]).cuda()
    image, hole = photo_and_hole()
    fills = []
    for graphed in (False, True):
        synthesizer = Synthesizer(network, iterations=6, levels=2, precision="float32", match_dtype="float32",
                                  chroma_scale=chroma_scale, cuda_graphs=graphed, window_context=None)
        with caplog.at_level(logging.WARNING):
            fills.append(synthesizer(image, hole, MeanPrior())[0])
    assert not [r for r in caplog.records if "could not be captured" in r.getMessage()]
    assert len(replays) >= 2 * 6  # every evaluation of both levels
    assert steps  # the L-BFGS that keeps its coefficients on the device
    assert torch.isfinite(fills[1]).all()
    assert (fills[0] - fills[1]).abs().mean() < 0.01, (fills[0] - fills[1]).abs().mean()


@cuda
def test_levels_that_match_once_are_not_captured(monkeypatch):
    """rematch_every ≠ 1 reuses matches between evaluations, which one graph cannot: evaluated eagerly."""
    monkeypatch.setattr(graphs, "CapturedEvaluation", lambda *args: pytest.fail("captured"))
    network = build_texture_network("random", ["relu3_1"]).cuda()
    image, hole = photo_and_hole(64)
    Synthesizer(network, iterations=3, levels=1, rematch_every=0, window_context=None)(image, hole, MeanPrior())


def test_which_settings_replay_a_graph():
    """The default on a CUDA device; never on a CPU, nor where matches are reused or PatchMatch searches."""
    network = build_texture_network("random", ["relu3_1"])
    gpu, cpu = torch.device("cuda"), torch.device("cpu")
    assert Synthesizer(network).captures(gpu) and not Synthesizer(network).captures(cpu)
    assert not Synthesizer(network, cuda_graphs=False).captures(gpu)
    assert not Synthesizer(network, rematch_every=0).captures(gpu)
    assert not Synthesizer(network, matcher="patchmatch").captures(gpu)
