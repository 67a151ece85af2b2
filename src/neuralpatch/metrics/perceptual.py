"""The perceptual judge of evaluation: LPIPS when its weights load, else an unlearned LPIPS-style distance.

The offline distance (Zhang et al. 2018, "lin" layers left out): unit-normalize the channel vector of every
position at several stages of ImageNet EfficientNet-Lite0, take the squared difference to the ground truth's,
average it over the hole (the hole's area fraction at that stage's resolution as weight) and sum over stages.
It is never the default texture network, so a method is not graded by the features it optimizes.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralpatch.files import first_line
from neuralpatch.synthesis.texture import efficientnet_lite0

log = logging.getLogger(__name__)

# EfficientNet-Lite0 trunk indices (0 = stem) of the stage ends at strides 2, 4, 8, 16, 32
LITE0_STAGES = {"stride2": 1, "stride4": 3, "stride8": 5, "stride16": 11, "stride32": 15}


class Lite0Distance(nn.Module):
    """Hole-averaged distance of unit-normalized EfficientNet-Lite0 activations; 0 for identical images."""

    name = "perceptual (EfficientNet-Lite0, unlearned)"

    def __init__(self):
        super().__init__()
        self.network = efficientnet_lite0(list(LITE0_STAGES), LITE0_STAGES)

    @torch.no_grad()
    def forward(self, result: Tensor, target: Tensor, hole: Tensor) -> float:
        """``result``, ``target`` ``[1,3,H,W]`` in [0,1]; ``hole`` ``[1,1,H,W]`` (1 = hole)."""
        features = self.network(torch.cat([result, target]).clamp(0, 1))  # {stage: [2,C,h,w]}
        distance = 0.0
        for stage in features.values():
            unit = stage / stage.norm(dim=1, keepdim=True).clamp_min(1e-10)
            squared = (unit[:1] - unit[1:]).pow(2).sum(1, keepdim=True)  # [1,1,h,w]
            weight = F.adaptive_avg_pool2d(hole.float(), squared.shape[-2:])  # hole fraction of each cell
            distance += float((squared * weight).sum() / weight.sum().clamp_min(1e-12))
        return distance


class LPIPSDistance(nn.Module):
    """torchmetrics' LPIPS (AlexNet) over the whole image: needs the AlexNet weights (hub cache / download)."""

    name = "LPIPS (AlexNet)"

    def __init__(self):
        super().__init__()
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        self.metric = LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True)

    @torch.no_grad()
    def forward(self, result: Tensor, target: Tensor, hole: Tensor) -> float:
        return float(self.metric(result.clamp(0, 1), target))


def build_judge(prefer_lpips: bool = True) -> nn.Module:
    """LPIPS when it loads (and ``prefer_lpips``), else the offline Lite0 distance, with one line saying why."""
    if prefer_lpips:
        try:
            return LPIPSDistance()
        except Exception as error:  # no AlexNet weights offline, a missing package
            log.warning(f"LPIPS cannot load here ({first_line(error)[:160]}); judging with the offline {Lite0Distance.name}")
    return Lite0Distance()
