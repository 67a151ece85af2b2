"""What training and evaluation measure: hole metrics (PSNR, SSIM, L1/L2, sharpness) and the perceptual judge.
Shared by both pipelines, so it imports only the synthesis (the judge's network) and the top level."""

from neuralpatch.metrics.hole import hole_metrics
from neuralpatch.metrics.perceptual import LPIPSDistance, Lite0Distance, build_judge

__all__ = ["LPIPSDistance", "Lite0Distance", "build_judge", "hole_metrics"]
