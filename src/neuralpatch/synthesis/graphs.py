"""A level's energy evaluation captured once as a CUDA graph and replayed at every evaluation of the level: the
texture network's forward and backward passes, the matching and the energy terms (hundreds of small kernels)
are launched as one, with no host work between them. On a GPU the launches, not the arithmetic, bound a 512²
fill (docs/benchmarks.md); on a CPU nothing is captured."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import Tensor

from neuralpatch.files import first_line

log = logging.getLogger(__name__)


class CapturedEvaluation:
    """``evaluate()`` — it computes a tensor of the energy's values and backpropagates into the gradients of
    ``tensors``, reading nothing back to the host — captured as a CUDA graph. Each call replays it and returns its
    output: the same tensor at every call (read it before the next), the gradients in the same ``.grad`` tensors."""

    def __init__(self, evaluate: Callable[[], Tensor], tensors: list[Tensor]):
        self.device = tensors[0].device  # cuda:N, whichever device is current (serve.py's fills run in threads)
        with torch.cuda.device(self.device):
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):  # what is done once (cuBLAS / cuDNN set-up, the level's queries) before
                self._clear(tensors)
                evaluate()
            torch.cuda.current_stream().wait_stream(side)
            self._clear(tensors)  # the capture allocates the gradients its replays write
            self.graph = torch.cuda.CUDAGraph()
            # thread_local: another thread's fill on another GPU (serve.py devices=N) may allocate meanwhile
            with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
                self.output = evaluate()

    @staticmethod
    def _clear(tensors: list[Tensor]) -> None:
        for tensor in tensors:
            tensor.grad = None

    def __call__(self) -> Tensor:
        with torch.cuda.device(self.device):
            self.graph.replay()
        return self.output


def capture(evaluate: Callable[[], Tensor], tensors: list[Tensor]) -> CapturedEvaluation | None:
    """``CapturedEvaluation`` of ``evaluate``, or None (a warning; the caller evaluates eagerly) when the capture
    fails: an operation in it that the graph cannot hold."""
    try:
        return CapturedEvaluation(evaluate, tensors)
    except RuntimeError as error:
        log.warning(f"synthesis.cuda_graphs: the energy could not be captured ({first_line(error)[:200]}); "
                    "evaluating it eagerly")
        return None
