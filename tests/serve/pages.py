"""A page server over tiny syntheses (random texture network, few evaluations) for the page's tests: helpers and
the ``page_app`` fixture (imported by the test modules)."""

import io

import numpy as np
import pytest
from PIL import Image

from neuralpatch.serve import JobQueue, PageOptions, create_app
from neuralpatch.synthesis.priors import MeanPrior, OpenCVPrior
from neuralpatch.synthesis.synthesizer import Synthesizer
from neuralpatch.synthesis.texture import random_vgg19

OPTIONS = PageOptions(priors=["mean", "telea"], presets=["default", "slow"], prior="telea", preset="default")


def tiny_factory(prior: str, preset: str):
    """``slow``: enough evaluations that a fill is still running when a test cancels it or queues another."""
    iterations = 4000 if preset == "slow" else 3
    synthesizer = Synthesizer(random_vgg19(["relu3_1"]), levels=2, iterations=iterations, line_search=None)
    return synthesizer, MeanPrior() if prior == "mean" else OpenCVPrior("telea")


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def photo_array(width: int = 96, height: int = 72, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def mask_array(width: int = 96, height: int = 72) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3] = 255
    return mask


@pytest.fixture
def page_app():
    """(app, queue): one worker on the CPU."""
    import torch

    queue = JobQueue(tiny_factory, [torch.device("cpu")], max_waiting=4, keep=4)
    yield create_app(queue, OPTIONS), queue
    queue.close()
