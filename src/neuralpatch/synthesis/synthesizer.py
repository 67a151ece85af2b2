"""Multi-scale neural patch synthesis (Yang et al. 2017, §3.2–3.3): the one implementation that inpaint.py,
the training callback and evaluation call.

Per pyramid level the hole pixels x minimize  E = w_pixel·E_pixel + α·E_texture + β·E_TV, where E_pixel pulls
x towards a target (the prior's fill; from ``vote_from_level`` on, the known pixels voted by the nearest
neighbours, re-voted in EM rounds: voting.py), in pixels or in the features of ``content_layer``, E_texture
pulls every feature patch of the hole towards its nearest known patch (matching.py, patchmatch.py) and E_TV
smooths; the fill is optimized as parametrization.py builds it. ``normalize=True`` measures each term as a
mean (relative to the layer's own activation scale for the texture), so one α means the same at every size and
backbone; ``normalize=False`` keeps the paper's sums in 0–255 / Caffe units (docs/method.md). This module drives
the windows, the pyramid and the optimizer; each level's features, energy terms, matches and pixel-space steps
are in level_energy.py.
"""

from __future__ import annotations

import logging
import math
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from neuralpatch.synthesis.energy import ENERGY_TERMS, Level
from neuralpatch.synthesis.graphs import capture
from neuralpatch.synthesis.holes import downsample, edge_pads, feather_weights, hole_width, hole_windows, resize
from neuralpatch.synthesis.level_energy import LevelEnergy
from neuralpatch.synthesis.parametrization import FillParameters
from neuralpatch.synthesis.patchmatch import DiverseSearch, ExhaustiveSearch
from neuralpatch.synthesis.priors import MeanPrior
from neuralpatch.synthesis.schedule import EnergyFlat, Schedule
from neuralpatch.synthesis.settings import SETTING_RULES, check_config, check_settings
from neuralpatch.synthesis.texture import TextureNetwork, build_texture_network

log = logging.getLogger(__name__)

MIN_SIDE = 16  # px: smaller photos are refused and smaller pyramid levels skipped (VGG to relu4_1 needs ≥ 8)
Progress = Callable[[int, int, int], None]  # (level, evaluation, total evaluations)
Prior = Callable[[Tensor, Tensor], Tensor]  # (image [1,3,H,W], hole [1,1,H,W]) -> first fill [1,3,H,W]


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated since the last reset; on the CPU the process's own peak resident set (Linux:
    VmHWM, since ``ru_maxrss`` keeps the RSS of the parent that forked the process, however small the process)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) / 2**20
    status = Path("/proc/self/status")
    if status.exists():
        return int(re.search(r"VmHWM:\s+(\d+)", status.read_text()).group(1)) / 1024  # KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)


