"""Inpainting by multi-scale neural patch synthesis: frozen texture networks, patch matching, hole geometry,
structure priors and the synthesizer that every entry point shares. Imports nothing from training, metrics or
evaluation (tests/test_layout.py)."""

from neuralpatch.synthesis.priors import HarmonicPrior, MeanPrior, OpenCVPrior, PatchMatchPrior
from neuralpatch.synthesis.synthesizer import MIN_SIDE, Prior, Synthesizer, build_synthesizer
from neuralpatch.synthesis.texture import TextureNetwork, build_texture_network

__all__ = ["MIN_SIDE", "HarmonicPrior", "MeanPrior", "OpenCVPrior", "PatchMatchPrior", "Prior", "Synthesizer",
           "TextureNetwork", "build_synthesizer", "build_texture_network"]
