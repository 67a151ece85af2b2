"""How a pyramid level is optimized: the optimizer, its evaluation budget per level, and an early stop once the
energy has stopped falling."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from neuralpatch.synthesis.lbfgs import DeviceLBFGS
from neuralpatch.synthesis.parametrization import FillParameters


class EnergyFlat(Exception):
    """Raised by a level's energy closure when the energy has stopped falling: the level ends there."""


def skip_dynamo_import() -> None:
    """torch.optim wraps ``Optimizer.add_param_group`` in ``torch._disable_dynamo``, whose first call imports
    torch._dynamo (1.2–1.7 s on 2 CPU cores, a tenth of a 256² fill) only to mark the method as never compiled.
    Nothing on the synthesis path is compiled: while torch._dynamo is not loaded, the wrapper's own cache is
    filled with the plain method, so L-BFGS never imports it (Adam's step still does; a process that loads
    torch._dynamo first keeps the wrapper as it is)."""
    method = getattr(torch.optim.Optimizer.add_param_group, "__wrapped__", None)
    if "torch._dynamo" not in sys.modules and method is not None and not hasattr(method, "__dynamo_disable"):
        setattr(method, "__dynamo_disable", method)


@dataclass(frozen=True)
class Schedule:
    """``iterations`` evaluations per level (``finest_iterations`` at the finest, null = the same) of
    ``optimizer`` (L-BFGS with ``history_size``, ``line_search``; or Adam) at ``lr``; with ``stop_window`` a level
    also ends when its ``stop_window`` latest evaluations did not bring the lowest energy ``stop_tolerance``
    (relative) below the lowest before them."""

    iterations: int = 30
    finest_iterations: int | None = None
    stop_window: int | None = None
    stop_tolerance: float = 0.005
    optimizer: str = "lbfgs"
    lr: float = 1.0
    history_size: int = 20
    line_search: str | None = "strong_wolfe"

    def budget(self, level: int, levels: int) -> int:
        """The evaluations of ``level`` (0 = coarsest) of ``levels``."""
        finest = level == levels - 1 and self.finest_iterations is not None
        return self.finest_iterations if finest else self.iterations

    def stopped_falling(self, energies: list[float]) -> bool:
        """Whether the level's energies so far (one per evaluation) say the energy has stopped falling."""
        window = self.stop_window
        if window is None or len(energies) < 2 * window:
            return False
        before, latest = min(energies[:-window]), min(energies[-window:])
        return latest > before - self.stop_tolerance * abs(before)

    def minimize(self, fill: FillParameters, closure: Callable[[], Tensor], budget: int,
                 spent: Callable[[], int]) -> None:
        """Runs the optimizer on ``fill`` until ``spent()`` evaluations reach ``budget``. While the nearest
        neighbours change between evaluations the energy is only piecewise smooth and L-BFGS can stop early (a
        failed line search); it is restarted with a fresh history until the budget is spent or a restart makes
        no progress, or the closure raises EnergyFlat. A step to a non-finite image is undone and ends the run."""
        try:
            self._run(fill, closure, budget, spent)
        except EnergyFlat:
            pass

    def _run(self, fill: FillParameters, closure: Callable[[], Tensor], budget: int, spent: Callable[[], int]) -> None:
        skip_dynamo_import()
        if self.optimizer == "adam":
            optimizer = torch.optim.Adam(fill.tensors, lr=self.lr)
            while spent() < budget:
                optimizer.step(closure)
            return
        while spent() < budget:
            start, saved = spent(), fill.snapshot()
            lbfgs = DeviceLBFGS if fill.tensors[0].is_cuda else torch.optim.LBFGS
            optimizer = lbfgs(fill.tensors, lr=self.lr, max_iter=budget - start, max_eval=budget - start,
                              history_size=self.history_size, line_search_fn=self.line_search,
                              tolerance_grad=0.0, tolerance_change=0.0)
            optimizer.step(closure)
            if not fill.finite():
                fill.restore(saved)
                break
            if spent() - start <= 2:
                break
