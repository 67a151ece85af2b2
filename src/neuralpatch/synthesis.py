"""Multi-scale neural patch synthesis (Yang et al. 2017, §3.2–3.3): the one implementation that inpaint.py,
the training callback and evaluation call.

Per pyramid level the hole pixels x minimize  E = w_pixel·E_pixel + α·E_texture + β·E_TV, where
E_pixel = mean_hole (x − target)², E_texture = Σ_layers Σ_query ‖patch(x) − nearest known patch‖²,
E_TV = Σ (∇x)², in the paper's units (pixels on the 0–255 scale, features in Caffe scale) and normalized as
the authors' code, so the paper's α = β = 5e-6 keep their meaning (docs/method.md).
"""

from __future__ import annotations

import logging
import math
import resource
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from neuralpatch.networks import ContentGenerator
from neuralpatch.texture import TextureNetwork, build_texture_network

log = logging.getLogger(__name__)

PIXEL_SCALE = 255.0  # energies are measured on the 0–255 scale, as in the paper
Progress = Callable[[int, int, int], None]  # (level, evaluation, total evaluations)


def patch_grid(hole: Tensor) -> tuple[Tensor, Tensor]:
    """For every 3×3 patch position (top-left corner, valid positions ``[h-2,w-2]``) of ``hole`` ``[1,1,h,w]``:
    (the patch overlaps the hole → query, the patch lies wholly in the known region → candidate)."""
    overlaps = F.max_pool2d(hole.float(), 3, stride=1)[0, 0] > 0  # [h-2,w-2]
    return overlaps, ~overlaps


