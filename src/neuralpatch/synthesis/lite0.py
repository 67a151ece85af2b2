"""EfficientNet-Lite0's trunk (ReLU6, no squeeze-excitation, TensorFlow 'same' padding), loaded from
lukemelas/EfficientNet-PyTorch weight names: the offline ``efficientnet_lite0`` texture network and the judge's
backbone (texture.py builds it)."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

# (repeats, kernel, stride, expand, out) per stage
LITE0_STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
                (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
# stage ends as indices into the trunk (0 = stem), at strides 4 / 8 / 16 — VGG's relu3_1 / relu4_1 / relu5_1
LITE0_OUTPUTS = {"stage2": 3, "stage3": 5, "stage4": 8}
LITE0_OUTPUTS |= {"relu3_1": 3, "relu4_1": 5, "relu5_1": 8}  # aliases, so a VGG layer list works as a fallback


def lite0_trunk(state: dict[str, Tensor]) -> nn.Sequential:
    """Stem + 16 MBConv blocks, loaded from lukemelas/EfficientNet-PyTorch weight names."""
    blocks, channels = [], 32
    for repeats, kernel, stride, expand, out in LITE0_STAGES:
        for i in range(repeats):
            blocks.append(_MBConv(channels, out, kernel, stride if i == 0 else 1, expand))
            channels = out
    trunk = nn.Sequential(_Stem(), *blocks)
    renamed = {}
    for key, value in state.items():
        if key.startswith(("_conv_stem.", "_bn0.")):
            renamed["0." + key.replace("_conv_stem", "conv").replace("_bn0", "bn")] = value
        elif key.startswith("_blocks."):
            index, rest = key[len("_blocks."):].split(".", 1)
            renamed[f"{int(index) + 1}.{rest}"] = value
    trunk.load_state_dict(renamed)
    return trunk


def _same_pad(x: Tensor, kernel: int, stride: int) -> Tensor:
    """TensorFlow 'SAME' padding (asymmetric for stride 2)."""
    pads = []
    for size in x.shape[:1:-1]:  # W, then H
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class _Stem(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 32, 3, 2, 0, bias=False), nn.BatchNorm2d(32, eps=1e-3)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu6(self.bn(self.conv(_same_pad(x, 3, 2))))


class _MBConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        hidden = c_in * expand
        self.kernel, self.stride, self.residual = kernel, stride, stride == 1 and c_in == c_out
        if expand != 1:
            self._expand_conv = nn.Conv2d(c_in, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=1e-3)
        self._depthwise_conv = nn.Conv2d(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, eps=1e-3)
        self._project_conv = nn.Conv2d(hidden, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=1e-3)

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        h = F.relu6(self._bn1(self._depthwise_conv(_same_pad(h, self.kernel, self.stride))))
        h = self._bn2(self._project_conv(h))
        return x + h if self.residual else h
