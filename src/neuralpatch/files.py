"""Small shared helpers for image files and devices: reading photos and masks, atomic writes."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}  # photos read from folders (training, inpainting)


class InputError(Exception):
    """Bad input or setting: the message is one line naming the file or value and what to do."""


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message, or its type's name when it has none: for one-line reports."""
    return str(error).splitlines()[0] if str(error).strip() else type(error).__name__


def to_8bit(image: Image.Image) -> Image.Image:
    """16-bit grey images scaled to 8 bits (PIL's own conversion would clip them); others unchanged."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return Image.fromarray((np.asarray(image, dtype=np.float64) / 257).round().clip(0, 255).astype(np.uint8))
    return image


def open_image(path: Path, what: str = "image") -> Image.Image:
    """The decoded image at ``path``, turned upright by its EXIF orientation, 16-bit grey scaled to 8 bits; an
    InputError naming the file when it is missing or cannot be decoded (truncated, not an image)."""
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist; pass an existing file (or folder) with +{what}=PATH")
    return decode_image(path, str(path), what)


def decode_image(source: Path | BinaryIO, name: str, what: str = "image") -> Image.Image:
    """``open_image`` of a file or of uploaded bytes (``source``), errors naming it ``name``."""
    try:
        with Image.open(source) as image:
            image.load()
            return to_8bit(ImageOps.exif_transpose(image))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InputError(f"cannot read {what} {name} ({error}); pass a PNG, JPEG or WebP file") from None


def read_photo(path: Path) -> np.ndarray:
    """``[H,W,3]`` uint8 RGB, upright (grey, palette, CMYK, RGBA and 16-bit images converted; alpha dropped)."""
    return np.array(open_image(path, "image").convert("RGB"))


def mask_from_image(image: Image.Image) -> np.ndarray:
    """``[H,W]`` bool, True = hole: wherever a user painted. With transparency (an alpha channel that is not
    opaque everywhere) the opaque pixels (alpha > 127), i.e. strokes on a transparent layer; otherwise every
    pixel whose brightest channel is > 127, i.e. white or coloured strokes on black."""
    if (image.mode == "P" and "transparency" in image.info) or image.mode in ("PA", "LA", "RGBa", "La"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        alpha = np.asarray(image.getchannel("A"))
        if alpha.min() < 255:
            return alpha > 127
    return np.asarray(to_8bit(image).convert("RGB")).max(axis=2) > 127


def read_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """``[H,W]`` bool hole of the mask file (``mask_from_image``), resized with nearest neighbour to ``size``
    (W, H) with a warning; a mask without any hole is an InputError."""
    image = open_image(path, "mask")
    if image.size != size:
        log.warning(f"mask {path} is {image.size[0]}×{image.size[1]}, the image {size[0]}×{size[1]}: "
                    "resized with nearest neighbour")
        image = image.resize(size, Image.NEAREST)
    hole = mask_from_image(image)
    if not hole.any():
        raise InputError(f"mask {path} has no hole (no pixel brighter than 127, no opaque stroke on transparency); "
                         "paint the hole white on black")
    return hole


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` into a temporary file beside ``path``, then rename it over ``path`` with the usual permissions
    (0666 less the umask); the temporary file is removed on any error or interruption (SIGTERM: see runs.script)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_writable(folder: Path) -> None:
    """An InputError naming ``folder`` unless files can be created in it (created when missing)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise InputError(f"cannot write to output folder {folder} ({error.strerror}); choose another output=") from None


def save_png(array: np.ndarray, path: Path) -> None:
    """``array`` ``[H,W,3]`` uint8 as a PNG (zlib level 1: lossless like any level, 3× faster to write than the
    default at 12 MP), written atomically."""
    _save(Image.fromarray(array), path)


def save_side_by_side(panels: list[np.ndarray], path: Path, longest_side: int) -> None:
    """``panels`` (each ``[H,W,3]`` uint8, one size) side by side as a PNG preview at most ``longest_side`` px
    wide and high: each panel is downscaled on its own, so a 12 MP photo's three panels are never joined at
    full size."""
    height, width = panels[0].shape[:2]
    scale = min(1.0, longest_side / max(width * len(panels), height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    preview = Image.new("RGB", (size[0] * len(panels), size[1]))
    for number, panel in enumerate(panels):
        preview.paste(Image.fromarray(panel).resize(size, Image.LANCZOS, reducing_gap=2.0), (number * size[0], 0))
    _save(preview, path)


def _save(image: Image.Image, path: Path) -> None:
    atomic_write(path, lambda temporary: image.save(temporary, format="PNG", compress_level=1))


def to_uint8(image: Tensor) -> np.ndarray:
    """``[1,3,H,W]`` in [0,1] → ``[H,W,3]`` uint8."""
    return (image[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().cpu().numpy()


def from_uint8(array: np.ndarray, device: torch.device | str = "cpu") -> Tensor:
    """``[H,W,3]`` uint8 → ``[1,3,H,W]`` float in [0,1]."""
    return torch.from_numpy(np.array(array)).permute(2, 0, 1)[None].contiguous().to(device).float() / 255


def resolve_device(name: str) -> torch.device:
    """``auto`` = cuda when available; ``cuda`` without a GPU is an InputError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise InputError(f"device={name} is not a device this can run on; use device=auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device={name} but no CUDA GPU is available; use device=auto or device=cpu")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise InputError(f"device={name} but this machine has {torch.cuda.device_count()} CUDA GPU(s); use device=cuda:0…")
    return device
