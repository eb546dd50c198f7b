"""Corrected masks as files: checking a PNG someone sent, and writing the canonical form.

A mask is a PNG exactly the size of the photo. Its pixels are read as "corrosion" where they
are non-zero (0/255 is what RustSEG writes; a 1-bit PNG works too). Greyscale is expected;
a colour PNG is accepted only when it is grey in fact (R = G = B), as a browser's canvas
makes it, and its alpha channel is ignored. What is stored is always re-encoded: 8-bit
greyscale, 0 or 255, so every corrected mask on disk has the same form as the model's.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ..pipeline.imageio import encode_mask_png

# Modes whose pixels can be read as a mask (palette images are expanded first).
MASK_MODES = ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA")


class MaskInputError(ValueError):
    """A mask that cannot be used, with the HTTP status that says why (400/415/422)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def read_mask_png(data: bytes, size: tuple[int, int]) -> np.ndarray:
    """The boolean mask (H, W) in ``data``, a PNG of exactly ``size`` = (width, height).

    Raises :class:`MaskInputError`: 400 empty, 415 not a PNG, 422 wrong size or not a mask
    (a colour image, an unknown mode). The size is read from the header before any pixel is
    decoded, so a huge image costs nothing.
    """
    if not data:
        raise MaskInputError("the mask is empty; send a PNG", 400)
    try:
        img = Image.open(io.BytesIO(data), formats=["PNG"])
    except Exception:
        raise MaskInputError("the mask must be a PNG image", 415) from None
    with img:
        if img.size != tuple(size):
            raise MaskInputError(f"the mask is {img.size[0]} x {img.size[1]} px; it must be the "
                                 f"photo's size, {size[0]} x {size[1]} px", 422)
        if img.mode not in MASK_MODES:
            raise MaskInputError(f"a {img.mode} PNG is not a mask; send greyscale (L) or 1-bit", 422)
        try:
            if img.mode == "P":
                img = img.convert("RGBA")
            arr = np.asarray(img)
        except Exception:
            raise MaskInputError("the mask PNG is damaged or truncated", 400) from None
    if arr.ndim == 3:
        grey = arr[..., :3] if arr.shape[2] >= 3 else arr[..., :1]
        if grey.shape[2] == 3 and not (np.array_equal(grey[..., 0], grey[..., 1])
                                       and np.array_equal(grey[..., 0], grey[..., 2])):
            raise MaskInputError("a colour PNG is not a mask; send greyscale: 255 (or any "
                                 "non-zero value) = corrosion, 0 = not", 422)
        arr = grey[..., 0]
    return arr != 0


def mask_png(mask: np.ndarray) -> bytes:
    """The canonical encoding of a boolean mask: 8-bit greyscale PNG, 255 = corrosion (the
    same encoding as the pipeline's own masks)."""
    return encode_mask_png(mask)


def empty_mask_png(size: tuple[int, int]) -> bytes:
    """An all-background mask of ``size`` = (width, height): what "no rust" means."""
    return mask_png(np.zeros((size[1], size[0]), bool))