def gather_patches(features: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """3×3 patches of ``features`` ``[C,h,w]`` with top-left corners (rows, cols) → ``[n,C,3,3]``."""
    offsets = torch.arange(3, device=features.device)
    r = (rows[:, None] + offsets)[:, :, None]  # [n,3,1]
    c = (cols[:, None] + offsets)[:, None, :]  # [n,1,3]
    return features[:, r, c].permute(1, 0, 2, 3)


def nearest_patches(region: Tensor, candidates: Tensor, chunk_size: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Index of the best-matching candidate for every 3×3 patch of ``region`` ``[1,C,h,w]``, by normalized
    cross-correlation: one convolution with the L2-normalized candidates ``[P,C,3,3]`` + max (the query's
    own norm does not change the argmax). Chunked over candidates so memory stays ``chunk_size·h·w``.
    Returns ``[h-2,w-2]`` indices into ``candidates``."""
    norms = candidates.flatten(1).norm(dim=1).clamp_min(1e-8).view(-1, 1, 1, 1)
    height, width = region.shape[-2:]
    best_score = torch.full((height - 2, width - 2), -math.inf, device=region.device)
    best_index = torch.zeros_like(best_score, dtype=torch.long)
    for start in range(0, candidates.shape[0], chunk_size):
        filters = (candidates[start : start + chunk_size] / norms[start : start + chunk_size]).to(dtype)
        scores = F.conv2d(region.to(dtype), filters)[0].float()  # [p,h-2,w-2]
        score, index = scores.max(dim=0)
        better = score > best_score
        best_score = torch.where(better, score, best_score)
        best_index = torch.where(better, index + start, best_index)
    return best_index


def texture_energy(features: Tensor, hole: Tensor, stride: int, chunk_size: int, dtype: torch.dtype) -> Tensor:
    """Σ over patches overlapping the hole of ‖patch − nearest known patch‖² for one layer ``[1,C,h,w]``;
    the gradient flows through the query patches only. ``stride`` subsamples the candidates."""
    if min(features.shape[-2:]) < 3:
        return features.new_zeros(())
    queries, candidates = patch_grid(hole)
    if stride > 1:
        on_grid = torch.zeros_like(candidates)
        on_grid[::stride, ::stride] = True
        candidates &= on_grid
    if not queries.any() or not candidates.any():
        return features.new_zeros(())
    q_rows, q_cols = queries.nonzero(as_tuple=True)
    c_rows, c_cols = candidates.nonzero(as_tuple=True)
    known = features.detach()[0]  # [C,h,w]
    top, left, bottom, right = q_rows.min(), q_cols.min(), q_rows.max(), q_cols.max()
    region = known[None, :, top : bottom + 3, left : right + 3]  # patches of every query position
    with torch.no_grad():
        best = nearest_patches(region, gather_patches(known, c_rows, c_cols), chunk_size, dtype)
        match = best[q_rows - top, q_cols - left]  # [Q]
        targets = gather_patches(known, c_rows[match], c_cols[match])  # [Q,C,3,3]
    return (gather_patches(features[0], q_rows, q_cols) - targets).pow(2).sum()


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated since the last reset; on the CPU the process's peak resident set."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def total_variation(image: Tensor) -> Tensor:
    return (image[..., 1:, :] - image[..., :-1, :]).pow(2).sum() + (image[..., :, 1:] - image[..., :, :-1]).pow(2).sum()


def downsample(image: Tensor, hole: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Box-filtered (image, hole) at ``size``; a coarse pixel whose cell touches the hole is hole, so no hole
    content leaks into the known region."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image, hole > 0
    return F.interpolate(image, size, mode="area"), F.interpolate(hole.float(), size, mode="area") > 0


def resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    return image if tuple(image.shape[-2:]) == tuple(size) else F.interpolate(image, size, mode="bilinear", align_corners=False)


def content_prediction(generator: ContentGenerator, image: Tensor, hole: Tensor) -> Tensor:
    """The content network's full-frame prediction at its training size, resized to the image's size."""
    size = (generator.image_size, generator.image_size)
    small, small_hole = downsample(image, hole.float(), size)
    with torch.no_grad():
        prediction = generator(small, small_hole.float())  # [1,3,S,S]
    return resize(prediction.float(), tuple(image.shape[-2:])).clamp(0, 1)


def feather_weights(hole: Tensor, width: int) -> Tensor:
    """1 deep inside the hole, ramping to 1/(width+1) at its edge over ``width`` px, 0 outside."""
    if width <= 0:
        return hole.float()
    depth, inside = torch.zeros_like(hole, dtype=torch.float32), hole.float()
    for _ in range(width + 1):
        depth += inside
        inside = 1 - F.max_pool2d(1 - inside, 3, stride=1, padding=1)  # erode by one pixel
    return depth.clamp(max=width + 1) / (width + 1)


class Synthesizer(torch.nn.Module):
    """Texture network + the synthesis (``alpha``, ``beta``, optimizer …) and pyramid settings."""

    def __init__(self, texture: TextureNetwork, alpha: float = 5e-6, beta: float = 5e-6, pixel_weight: float = 1.0,
                 optimizer: str = "lbfgs", iterations: int = 100, lr: float = 1.0, line_search: str | None = "strong_wolfe",
                 history_size: int = 20, candidate_stride: int = 2, chunk_size: int = 1024, match_dtype: str = "float32",
                 levels: int = 3, max_pixels: int = 4096 * 4096, feather: int = 0):
        super().__init__()
        if optimizer not in ("lbfgs", "adam"):
            raise ValueError(f"synthesis.optimizer must be lbfgs or adam, got {optimizer!r}")
        if levels < 1:
            raise ValueError(f"pyramid.levels must be ≥ 1, got {levels}")
        self.texture = texture
        self.alpha, self.beta, self.pixel_weight = alpha, beta, pixel_weight
        self.optimizer, self.iterations, self.lr = optimizer, iterations, lr
        self.line_search, self.history_size = line_search, history_size
        self.candidate_stride, self.chunk_size, self.match_dtype = candidate_stride, chunk_size, getattr(torch, match_dtype)
        self.levels, self.max_pixels, self.feather = levels, max_pixels, feather

    def level_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """Coarsest first; each level doubles the previous one and the last is (height, width)."""
        return [(max(1, round(height / 2**k)), max(1, round(width / 2**k))) for k in reversed(range(self.levels))]

    def forward(self, image: Tensor, hole: Tensor, content: ContentGenerator | None = None,
                progress: Progress | None = None) -> tuple[Tensor, dict]:
        """Inpaints ``image`` ``[1,3,H,W]`` in [0,1] where ``hole`` ``[1,1,H,W]`` is 1; returns (result equal to
        ``image`` outside the hole, info with the content prediction and per-level timings)."""
        hole = hole.bool()
        if not hole.any():
            return image.clone(), {"levels": [], "content": None, "scale": 1.0}
        if hole.all():
            raise ValueError("the mask covers the whole image: there is no known region to synthesize from")
        height, width = image.shape[-2:]
        scale = min(1.0, math.sqrt(self.max_pixels / (height * width)))
        work_size = (max(1, round(height * scale)), max(1, round(width * scale)))
        if scale < 1:
            log.warning(f"{width}×{height} exceeds pyramid.max_pixels={self.max_pixels}: synthesizing at "
                        f"{work_size[1]}×{work_size[0]} and upsampling the fill")
        work_image, work_hole = downsample(image, hole.float(), work_size)
        prediction = content_prediction(content, work_image, work_hole) if content is not None else None

        result, levels = None, []
        for level, size in enumerate(self.level_sizes(*work_size)):
            known, level_hole = downsample(work_image, work_hole.float(), size)
            if result is None:
                mean = (known * ~level_hole).sum((2, 3), keepdim=True) / (~level_hole).sum().clamp_min(1)
                init = resize(prediction, size) if prediction is not None else mean.expand_as(known)
                target = resize(prediction, size) if prediction is not None else None
            else:
                init = resize(result, size)
                target = resize(prediction, size) if prediction is not None else init
            if image.is_cuda:
                torch.cuda.reset_peak_memory_stats(image.device)
            start = time.perf_counter()
            result, energies, evaluations = self._optimize(known, level_hole, init, target, level, progress)
            levels.append({"level": level, "size": list(size), "seconds": time.perf_counter() - start,
                           "evaluations": evaluations, "peak_memory_mb": peak_memory_mb(image.device), **energies})

        fill = resize(result, (height, width)) if scale < 1 else result
        weights = feather_weights(hole, self.feather)
        return image * (1 - weights) + fill.clamp(0, 1) * weights, {
            "levels": levels, "content": None if prediction is None else resize(prediction, (height, width)), "scale": scale}

    def energies(self, x: Tensor, hole: Tensor, target: Tensor | None) -> dict[str, Tensor]:
        """The three energy terms (unweighted) of the image ``x`` ``[1,3,h,w]``."""
        pixel = x.new_zeros(())
        if target is not None:  # mean over the hole's values, as the MSECriterion of the authors' Torch code
            pixel = ((x - target) * hole * PIXEL_SCALE).pow(2).sum() / (hole.sum() * x.shape[1]).clamp_min(1)
        texture = x.new_zeros(())
        for features in self.texture(x).values():
            feature_hole = F.adaptive_max_pool2d(hole.float(), features.shape[-2:]) > 0
            texture = texture + texture_energy(features, feature_hole, self.candidate_stride, self.chunk_size, self.match_dtype)
        return {"pixel": pixel, "texture": texture, "tv": total_variation(x * PIXEL_SCALE)}

    def _optimize(self, known: Tensor, hole: Tensor, init: Tensor, target: Tensor | None, level: int,
                  progress: Progress | None) -> tuple[Tensor, dict[str, float], int]:
        fill = init.detach().clone().requires_grad_(True)
        mask = hole.float()
        evaluations, last = 0, {}

        def closure() -> Tensor:
            nonlocal evaluations, last
            optimizer.zero_grad()
            x = known * (1 - mask) + fill * mask
            terms = self.energies(x, mask, target)
            energy = self.pixel_weight * terms["pixel"] + self.alpha * terms["texture"] + self.beta * terms["tv"]
            energy.backward()
            evaluations += 1
            last = {f"energy_{k}": float(v.detach()) for k, v in terms.items()} | {"energy": float(energy.detach())}
            if progress is not None:
                progress(level, min(evaluations, self.iterations), self.iterations)
            return energy

        if self.optimizer == "adam":
            optimizer = torch.optim.Adam([fill], lr=self.lr)
            for _ in range(self.iterations):
                optimizer.step(closure)
        else:
            # The nearest neighbours change between evaluations, so the energy is only piecewise smooth and
            # L-BFGS can stop early (a failed line search); it is restarted with a fresh history until the
            # evaluation budget is spent or a restart makes no progress.
            while evaluations < self.iterations:
                start = evaluations
                optimizer = torch.optim.LBFGS([fill], lr=self.lr, max_iter=self.iterations - evaluations,
                                              max_eval=self.iterations - evaluations, history_size=self.history_size,
                                              line_search_fn=self.line_search, tolerance_grad=0.0, tolerance_change=0.0)
                optimizer.step(closure)
                if evaluations - start <= 2:
                    break
        with torch.no_grad():
            return (known * (1 - mask) + fill.clamp(0, 1) * mask), last, evaluations


def build_synthesizer(texture: dict, synthesis: dict, pyramid: dict) -> Synthesizer:
    """From the ``texture``, ``synthesis`` and ``pyramid`` config groups."""
    return Synthesizer(build_texture_network(**texture), **synthesis, **pyramid)
