"""Small shared helpers for image files and devices."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor


class InpaintError(Exception):
    """Bad input: the message is one line naming the file or value and what to do."""


def to_8bit(image: Image.Image) -> Image.Image:
    """16-bit grey images scaled to 8 bits (PIL's own conversion would clip them); others unchanged."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return Image.fromarray((np.asarray(image, dtype=np.float64) / 257).round().clip(0, 255).astype(np.uint8))
    return image


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` into a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def save_png(array: np.ndarray, path: Path) -> None:
    atomic_write(path, lambda temporary: Image.fromarray(array).save(temporary, format="PNG"))


def to_uint8(image: Tensor) -> np.ndarray:
    """``[1,3,H,W]`` in [0,1] → ``[H,W,3]`` uint8."""
    return (image[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().cpu().numpy()


def from_uint8(array: np.ndarray, device: torch.device | str = "cpu") -> Tensor:
    """``[H,W,3]`` uint8 → ``[1,3,H,W]`` float in [0,1]."""
    return torch.from_numpy(np.array(array)).permute(2, 0, 1)[None].contiguous().to(device).float() / 255


def resolve_device(name: str) -> torch.device:
    """``auto`` = cuda when available; ``cuda`` without a GPU is an InpaintError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InpaintError("device=cuda but no CUDA GPU is available; use device=auto or device=cpu")
    return torch.device(name)
