"""Rendering results for people: mask overlay and a colour heatmap."""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def overlay_mask(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = (255, 40, 40),
                 alpha: float = 0.45) -> np.ndarray:
    """Tint ``mask`` pixels of an RGB image and draw the mask's outline fully opaque."""
    out = image.astype(np.float32)
    c = np.asarray(colour, np.float32)
    out[mask] = out[mask] * (1.0 - alpha) + c * alpha
    edge = mask & ~ndimage.binary_erosion(mask, iterations=max(1, max(mask.shape) // 400))
    out[edge] = c
    return out.astype(np.uint8)


def heatmap_image(heatmap: np.ndarray) -> np.ndarray:
    """A [0, 1] heatmap → RGB uint8 with a blue → red 'jet'-like ramp."""
    h = np.clip(np.asarray(heatmap, np.float32), 0.0, 1.0)
    r = np.clip(1.5 - np.abs(4.0 * h - 3.0), 0, 1)
    g = np.clip(1.5 - np.abs(4.0 * h - 2.0), 0, 1)
    b = np.clip(1.5 - np.abs(4.0 * h - 1.0), 0, 1)
    return (np.stack([r, g, b], -1) * 255).astype(np.uint8)
