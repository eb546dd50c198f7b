"""Moving arrays between the pipeline's resolutions: the model's map, the CRF's working size,
the photo's own size."""
from __future__ import annotations

import numpy as np
from PIL import Image


def upsample(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a small (h, w) heatmap to ``size`` = (height, width)."""
    h, w = size
    img = Image.fromarray(np.asarray(heatmap, np.float32), mode="F")
    return np.asarray(img.resize((w, h), Image.BILINEAR), np.float32)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A boolean mask at ``size`` = (height, width): bilinear, then cut at one half."""
    if mask.shape == tuple(size):
        return mask
    img = Image.fromarray(mask.astype(np.uint8) * 255, "L").resize((size[1], size[0]), Image.BILINEAR)
    return np.asarray(img) >= 128


def fit_within(image: np.ndarray, max_side: int) -> np.ndarray:
    """An RGB image downscaled so its long side is at most ``max_side`` (never enlarged)."""
    h, w = image.shape[:2]
    s = max_side / max(h, w)
    if s >= 1:
        return image
    return np.asarray(Image.fromarray(image).resize((max(1, round(w * s)), max(1, round(h * s))),
                                                    Image.BILINEAR, reducing_gap=2.0))
