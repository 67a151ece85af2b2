"""Hole masks (1 = hole, 0 = known), in the spirit of LaMa's mask family, always seeded.

Every generator is called as ``gen(height, width, generator)`` and returns a float tensor
``[1,H,W]`` of zeros and ones. With ``generator=None`` the global torch RNG is used (training);
with a seeded ``torch.Generator`` the mask is a pure function of the seed (validation, evaluation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def _randint(low: int, high: int, generator: torch.Generator | None) -> int:
    """Integer in [low, high] inclusive."""
    return int(torch.randint(low, high + 1, (), generator=generator))


@dataclass
class CenterMask:
    """The paper's centre square: side = ``size`` × the shorter image side."""

    size: float = 0.5

    def __call__(self, height: int, width: int, generator: torch.Generator | None = None) -> Tensor:
        side = round(self.size * min(height, width))
        top, left = (height - side) // 2, (width - side) // 2
        mask = torch.zeros(1, height, width)
        mask[:, top : top + side, left : left + side] = 1
        return mask


@dataclass
class BoxMask:
    """``count`` random axis-aligned rectangles, each side a ``size`` fraction of the image side."""

    count: tuple[int, int] = (1, 3)
    size: tuple[float, float] = (0.1, 0.5)

    def __call__(self, height: int, width: int, generator: torch.Generator | None = None) -> Tensor:
        mask = torch.zeros(1, height, width)
        for _ in range(_randint(*self.count, generator)):
            box_h = max(1, round(_uniform(*self.size, generator) * height))
            box_w = max(1, round(_uniform(*self.size, generator) * width))
            top = _randint(0, height - box_h, generator)
            left = _randint(0, width - box_w, generator)
            mask[:, top : top + box_h, left : left + box_w] = 1
        return mask


IRREGULAR_PRESETS = {
    # width and segment length as fractions of the shorter side; coverage = hole fraction of the image
    "thin": dict(width=(0.02, 0.05), length=(0.05, 0.25), vertices=(4, 12), coverage=(0.03, 0.25)),
    "medium": dict(width=(0.05, 0.10), length=(0.05, 0.30), vertices=(4, 10), coverage=(0.10, 0.40)),
    "thick": dict(width=(0.10, 0.18), length=(0.10, 0.35), vertices=(2, 6), coverage=(0.20, 0.50)),
}


@dataclass
class IrregularMask:
    """Free-form brush strokes: polylines of thick segments with round joints.

    Strokes are added until the hole reaches a coverage drawn from ``coverage``; a stroke that
    would exceed the upper bound is discarded, so coverage never exceeds ``coverage[1]``.
    """

    width: tuple[float, float] = (0.05, 0.10)
    length: tuple[float, float] = (0.05, 0.30)
    vertices: tuple[int, int] = (4, 10)
    coverage: tuple[float, float] = (0.10, 0.40)
    max_strokes: int = 100

    @classmethod
    def preset(cls, name: str) -> IrregularMask:
        if name not in IRREGULAR_PRESETS:
            raise ValueError(f"unknown irregular mask preset {name!r}; choose one of {sorted(IRREGULAR_PRESETS)}")
        return cls(**IRREGULAR_PRESETS[name])

    def __call__(self, height: int, width: int, generator: torch.Generator | None = None) -> Tensor:
        side = min(height, width)
        ys = torch.arange(height, dtype=torch.float32).view(height, 1)  # [H,1]
        xs = torch.arange(width, dtype=torch.float32).view(1, width)  # [1,W]
        target = _uniform(*self.coverage, generator)
        mask = torch.zeros(height, width, dtype=torch.bool)
        for _ in range(self.max_strokes):
            stroke = self._stroke(ys, xs, side, generator)
            candidate = mask | stroke
            coverage = candidate.float().mean().item()
            if coverage > self.coverage[1]:
                continue
            mask = candidate
            if coverage >= target:
                break
        return mask.float().unsqueeze(0)

    def _stroke(self, ys: Tensor, xs: Tensor, side: int, generator: torch.Generator | None) -> Tensor:
        height, width = ys.shape[0], xs.shape[1]
        radius = 0.5 * _uniform(*self.width, generator) * side
        y, x = _uniform(0, height - 1, generator), _uniform(0, width - 1, generator)
        stroke = torch.zeros(height, width, dtype=torch.bool)
        for _ in range(_randint(*self.vertices, generator)):
            angle = _uniform(0, 2 * math.pi, generator)
            step = _uniform(*self.length, generator) * side
            y_next = min(max(y + step * math.sin(angle), 0.0), height - 1.0)
            x_next = min(max(x + step * math.cos(angle), 0.0), width - 1.0)
            stroke |= _segment_distance(ys, xs, (y, x), (y_next, x_next)) <= radius
            y, x = y_next, x_next
        return stroke


def _segment_distance(ys: Tensor, xs: Tensor, start: tuple[float, float], end: tuple[float, float]) -> Tensor:
    """Distance of every pixel centre to the segment start→end, ``[H,W]``."""
    (y0, x0), (y1, x1) = start, end
    dy, dx = y1 - y0, x1 - x0
    t = ((ys - y0) * dy + (xs - x0) * dx) / max(dy * dy + dx * dx, 1e-8)
    t = t.clamp(0, 1)
    return torch.hypot(ys - (y0 + t * dy), xs - (x0 + t * dx))


class MixedMask:
    """Draws each mask from one of several generators, chosen with the given weights."""

    def __init__(self, generators: dict, weights: dict[str, float]):
        unknown = set(weights) - set(generators)
        if unknown:
            raise ValueError(f"mask weights name unknown generators {sorted(unknown)}; known: {sorted(generators)}")
        self.names = [name for name in generators if weights.get(name, 0) > 0]
        if not self.names:
            raise ValueError("MixedMask needs at least one generator with a positive weight")
        self.generators = generators
        self.weights = torch.tensor([float(weights[name]) for name in self.names])

    def __call__(self, height: int, width: int, generator: torch.Generator | None = None) -> Tensor:
        index = int(torch.multinomial(self.weights, 1, generator=generator))
        return self.generators[self.names[index]](height, width, generator)
