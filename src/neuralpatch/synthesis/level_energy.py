"""One pyramid level's side of the synthesis: the texture network's features, the level's constants (candidate
banks, crop, targets), the energy terms of a fill and their nearest patches, and the pixel-space steps that use
those matches (the EM vote of the pixel target, the detail transfer). ``Synthesizer`` (synthesizer.py) drives
the pyramid and the optimizer over these; the settings are its attributes."""

from __future__ import annotations

import torch
from torch import Tensor

from neuralpatch.synthesis.energy import ENERGY_TERMS, PIXEL_SCALE, Level, gaussian_blur, to_opponent, total_variation
from neuralpatch.synthesis.holes import crop_box, feature_parts, hole_cells
from neuralpatch.synthesis.matching import (Matches, Search, candidate_bank, capped_stride, find_matches,
                                            texture_energy)
from neuralpatch.synthesis.patches import QueryPatches, patch_grid
from neuralpatch.synthesis.patchmatch import build_search
from neuralpatch.synthesis.texture import fast_bfloat16
from neuralpatch.synthesis.voting import copy_detail, vote


class LevelEnergy:
    """The level methods of ``Synthesizer`` (which sets the attributes they read: ``texture``, the energy weights,
    the matching and voting settings)."""

    def bfloat16(self, device: torch.device) -> bool:
        """Whether the texture network runs in bfloat16 on ``device`` (``precision``)."""
        return self.precision == "bfloat16" or (self.precision == "auto" and fast_bfloat16(device))

    def matching_dtype(self, device: torch.device) -> torch.dtype:
        """``match_dtype``; auto: the texture network's (``precision``)."""
        if self.match_dtype == "auto":
            return torch.bfloat16 if self.bfloat16(device) else torch.float32
        return getattr(torch, self.match_dtype)

    def features(self, image: Tensor, layers: list[str] | None = None) -> dict[str, Tensor]:
        """The texture network's features (``layers``, default all) of ``image`` in float32, computed in bfloat16
        where ``precision`` says."""
        with torch.autocast(image.device.type, torch.bfloat16, enabled=self.bfloat16(image.device)):
            return {name: value.float() for name, value in self.texture(image, layers).items()}

    def level(self, known: Tensor, hole: Tensor, init: Tensor, target: Tensor, alpha: float | None = None,
              pixel_blur: float | None = None, voting: bool = False, layers: list[str] | None = None,
              candidate_stride: int | None = None) -> Level:
        """One level's constants: the candidate banks of its texture ``layers`` (default: all; every
        ``candidate_stride``-th known patch, default the setting's) from one forward pass of ``known`` ``[1,3,h,w]``
        with ``init`` in ``hole`` ``[1,1,h,w]`` (the candidates the fill can change are refreshed at each matching)
        and the crop to optimize (``crop_to_hole``; else all of it)."""
        layers = list(layers or self.texture_layers)
        outputs = layers + ([self.content_layer] if self.content_layer and self.content_layer not in layers else [])
        mask = hole.float()
        start = known * (1 - mask) + init * mask  # [1,3,h,w]: the level's image as the optimization starts
        with torch.no_grad():
            features = self.features(start, outputs)
        strides = {name: self.texture.strides[name] for name in outputs}
        cells = {name: hole_cells(hole, strides[name], value.shape[-2:]) for name, value in features.items()}
        dtype = self.matching_dtype(known.device)
        every = candidate_stride or self.candidate_stride
        banks = {name: candidate_bank(features[name], cells[name], every, dtype, self.max_candidates,
                                      self.match_distance, self.match_channels) for name in layers}
        # the crop keeps every layer's cell grid and the context the deepest one sees
        stride, context = max(strides.values()), max(self.texture.contexts[name] for name in outputs)
        height, width = hole.shape[-2:]
        # the fill changes the features up to `context` px (+ a patch, two cells) away, and those need `context` more
        around = crop_box(hole, 2 * stride + 2 * context, stride)
        box = around if self.crop_to_hole else (0, height, 0, width)
        fresh = {name: bank.computed_in(box, strides[name], context, features[name].shape[-2:], (height, width))
                 for name, bank in banks.items() if bank is not None}
        top, bottom, left, right = box
        box = (..., slice(top, bottom), slice(left, right))
        parts, unchanged = feature_parts(mask[box], stride, context) if self.split_crop else [], {}
        if parts and (top, bottom, left, right) == (0, height, 0, width):
            unchanged = features  # the crop is the level
        elif parts:
            with torch.no_grad():
                unchanged = self.features(start[box], outputs)
        target_features, content_count = {}, 0
        if self.content_layer is not None:
            with torch.no_grad():
                target_features = self.features(target[box], outputs)
            content_count = features[self.content_layer].numel()
        cells = {name: value[..., top // strides[name] :, left // strides[name] :] for name, value in cells.items()}
        alpha, pixel_blur = self.alpha if alpha is None else alpha, self.pixel_blur if pixel_blur is None else pixel_blur
        return Level((top, bottom, left, right), known[box], mask[box], target[box], cells, banks, fresh, alpha,
                     pixel_blur, target_features, content_count, build_search(self.matcher, self.chunk_size),
                     known if voting else None, target[box] if voting else None, tuple(layers), around,
                     parts=parts, unchanged=unchanged)

    def crop_features(self, x: Tensor, level: Level, layers: list[str]) -> dict[str, Tensor]:
        """``features`` of ``x`` ``[1,3,h,w]``, the level's crop: on the whole crop, or with ``split_crop`` on each
        of the level's parts, pasted over its unchanged features (the same values, fewer pixels through the
        network when the hole is scattered)."""
        if not level.parts:
            return self.features(x, layers)
        pasted = {name: level.unchanged[name].clone() for name in layers}
        for (top, bottom, left, right), (inner_top, inner_bottom, inner_left, inner_right) in level.parts:
            for name, value in self.features(x[..., top:bottom, left:right], layers).items():
                stride = self.texture.strides[name]  # every box and inner box lies on the grid of the deepest layer
                rows = slice((inner_top - top) // stride, (inner_bottom - top) // stride)
                cols = slice((inner_left - left) // stride, (inner_right - left) // stride)
                pasted[name][..., inner_top // stride : inner_bottom // stride,
                             inner_left // stride : inner_right // stride] = value[..., rows, cols]
        return pasted

    def energies(self, x: Tensor, level: Level, matches: dict[str, Matches | None] | None = None,
                 ) -> tuple[dict[str, Tensor], dict[str, Matches | None]]:
        """The energy terms (unweighted) of ``x`` ``[1,3,h,w]``, the level's crop, and the patch matches used:
        ``matches`` given: reused, else found anew in the level's banks."""
        outputs = list(level.layers) + ([self.content_layer] if self.content_layer not in (None, *level.layers) else [])
        features, hole = self.crop_features(x, level, outputs), level.hole
        units = 1.0 if self.normalize else PIXEL_SCALE
        if self.content_layer is not None:  # MSE of the features, as the authors' content loss
            difference = features[self.content_layer] - level.target_features[self.content_layer]
            pixel = difference.pow(2).sum() / level.content_count  # outside the crop the difference is 0
        else:  # mean over the hole's values (the authors' MSECriterion), optionally of low-passed images
            difference = (x - level.target) * units
            if level.pixel_blur > 0:
                difference = gaussian_blur(difference, level.pixel_blur)
            pixel = (difference * hole).pow(2).sum() / (hole.sum() * x.shape[1]).clamp_min(1)
        if matches is None:
            matches = self.nearest(features, level, level.layers)
        texture = sum(texture_energy(features[name], matches[name], self.normalize) for name in level.layers)
        if self.normalize:
            texture = texture / len(level.layers)
        opponent = to_opponent(x * units)  # [1,3,h,w]: luminance, chroma
        pixels = hole.sum() if self.normalize else 1
        tv, tv_chroma = (total_variation(opponent[:, channels], hole) / pixels for channels in (slice(1), slice(1, 3)))
        return dict(zip(ENERGY_TERMS, (pixel, texture, tv, tv_chroma))), matches

    def nearest(self, features: dict[str, Tensor], level: Level, layers: tuple[str, ...] | list[str],
                search: Search | None = None) -> dict[str, Matches | None]:
        """The nearest known patch of every patch overlapping the hole in ``features`` (of the level's crop) at each
        of ``layers`` (by ``search``, default the level's), the candidates the fill can change refreshed first."""
        matches = {}
        for name in layers:
            if name in level.fresh:
                level.banks[name].refresh(features[name], *level.fresh[name])
            shape = tuple(features[name].shape[-2:])
            if (name, shape) not in level.queries:  # the hole's patches: found at the level's first matching
                level.queries[name, shape] = QueryPatches.of(level.cells[name][..., : shape[0], : shape[1]])
            stride = self.texture.strides[name]  # the crop's top-left cell in the level's grid:
            offset = (level.box[0] // stride, level.box[2] // stride)
            matches[name] = find_matches(features[name], level.queries[name, shape], level.banks[name],
                                         search or level.search, self.overlap_average, offset)
        return matches

    def voting_layer(self, level: Level) -> str:
        """The layer whose matches vote: ``vote_layer``, or the level's first layer when the level lacks it."""
        return self.vote_layer if self.vote_layer in level.layers else level.layers[0]

    def vote_matches(self, level: Level, x: Tensor, search: Search | None = None) -> Matches | None:
        """The nearest patches of ``x`` ``[1,3,h,w]``, the level's crop, at the voting layer (by ``search``)."""
        layer = self.voting_layer(level)
        with torch.no_grad():
            return self.nearest(self.crop_features(x, level, [layer]), level, [layer], search)[layer]

    def revote(self, level: Level, x: Tensor) -> None:
        """The E-step: the level's pixel target becomes the vote of the matches of ``x`` ``[1,3,h,w]`` (the prior's
        fill where no patch voted)."""
        matches = self.vote_matches(level, x)
        if matches is not None:
            voted, weights = vote(level.vote_source, matches.queries, matches.sources,
                                  self.texture.strides[self.voting_layer(level)], tuple(level.known.shape[-2:]))
            level.target = torch.where(weights > 0, voted, level.prior_target)

    def detail_level(self, level: Level, known: Tensor, hole: Tensor, x: Tensor) -> Level:
        """The level whose matches the detail transfer copies: ``level`` (the finest, or for a wide hole the one
        before it: ``known`` ``[1,3,h,w]`` with ``hole`` ``[1,1,h,w]``), rebuilt around its optimized image ``x``
        ``[1,3,h,w]`` when ``detail_candidate_stride`` gives the voting layer more candidates than the level's bank
        has (within ``max_candidates``); the same crop, as it keeps the level's layers."""
        layer = self.voting_layer(level)
        bank = level.banks.get(layer)
        if self.detail_candidate_stride is None or bank is None:
            return level
        candidates = patch_grid(hole_cells(hole, self.texture.strides[layer], (bank.grid[0] + 2, bank.grid[1] + 2)))[1]
        if capped_stride(candidates, self.detail_candidate_stride, self.max_candidates) >= bank.stride:
            return level
        return self.level(known, hole, x, x, level.alpha, level.pixel_blur, False, list(level.layers),
                          self.detail_candidate_stride)

    def transfer_detail(self, level: Level, x: Tensor, source: Tensor) -> Tensor:
        """``x`` ``[1,3,h,w]``, the level's crop, with the fine band of the pixels of ``source`` ``[1,3,H,W]`` (the
        whole level) that its voting layer's nearest patches cover (``detail_sigma``, ``detail_rounds``; with
        ``detail_chroma``, the colour's band too; with ``detail_penalty``, the diverse search's picks; cross-faded
        ``detail_feather`` px, at most a cell, across the cell seams; with ``detail_gain``, the luminance's raised
        towards the band energy of the known pixels around the hole)."""
        stride = self.texture.strides[self.voting_layer(level)]
        with torch.no_grad():
            return copy_detail(x, level.hole, source, lambda image: self.vote_matches(level, image, self.detail_search),
                               stride, self.detail_sigma, self.detail_rounds, self.detail_gain, level.box, level.around,
                               min(self.detail_feather, stride), self.detail_chroma)
