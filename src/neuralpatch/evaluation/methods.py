"""Inpainting methods behind one interface: ``method(image [1,3,H,W] in [0,1], hole [1,1,H,W]) -> image``.

A method is a small class taking the shared ``Resources`` (the synthesizer, built once and only when a method
asks) plus its own settings, a prior among them; its config file in ``conf/method/`` names it.
"""

from __future__ import annotations

from functools import cached_property

import torch
from omegaconf import DictConfig
from torch import Tensor

from neuralpatch.synthesis.synthesizer import Prior, Synthesizer, build_synthesizer


class Resources:
    """What several methods share, built lazily from the evaluation config on ``device``."""

    def __init__(self, cfg: DictConfig, device: torch.device):
        self.cfg, self.device = cfg, device

    @cached_property
    def synthesizer(self) -> Synthesizer:
        return build_synthesizer(self.cfg.texture, self.cfg.synthesis, self.cfg.pyramid).to(self.device)


class NeuralPatchSynthesis:
    """The method: texture optimization started from, and pulled towards, ``prior``'s fill."""

    def __init__(self, resources: Resources, prior: Prior):
        self.resources, self.prior = resources, prior

    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        return self.resources.synthesizer(image, hole, self.prior)[0]


class PriorOnly:
    """A prior's fill alone (Telea, Navier-Stokes, PatchMatch, the content network): the baselines."""

    def __init__(self, resources: Resources, prior: Prior):
        self.prior = prior

    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        return self.prior(image * (1 - hole), hole.bool())
