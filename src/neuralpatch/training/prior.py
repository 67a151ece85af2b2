"""The content network as a structure prior: ``prior=content`` (see neuralpatch.synthesis.priors for the protocol)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from neuralpatch.synthesis.holes import composite
from neuralpatch.training.networks import ContentGenerator


class ContentPrior:
    """The content network's prediction (at its training size, resized back), composited into the hole.
    ``generator``: a ContentGenerator, or the path of a train.py checkpoint."""

    name = "content"

    def __init__(self, generator: ContentGenerator | str | Path | None):
        if generator is None:
            raise ValueError("prior=content needs a content network: pass prior.generator=PATH (content_ckpt=PATH in "
                             "evaluate.py), a checkpoint written by train.py")
        if isinstance(generator, (str, Path)):
            from neuralpatch.training.module import load_generator

            generator = load_generator(generator, setting="prior.generator")
        self.generator = generator

    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        size = (self.generator.image_size, self.generator.image_size)
        small = F.interpolate(image, size, mode="area")
        small_hole = (F.interpolate(hole.float(), size, mode="area") > 0).float()  # nothing of the hole leaks in
        generator = self.generator.to(image.device)
        with torch.no_grad():
            prediction = generator(small, small_hole)  # [1,3,S,S]
        prediction = F.interpolate(prediction.float(), image.shape[-2:], mode="bilinear", align_corners=False)
        return composite(prediction.clamp(0, 1), image, hole.float())
