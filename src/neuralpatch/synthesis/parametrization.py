"""How the optimizer sees the fill: the image itself, or its luminance at full resolution and its two chroma
axes (the orthonormal opponent transform) at 1/``chroma_scale`` resolution, bilinearly upsampled. Natural
images carry little fine chroma detail (JPEG subsamples it for that reason); a chroma optimized at a coarser
grid cannot grow the multicoloured speckle that the texture term otherwise paints on smooth regions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from neuralpatch.synthesis.energy import opponent_matrix, to_opponent


class FillParameters:
    """The optimized tensors of a fill ``[1,3,h,w]``; ``image()`` rebuilds the fill from them (differentiably)."""

    def __init__(self, init: Tensor, chroma_scale: int = 1):
        self.size, self.chroma_scale = tuple(init.shape[-2:]), chroma_scale
        self.tensors = [t.requires_grad_(True) for t in self._split(init.detach())]

    def _split(self, image: Tensor) -> list[Tensor]:
        if self.chroma_scale == 1:
            return [image.clone(memory_format=torch.contiguous_format)]
        opponent = to_opponent(image)  # [1,3,h,w]
        coarse = [-(-side // self.chroma_scale) for side in self.size]  # ceil
        return [opponent[:, :1].contiguous(), F.interpolate(opponent[:, 1:], coarse, mode="area").contiguous()]

    def image(self) -> Tensor:
        if self.chroma_scale == 1:
            return self.tensors[0]
        luminance, chroma = self.tensors
        chroma = F.interpolate(chroma, self.size, mode="bilinear", align_corners=False)  # [1,2,h,w]
        opponent = opponent_matrix(luminance.device, luminance.dtype)
        return torch.einsum("oc,nohw->nchw", opponent, torch.cat([luminance, chroma], 1))

    def assign(self, image: Tensor) -> None:
        """The parameters that give ``image`` (its chroma area-averaged to the coarse grid)."""
        with torch.no_grad():
            for tensor, value in zip(self.tensors, self._split(image)):
                tensor.copy_(value)

    def snapshot(self) -> list[Tensor]:
        return [tensor.detach().clone() for tensor in self.tensors]

    def restore(self, saved: list[Tensor]) -> None:
        with torch.no_grad():
            for tensor, value in zip(self.tensors, saved):
                tensor.copy_(value)

    def finite(self) -> bool:
        return all(bool(torch.isfinite(tensor).all()) for tensor in self.tensors)