class Synthesizer(LevelEnergy, torch.nn.Module):
    """Texture network + the synthesis (energy weights, optimizer, matching) and pyramid settings."""

    def __init__(self, texture: TextureNetwork, texture_layers: list[str] | None = None, alpha: float = 5.0,
                 beta: float = 0.1, beta_chroma: float | None = 3.0, full_texture_width: float | None = 128,
                 pixel_weight: float = 1.0, normalize: bool = True, pixel_blur: float = 2.0,
                 content_layer: str | None = None, overlap_average: bool = False, rematch_every: int = 1,
                 optimizer: str = "lbfgs", iterations: int = 30, finest_iterations: int | None = 20,
                 stop_window: int | None = None, stop_tolerance: float = 0.005,
                 finest_layers: list[str] | None = ("relu3_1",), finest_levels: int = 2, lr: float = 1.0,
                 line_search: str | None = "strong_wolfe",
                 history_size: int = 20, candidate_stride: int = 2, detail_candidate_stride: int | None = 1,
                 max_candidates: int | None = 4096,
                 matcher: str = "exhaustive", match_distance: str = "ncc", match_channels: int | None = 64,
                 chroma_scale: int = 4,
                 vote_from_level: int | None = None, vote_layer: str | None = None, vote_rounds: int = 3,
                 vote_start: bool = False, detail_sigma: float | None = 2.5, detail_rounds: int = 3,
                 detail_penalty: float | None = 0.03, detail_gain: float | None = 1.5, detail_feather: int = 4,
                 detail_chroma: bool = True, detail_locality: float | None = 1.2,
                 detail_coarse_width: float | None = 128,
                 chunk_size: int = 1024, match_dtype: str = "auto", precision: str = "auto", cuda_graphs: bool = True,
                 levels: int = 3,
                 max_pixels: int = 4096 * 4096, feather: int = 0, window_context: float | None = 1.0,
                 crop_to_hole: bool = True, split_crop: bool = True, edge_padding: int = 8):
        super().__init__()
        check_settings(**{name: value for name, value in locals().items() if name in SETTING_RULES})
        self.texture = texture
        self.texture_layers = list(texture_layers or texture.outputs)
        if content_layer is not None and content_layer not in texture.outputs:
            raise ValueError(f"synthesis.content_layer {content_layer!r} is not an output of {texture.name}")
        self.alpha, self.beta, self.pixel_weight, self.normalize = alpha, beta, pixel_weight, normalize
        self.beta_chroma = beta if beta_chroma is None else beta_chroma
        self.full_texture_width = full_texture_width
        self.pixel_blur, self.content_layer = pixel_blur, content_layer
        self.overlap_average, self.rematch_every = overlap_average, rematch_every
        self.schedule = Schedule(iterations, finest_iterations, stop_window, stop_tolerance, optimizer, lr,
                                 history_size, line_search)
        self.candidate_stride, self.chunk_size, self.match_dtype = candidate_stride, chunk_size, match_dtype
        self.detail_candidate_stride = detail_candidate_stride
        self.max_candidates, self.precision, self.cuda_graphs = max_candidates, precision, cuda_graphs
        self.matcher, self.match_distance, self.match_channels = matcher, match_distance, match_channels
        self.vote_from_level, self.vote_start = vote_from_level, vote_start
        self.vote_rounds, self.chroma_scale = vote_rounds, chroma_scale
        self.detail_sigma, self.detail_rounds, self.detail_gain = detail_sigma, detail_rounds, detail_gain
        self.detail_feather, self.detail_chroma = detail_feather, detail_chroma
        self.detail_coarse_width = detail_coarse_width
        if detail_penalty and match_distance != "ncc":
            raise ValueError("synthesis.detail_penalty needs match_distance: ncc")
        self.detail_search = (DiverseSearch(detail_penalty, chunk_size=chunk_size, locality=detail_locality)
                              if detail_penalty else ExhaustiveSearch(chunk_size, detail_locality) if detail_locality
                              else None)
        self.finest_layers, self.finest_levels = (list(finest_layers) if finest_layers else None), finest_levels
        if self.finest_layers and not set(self.finest_layers) <= set(self.texture_layers):
            raise ValueError(f"synthesis.finest_layers {self.finest_layers} must be texture layers ({self.texture_layers})")
        self.vote_layer = vote_layer or min(self.texture_layers, key=lambda name: texture.strides[name])
        if self.vote_layer not in self.texture_layers:
            raise ValueError(f"synthesis.vote_layer {vote_layer!r} is not a texture layer ({self.texture_layers})")
        self.levels, self.max_pixels, self.feather, self.window_context = levels, max_pixels, feather, window_context
        self.crop_to_hole, self.split_crop, self.edge_padding = crop_to_hole, split_crop, edge_padding

    def captures(self, device: torch.device) -> bool:
        """Whether a level's evaluations on ``device`` replay a CUDA graph (``cuda_graphs``): not where matches are
        reused between evaluations (``rematch_every`` ≠ 1) or found with PatchMatch's host-side random state, nor
        at a level that votes."""
        return self.cuda_graphs and device.type == "cuda" and self.rematch_every == 1 and self.matcher == "exhaustive"

    def level_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """Coarsest first; each level doubles the previous one and the last is (height, width); levels under
        MIN_SIDE are skipped, so a small photo or window has fewer levels."""
        sizes = [(round(height / 2**k), round(width / 2**k)) for k in reversed(range(self.levels))]
        return [size for size in sizes[:-1] if min(size) >= MIN_SIDE] + sizes[-1:]

    def forward(self, image: Tensor, hole: Tensor, prior: Prior | None = None,
                progress: Progress | None = None) -> tuple[Tensor, dict]:
        """Inpaints ``image`` ``[1,3,H,W]`` in [0,1] where ``hole`` ``[1,1,H,W]`` is 1, starting from and pulled
        towards ``prior``'s fill (default: the known mean colour); returns (result equal to ``image`` outside the
        hole, info with the prior's fill, the windows and per-level timings). Each window around a part of the
        hole (``window_context``) is synthesized on its own, mirrored out by ``edge_padding`` px where its hole nears
        the photo's edge; the rest of the photo is never touched."""
        hole = hole.bool()
        if not hole.any():
            return image.clone(), {"levels": [], "prior": image.clone(), "scale": 1.0, "windows": []}
        if hole.all():
            raise ValueError("the mask covers the whole image: there is no known region to synthesize from")
        height, width = image.shape[-2:]
        if min(height, width) < MIN_SIDE:
            raise ValueError(f"a {width}×{height} image is too small: the synthesis needs ≥ {MIN_SIDE} px a side")
        windows = [(0, height, 0, width)] if self.window_context is None else hole_windows(hole, self.window_context)
        result, first_fill, info = image.clone(), image.clone(), {"levels": [], "scale": 1.0, "windows": windows}
        for number, (top, bottom, left, right) in enumerate(windows):
            box = (..., slice(top, bottom), slice(left, right))
            pads = edge_pads(hole, (top, bottom, left, right), self.edge_padding)  # (left, right, top, bottom)
            window, window_hole = (F.pad(part[box].float(), pads, mode="reflect") for part in (image, hole))
            filled, window_info = self._synthesize(window, window_hole > 0.5, prior or MeanPrior(), progress)
            inner = (..., slice(pads[2], pads[2] + bottom - top), slice(pads[0], pads[0] + right - left))
            result[box], first_fill[box] = filled[inner], window_info["prior"][inner]
            info["levels"] += [{"window": number, **level} for level in window_info["levels"]]
            info["scale"] = min(info["scale"], window_info["scale"])
        return result, info | {"prior": first_fill}

    def _synthesize(self, image: Tensor, hole: Tensor, prior: Prior, progress: Progress | None) -> tuple[Tensor, dict]:
        """The pyramid on one window ``[1,3,h,w]`` (``hole`` ``[1,1,h,w]`` bool, not empty, not everything)."""
        height, width = image.shape[-2:]
        scale = min(1.0, math.sqrt(self.max_pixels / (height * width)))
        work_size = (max(1, round(height * scale)), max(1, round(width * scale)))
        if scale < 1:
            log.warning(f"a {width}×{height} window exceeds pyramid.max_pixels={self.max_pixels}: synthesizing at "
                        f"{work_size[1]}×{work_size[0]} and upsampling the fill")
        work_image, work_hole = downsample(image, hole.float(), work_size)
        widest = hole_width(hole)  # px: the widest part of the window's hole
        narrow = min(1.0, widest / self.full_texture_width) ** 2 if self.full_texture_width else 1.0
        alpha, pixel_blur = self.alpha * narrow, self.pixel_blur * narrow  # this window's
        start = time.perf_counter()
        prior_fill = prior(work_image * ~work_hole, work_hole)  # the hole's content never reaches it
        prior_seconds = time.perf_counter() - start

        result, levels = None, []
        sizes = self.level_sizes(*work_size)
        wide = self.detail_coarse_width is not None and widest >= self.detail_coarse_width
        detailed = range(len(sizes) - (2 if wide else 1), len(sizes)) if self.detail_sigma else range(0)
        for number, size in enumerate(sizes):
            known, level_hole = downsample(work_image, work_hole.float(), size)
            target = downsample(prior_fill, work_hole.float(), size)[0]
            init = target if result is None else resize(result, size)
            if image.is_cuda:
                torch.cuda.reset_peak_memory_stats(image.device)
            start = time.perf_counter()
            voting = self.vote_from_level is not None and number >= self.vote_from_level
            finest = number >= len(sizes) - self.finest_levels and self.finest_layers is not None
            level = self.level(known, level_hole, init, target, alpha, pixel_blur, voting,
                               self.finest_layers if finest else None)
            top, bottom, left, right = level.box
            fill, energies, evaluations = self._optimize(level, init[..., top:bottom, left:right], number,
                                                        self.schedule.budget(number, len(sizes)), progress)
            result = known.clone()  # every hole pixel lies in the crop
            result[..., top:bottom, left:right] = fill
            detail_start = time.perf_counter()
            if number in detailed:  # the hole's own content never reaches the band
                detail_level = self.detail_level(level, known, level_hole, result)
                result[..., top:bottom, left:right] = self.transfer_detail(detail_level, fill, result)
            levels.append({"level": number, "size": list(size), "crop": [bottom - top, right - left],
                           "parts": max(1, len(level.parts)), "parts_share": level.parts_share,
                           "layers": list(level.layers), "alpha": alpha,
                           "pixel_blur": pixel_blur, "seconds": time.perf_counter() - start,
                           "detail_seconds": time.perf_counter() - detail_start, "evaluations": evaluations,
                           "peak_memory_mb": peak_memory_mb(image.device), **energies})

        fill = resize(result, (height, width)) if scale < 1 else result
        weights = feather_weights(hole, self.feather)
        return image * (1 - weights) + fill.clamp(0, 1) * weights, {
            "levels": levels, "prior": resize(prior_fill, (height, width)), "prior_seconds": prior_seconds, "scale": scale}

    def _optimize(self, level: Level, init: Tensor, number: int, budget: int, progress: Progress | None,
                  ) -> tuple[Tensor, dict[str, float], int]:
        """Minimizes the energy over the hole pixels of the level's crop, from ``init`` ``[1,3,h,w]``, in at most
        ``budget`` evaluations (fewer once the energy has stopped falling: ``schedule``)."""
        fill = FillParameters(init, self.chroma_scale)
        known, mask = level.known, level.hole
        evaluations, last, matches, history = 0, {}, None, []
        names = [f"energy_{term}" for term in ENERGY_TERMS] + ["energy"]

        def evaluate(reused: dict | None = None) -> tuple[Tensor, dict]:
            """The energy's terms and total ``[5]`` and the matches used (``reused`` or found anew); backpropagated."""
            x = known * (1 - mask) + fill.image() * mask
            terms, found = self.energies(x, level, reused)
            energy = (self.pixel_weight * terms["pixel"] + level.alpha * terms["texture"]
                      + self.beta * terms["tv"] + self.beta_chroma * terms["tv_chroma"])
            energy.backward()
            return torch.stack([*(terms[term] for term in ENERGY_TERMS), energy]).detach(), found

        graphed = capture(lambda: evaluate()[0], fill.tensors) \
            if self.captures(known.device) and level.vote_source is None else None

        def closure() -> Tensor:
            nonlocal evaluations, last, matches
            if graphed is not None:
                values = graphed()
            else:
                for tensor in fill.tensors:
                    tensor.grad = None
                rematch = matches is None or (self.rematch_every > 0 and evaluations % self.rematch_every == 0)
                values, matches = evaluate(None if rematch else matches)
            evaluations += 1
            last = dict(zip(names, values.tolist()))  # one read from the device per evaluation
            history.append(last["energy"])
            if progress is not None:
                progress(number, min(evaluations, budget), budget)
            if self.schedule.stopped_falling(history):
                raise EnergyFlat
            return values[-1]

        voting = level.vote_source is not None
        rounds = self.vote_rounds if voting else 1  # EM: vote (E), then optimize the energy towards it (M)
        for round_number in range(rounds):
            if voting:
                self.revote(level, known * (1 - mask) + fill.image().detach() * mask)
                if round_number == 0 and self.vote_start:
                    fill.assign(level.target)
            history.clear()  # a new vote is a new energy
            self.schedule.minimize(fill, closure, round(budget * (round_number + 1) / rounds), lambda: evaluations)
        with torch.no_grad():
            return known * (1 - mask) + fill.image().clamp(0, 1) * mask, last, evaluations


def build_synthesizer(texture: dict, synthesis: dict, pyramid: dict) -> Synthesizer:
    """From the ``texture``, ``synthesis`` and ``pyramid`` config groups (a setting out of range: InputError before
    the network loads); the texture network also returns ``synthesis.content_layer`` when the content term is
    measured in features."""
    check_config(synthesis, pyramid)
    layers, content_layer = list(texture["layers"]), synthesis.get("content_layer")
    outputs = layers + ([content_layer] if content_layer and content_layer not in layers else [])
    network = build_texture_network(**{**texture, "layers": outputs})
    return Synthesizer(network, texture_layers=layers, **synthesis, **pyramid)
