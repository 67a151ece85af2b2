"""``neuralpatch.inpaint(image, mask)``: the default synthesis in one call, as ``cv2.inpaint`` is.

Accepts PIL images, numpy arrays (``[H,W,3]`` uint8 or float in [0,1]; masks ``[H,W]``) or tensors
(``[3,H,W]`` / ``[1,3,H,W]`` in [0,1]; masks ``[H,W]`` / ``[1,1,H,W]``) and returns the same kind as ``image``.
The mask's hole is every non-zero pixel (PIL masks: as mask files, ``files.mask_from_image``). The defaults
are those of ``conf/inpaint.yaml`` (a test keeps them equal).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from neuralpatch.files import InputError, from_uint8, mask_from_image, resolve_device, to_8bit, to_uint8
from neuralpatch.synthesis.priors import LinesPrior, OpenCVPrior, SoftenedPrior
from neuralpatch.synthesis.synthesizer import Prior, Synthesizer
from neuralpatch.synthesis.texture import build_texture_network

DEFAULT_TEXTURE = {"name": "vgg19", "layers": ["relu3_1", "relu4_1"]}


def default_prior() -> SoftenedPrior:
    """The default prior (``conf/prior/softened_lines.yaml``): straight lines whose ends agree continued across the
    hole, Telea's fill elsewhere, softened towards the hole's middle."""
    return SoftenedPrior(LinesPrior(fallback=OpenCVPrior("telea")))


@lru_cache(maxsize=4)
def default_synthesizer(device: str) -> Synthesizer:
    """The default synthesizer (texture network loaded once per device)."""
    return Synthesizer(build_texture_network(**DEFAULT_TEXTURE)).to(device)


def _image_tensor(image) -> Tensor:
    if isinstance(image, Image.Image):
        image = np.asarray(to_8bit(image).convert("RGB"))
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"image array has shape {image.shape}; pass [H,W,3] RGB")
        image = from_uint8(image) if image.dtype == np.uint8 else torch.from_numpy(np.array(image)).permute(2, 0, 1)
    if not isinstance(image, Tensor):
        raise InputError(f"image is a {type(image).__name__}; pass a PIL image, a numpy array or a tensor")
    image = image[None] if image.dim() == 3 else image
    if image.dim() != 4 or image.shape[:2] != (1, 3):
        raise InputError(f"image tensor has shape {tuple(image.shape)}; pass [3,H,W] or [1,3,H,W] in [0,1]")
    return image.float()


def _mask_tensor(mask, size: tuple[int, int]) -> Tensor:
    if isinstance(mask, Image.Image):
        mask = mask_from_image(mask)
    hole = torch.as_tensor(np.asarray(mask) if isinstance(mask, np.ndarray) else mask) != 0
    hole = hole.reshape(hole.shape[-2:]) if hole.dim() > 2 and hole.shape[:-2].numel() == 1 else hole
    if tuple(hole.shape) != size:
        raise InputError(f"mask is {tuple(hole.shape)}, the image {size} (H, W); pass a mask of the image's size")
    return hole[None, None]


def inpaint(image, mask, prior: Prior | None = None, synthesizer: Synthesizer | None = None, device: str = "auto"):
    """Fills ``image`` where ``mask`` is non-zero with the default synthesis (``default_prior()`` unless ``prior``
    is given); returns the same kind of object as ``image``, equal to it outside the hole."""
    tensor = _image_tensor(image)
    hole = _mask_tensor(mask, tuple(tensor.shape[-2:]))
    if hole.all():
        raise InputError("the mask covers the whole image; leave some known pixels to synthesize from")
    target = resolve_device(device)
    synthesizer = synthesizer or default_synthesizer(str(target))
    result, _ = synthesizer(tensor.to(target), hole.to(target), prior or default_prior())
    result = torch.where(hole.to(target), result, tensor.to(target)).cpu()  # [1,3,H,W], the input outside the hole
    if isinstance(image, Image.Image):
        return Image.fromarray(to_uint8(result))
    if isinstance(image, np.ndarray):
        return to_uint8(result) if image.dtype == np.uint8 else result[0].permute(1, 2, 0).numpy().astype(image.dtype)
    return result.to(image.device, image.dtype).reshape(image.shape)
