"""Moving arrays between the pipeline's resolutions: the model's map, the CRF's working size,
the photo's own size.

Maps and masks are resized with OpenCV (bilinear when enlarging, pixel-area averaging when
shrinking): a 12 MP mask costs milliseconds, where Pillow's resampler took tens of them.
"""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image


def _interpolation(src: tuple[int, int], dst: tuple[int, int]) -> int:
    return cv2.INTER_AREA if dst[0] * dst[1] < src[0] * src[1] else cv2.INTER_LINEAR


def upsample(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A small (h, w) map resized to ``size`` = (height, width), as float32."""
    h, w = size
    src = np.ascontiguousarray(heatmap, np.float32)
    if src.shape == (h, w):
        return src
    return cv2.resize(src, (w, h), interpolation=_interpolation(src.shape, (h, w)))


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A boolean mask at ``size`` = (height, width): interpolated, then cut at one half."""
    if mask.shape == tuple(size):
        return mask
    h, w = size
    out = cv2.resize(mask.astype(np.uint8) * 255, (w, h), interpolation=_interpolation(mask.shape, (h, w)))
    return out >= 128


def fit_within(image: np.ndarray, max_side: int) -> np.ndarray:
    """An RGB image downscaled so its long side is at most ``max_side`` (never enlarged)."""
    h, w = image.shape[:2]
    s = max_side / max(h, w)
    if s >= 1:
        return image
    return np.asarray(Image.fromarray(image).resize((max(1, round(w * s)), max(1, round(h * s))),
                                                    Image.BILINEAR, reducing_gap=2.0))


def fitted_size(shape: tuple[int, ...], max_side: int) -> tuple[int, int]:
    """The (height, width) :func:`fit_within` would give an image of ``shape``, without
    resizing anything."""
    h, w = shape[:2]
    s = max_side / max(h, w)
    return (h, w) if s >= 1 else (max(1, round(h * s)), max(1, round(w * s)))
