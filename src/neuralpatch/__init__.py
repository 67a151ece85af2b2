"""High-resolution image inpainting by multi-scale neural patch synthesis (Yang et al., CVPR 2017)."""

from neuralpatch.api import inpaint

__all__ = ["inpaint"]
