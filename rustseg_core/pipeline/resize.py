"""Moving arrays between the pipeline's resolutions: the model's map, the CRF's working size,
the photo's own size.

Maps and masks are resized with OpenCV (bilinear when enlarging, pixel-area averaging when
shrinking): a 12 MP mask costs milliseconds, where Pillow's resampler took tens of them.

The model's input (:func:`preprocess`) is TensorFlow's resize of the whole photo to a
square, reproduced in NumPy and OpenCV so that a server running learned mode on ONNX Runtime
never imports TensorFlow (it is most of a worker's memory).
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


def thumbnail(image: np.ndarray, max_side: int) -> np.ndarray:
    """An RGB image shrunk for display so its long side is at most ``max_side``: an integer
    box reduce, then bilinear to the size. Several times faster than :func:`fit_within`
    (OpenCV's box reduce is vectorised only for whole factors), for pictures that are only
    looked at; the model's inputs keep :func:`fit_within`."""
    h, w = image.shape[:2]
    size = fitted_size(image.shape, max_side)
    if size == (h, w):
        return image
    k = int(min(h / size[0], w / size[1]))
    if k >= 2:  # a few edge pixels are dropped so that the box reduce is exact
        image = cv2.resize(image[:h // k * k, :w // k * k], (w // k, h // k), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, size[::-1], interpolation=cv2.INTER_LINEAR)


def fitted_size(shape: tuple[int, ...], max_side: int) -> tuple[int, int]:
    """The (height, width) :func:`fit_within` would give an image of ``shape``, without
    resizing anything."""
    h, w = shape[:2]
    s = max_side / max(h, w)
    return (h, w) if s >= 1 else (max(1, round(h * s)), max(1, round(w * s)))


def _area_axis(x: np.ndarray, m: int, axis: int) -> np.ndarray:
    """Exact box resample of ``x`` along ``axis`` onto ``m`` samples, as TensorFlow's "area"
    resize: output i is the mean of the input interval [i n/m, (i+1) n/m), partial pixels
    weighted by how much of them it covers. Computed from the running integral of the
    samples. OpenCV's INTER_AREA gives the same when it shrinks, but switches method for an
    axis that grows."""
    n = x.shape[axis]
    if n == m:
        return x
    x = np.moveaxis(x, axis, 0).astype(np.float64)
    integral = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0)])
    edges = np.arange(m + 1) * (n / m)
    k = np.minimum(np.floor(edges).astype(int), n)
    frac = (edges - k).reshape((-1,) + (1,) * (x.ndim - 1))
    at = integral[k] + frac * x[np.minimum(k, n - 1)]
    return np.moveaxis((at[1:] - at[:-1]) * (m / n), 0, axis)


def preprocess(image: np.ndarray, input_size: int) -> np.ndarray:
    """RGB uint8 HxWx3 → float32 SxSx3 in [0, 1]: the whole photo squashed to the model's
    square input, as TensorFlow's ``tf.image.resize`` does (area when the long side shrinks,
    else bilinear with half-pixel centres), without importing TensorFlow."""
    h, w = image.shape[:2]
    s = input_size
    x = image.astype(np.float32)
    if max(h, w) <= s:
        out = cv2.resize(x, (s, s), interpolation=cv2.INTER_LINEAR)
    else:
        # The shrinking axes with OpenCV (fast on a large photo), then an axis that grows
        # (a wide, short photo) by the exact box resample on what is left, which is small.
        out = cv2.resize(x, (min(w, s), min(h, s)), interpolation=cv2.INTER_AREA)
        out = _area_axis(_area_axis(out.reshape(out.shape[0], out.shape[1], -1), s, 0), s, 1)
    return np.asarray(out, np.float32).reshape(s, s, -1) / np.float32(255)
