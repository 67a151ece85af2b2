"""Content network (Context Encoder generator with ELU and a fully-connected bottleneck) and a DCGAN discriminator.

Images enter and leave in [0,1]; internally they are mapped to [-1,1].
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _depth(image_size: int) -> int:
    """Number of stride-2 stages that bring ``image_size`` down to 4."""
    depth = int(math.log2(image_size // 4)) if image_size >= 8 else 0
    if depth < 1 or 4 * 2**depth != image_size:
        raise ValueError(f"image_size must be 4·2^k with k ≥ 1 (8, 16, …, 128, 256), got {image_size}")
    return depth


def _channels(depth: int, base: int, maximum: int) -> list[int]:
    return [min(base * 2**i, maximum) for i in range(depth)]


class ContentGenerator(nn.Module):
    """Encoder-decoder: (masked image, mask) ``[N,4,S,S]`` → full-frame RGB ``[N,3,S,S]``.

    Encoder: stride-2 4×4 convs, BatchNorm, ELU down to 4×4; bottleneck: two fully-connected
    layers through ``bottleneck`` units (Context Encoder: 4000); decoder mirrors the encoder.
    """

    def __init__(self, image_size: int = 128, base_channels: int = 64, max_channels: int = 512, bottleneck: int = 4000):
        super().__init__()
        self.image_size = image_size
        channels = _channels(_depth(image_size), base_channels, max_channels)
        encoder: list[nn.Module] = [nn.Conv2d(4, channels[0], 4, 2, 1), nn.ELU()]
        for c_in, c_out in zip(channels, channels[1:]):
            encoder += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ELU()]
        self.encoder = nn.Sequential(*encoder)
        flat = channels[-1] * 4 * 4
        self.bottleneck = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, bottleneck), nn.ELU(),
            nn.Linear(bottleneck, flat), nn.ELU(), nn.Unflatten(1, (channels[-1], 4, 4)),
        )
        decoder: list[nn.Module] = []
        for c_in, c_out in zip(channels[::-1], channels[::-1][1:]):
            decoder += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ELU()]
        decoder += [nn.ConvTranspose2d(channels[0], 3, 4, 2, 1), nn.Tanh()]
        self.decoder = nn.Sequential(*decoder)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        known = (image * 2 - 1) * (1 - mask)  # [N,3,S,S], hole = 0 (mid-grey)
        x = self.encoder(torch.cat([known, mask], dim=1))  # [N,C,4,4]
        x = self.decoder(self.bottleneck(x))  # [N,3,S,S]
        return (x + 1) / 2


class Discriminator(nn.Module):
    """DCGAN discriminator: stride-2 4×4 convs with LeakyReLU(0.2) down to 4×4, then one logit per image.

    InstanceNorm (no running statistics) keeps D a pure function of its parameters, so the
    generator's step cannot change it.
    """

    def __init__(self, image_size: int = 128, base_channels: int = 64, max_channels: int = 512):
        super().__init__()
        channels = _channels(_depth(image_size), base_channels, max_channels)
        layers: list[nn.Module] = [nn.Conv2d(3, channels[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.InstanceNorm2d(c_out, affine=True), nn.LeakyReLU(0.2)]
        layers += [nn.Conv2d(channels[-1], 1, 4, 1, 0), nn.Flatten()]
        self.layers = nn.Sequential(*layers)

    def forward(self, image: Tensor) -> Tensor:
        return self.layers(image * 2 - 1)  # [N,1]
