"""Inpainting methods behind one interface: ``method(image [1,3,H,W] in [0,1], hole [1,1,H,W]) -> image``.

A method is a small class taking the shared ``Resources`` (the synthesizer and content generator, built once
and only when a method asks) plus its own settings; its config file in ``conf/method/`` names it.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor

from neuralpatch.files import from_uint8, to_uint8
from neuralpatch.module import load_generator
from neuralpatch.networks import ContentGenerator, composite
from neuralpatch.synthesis import Synthesizer, build_synthesizer, content_prediction


class Resources:
    """What several methods share, built lazily from the evaluation config on ``device``."""

    def __init__(self, cfg: DictConfig, device: torch.device):
        self.cfg, self.device = cfg, device

    @cached_property
    def synthesizer(self) -> Synthesizer:
        return build_synthesizer(self.cfg.texture, self.cfg.synthesis, self.cfg.pyramid).to(self.device)

    @cached_property
    def generator(self) -> ContentGenerator:
        if not self.cfg.content.ckpt:
            raise ValueError("needs a content network: set content.ckpt=PATH (a train.py checkpoint)")
        return load_generator(self.cfg.content.ckpt, map_location=self.device)


class NeuralPatchSynthesis:
    """The full method: content prior + texture optimization (``with_content=False``: the paper's ablation)."""

    def __init__(self, resources: Resources, with_content: bool = True):
        self.resources, self.with_content = resources, with_content

    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        content = self.resources.generator if self.with_content else None
        return self.resources.synthesizer(image, hole, content)[0]


class ContentOnly:
    """The content network's prediction composited into the hole (the Context Encoder baseline)."""

    def __init__(self, resources: Resources):
        self.resources = resources

    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        return composite(content_prediction(self.resources.generator, image, hole), image, hole.float())


class PatchMatch:
    """PatchMatch pyramid inpainting (patchmatch-cython)."""

    def __init__(self, resources: Resources, patch_size: int = 5, seed: int = 0):
        from patchmatch_cython import inpaint_pyramid

        self.inpaint, self.patch_size, self.seed = inpaint_pyramid, patch_size, seed

    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        mask = hole[0, 0].bool().cpu().numpy()
        result = self.inpaint(to_uint8(image), mask, patch_size=self.patch_size, seed=self.seed)
        return composite(from_uint8(result, image.device), image, hole.float())


class Telea:
    """OpenCV's fast-marching inpainting (Telea 2004)."""

    def __init__(self, resources: Resources, radius: int = 3):
        import cv2

        self.cv2, self.radius = cv2, radius

    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        mask = hole[0, 0].cpu().numpy().astype(np.uint8)
        result = self.cv2.inpaint(to_uint8(image), mask, self.radius, self.cv2.INPAINT_TELEA)
        return composite(from_uint8(result, image.device), image, hole.float())
