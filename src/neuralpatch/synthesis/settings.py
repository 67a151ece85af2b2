"""The synthesis and pyramid settings: their valid ranges, checked before any long computation."""

from __future__ import annotations

from neuralpatch.files import InputError

SETTING_RULES = {  # Synthesizer argument: (config key, valid, what it must be)
    "optimizer": ("synthesis.optimizer", lambda v: v in ("lbfgs", "adam"), "lbfgs or adam"),
    "iterations": ("synthesis.iterations", lambda v: v >= 1, "≥ 1"),
    "finest_iterations": ("synthesis.finest_iterations", lambda v: v is None or v >= 1, "≥ 1 or null (= iterations)"),
    "stop_window": ("synthesis.stop_window", lambda v: v is None or v >= 1, "≥ 1 evaluations or null (no early stop)"),
    "stop_tolerance": ("synthesis.stop_tolerance", lambda v: v >= 0, "≥ 0"),
    "finest_layers": ("synthesis.finest_layers", lambda v: v is None or len(v) >= 1, "a list of texture layers or null"),
    "finest_levels": ("synthesis.finest_levels", lambda v: v >= 1, "≥ 1"),
    "alpha": ("synthesis.alpha", lambda v: v >= 0, "≥ 0"),
    "beta": ("synthesis.beta", lambda v: v >= 0, "≥ 0"),
    "beta_chroma": ("synthesis.beta_chroma", lambda v: v is None or v >= 0, "≥ 0 or null (= beta)"),
    "full_texture_width": ("synthesis.full_texture_width", lambda v: v is None or v > 0, "> 0 px or null"),
    "pixel_weight": ("synthesis.pixel_weight", lambda v: v >= 0, "≥ 0"),
    "pixel_blur": ("synthesis.pixel_blur", lambda v: v >= 0, "≥ 0 px"),
    "rematch_every": ("synthesis.rematch_every", lambda v: v >= 0, "≥ 0 (0 = once per level)"),
    "candidate_stride": ("synthesis.candidate_stride", lambda v: v >= 1, "≥ 1"),
    "max_candidates": ("synthesis.max_candidates", lambda v: v is None or v >= 1, "≥ 1 or null"),
    "chunk_size": ("synthesis.chunk_size", lambda v: v >= 1, "≥ 1"),
    "matcher": ("synthesis.matcher", lambda v: v in ("exhaustive", "patchmatch"), "exhaustive or patchmatch"),
    "match_channels": ("synthesis.match_channels", lambda v: v is None or v >= 1, "≥ 1 or null (all channels)"),
    "match_distance": ("synthesis.match_distance", lambda v: v in ("ncc", "l2"), "ncc or l2"),
    "chroma_scale": ("synthesis.chroma_scale", lambda v: v >= 1, "≥ 1 (1 = full-resolution chroma)"),
    "vote_rounds": ("synthesis.vote_rounds", lambda v: v >= 1, "≥ 1"),
    "vote_from_level": ("synthesis.vote_from_level", lambda v: v is None or v >= 0, "≥ 0 or null (no voting)"),
    "detail_sigma": ("synthesis.detail_sigma", lambda v: v is None or v > 0, "> 0 px or null (no detail transfer)"),
    "detail_rounds": ("synthesis.detail_rounds", lambda v: v >= 1, "≥ 1"),
    "detail_penalty": ("synthesis.detail_penalty", lambda v: v is None or v >= 0, "≥ 0 or null (no penalty)"),
    "detail_gain": ("synthesis.detail_gain", lambda v: v is None or v >= 1, "≥ 1 or null (the band as copied)"),
    "detail_feather": ("synthesis.detail_feather", lambda v: isinstance(v, int) and v >= 0,
                       "an integer ≥ 0 (px cross-faded across the detail's cell seams; 0 = hard seams)"),
    "detail_chroma": ("synthesis.detail_chroma", lambda v: isinstance(v, bool), "true or false"),
    "detail_locality": ("synthesis.detail_locality", lambda v: v is None or v >= 0,
                        "≥ 0 or null (no preference for nearby sources)"),
    "detail_coarse_width": ("synthesis.detail_coarse_width", lambda v: v is None or v > 0,
                            "> 0 px or null (the detail at the finest level only)"),
    "detail_candidate_stride": ("synthesis.detail_candidate_stride", lambda v: v is None or v >= 1,
                                "≥ 1 or null (the finest level's own candidates)"),
    "precision": ("synthesis.precision", lambda v: v in ("auto", "float32", "bfloat16"), "auto, float32 or bfloat16"),
    "match_dtype": ("synthesis.match_dtype", lambda v: v in ("auto", "float32", "bfloat16", "float16"),
                    "auto, float32, bfloat16 or float16"),
    "cuda_graphs": ("synthesis.cuda_graphs", lambda v: isinstance(v, bool), "true or false"),
    "levels": ("pyramid.levels", lambda v: v >= 1, "≥ 1"),
    "max_pixels": ("pyramid.max_pixels", lambda v: v >= 64, "≥ 64"),
    "feather": ("pyramid.feather", lambda v: v >= 0, "≥ 0 px"),
    "window_context": ("pyramid.window_context", lambda v: v is None or v >= 0, "≥ 0 or null"),
    "split_crop": ("pyramid.split_crop", lambda v: isinstance(v, bool), "true or false"),
    "edge_padding": ("pyramid.edge_padding", lambda v: isinstance(v, int) and v >= 0, "an integer ≥ 0 px"),
}


def check_settings(**settings) -> None:
    """A ValueError naming the first setting (config key and value) out of its range, and what it must be."""
    for name, value in settings.items():
        key, valid, wanted = SETTING_RULES.get(name, (name, lambda v: True, ""))
        try:
            ok = valid(value)
        except TypeError:  # a string where a number belongs
            ok = False
        if not ok:
            raise ValueError(f"{key} must be {wanted}, got {value!r}")


def check_config(synthesis: dict, pyramid: dict) -> None:
    """``check_settings`` on the ``synthesis`` and ``pyramid`` config groups, as an InputError."""
    try:
        check_settings(**synthesis, **pyramid)
    except ValueError as error:
        raise InputError(str(error)) from None
