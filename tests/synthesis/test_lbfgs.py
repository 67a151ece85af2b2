"""DeviceLBFGS (the synthesis's L-BFGS on a GPU) takes torch.optim.LBFGS's steps."""

import pytest
import torch

from neuralpatch.synthesis.lbfgs import DeviceLBFGS


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


@pytest.mark.parametrize("line_search", ["strong_wolfe", None])
def test_device_lbfgs_follows_torch_lbfgs(line_search):
    """The same iterates and evaluations on a 10-d Rosenbrock (float64) over 60 evaluations, restarts included,
    with and without the line search; the history (5) fills and rolls over."""
    runs = []
    for optimizer_class in (torch.optim.LBFGS, DeviceLBFGS):
        x = torch.linspace(-1.5, 1.2, 10, dtype=torch.float64).requires_grad_(True)
        losses = []

        def closure():
            x.grad = None
            loss = rosenbrock(x)
            loss.backward()
            losses.append(float(loss.detach()))
            return loss

        for _ in range(3):  # a fresh optimizer per restart, as the synthesis's schedule does
            optimizer = optimizer_class([x], lr=1 if line_search else 2e-3, max_iter=20, max_eval=20, history_size=5,
                                        line_search_fn=line_search, tolerance_grad=0.0, tolerance_change=0.0)
            optimizer.step(closure)
        runs.append((x.detach().clone(), losses))
    (x_torch, losses_torch), (x_device, losses_device) = runs
    assert len(losses_device) == len(losses_torch) >= 40
    assert losses_device == pytest.approx(losses_torch, rel=1e-9, abs=1e-12)
    assert torch.allclose(x_device, x_torch, rtol=1e-9, atol=1e-12)
    assert losses_torch[-1] < 0.9 * losses_torch[0]  # it did descend
