"""Pictures for people: the mask drawn over the photo, and a colour heatmap."""
from __future__ import annotations

import cv2
import numpy as np

_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def contrasting(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """A colour that stands out against ``colour``: its complement, or black/white for greys
    (whose complement is another grey)."""
    c = np.asarray(colour, float)
    if c.max() - c.min() < 64:
        return (0, 0, 0) if c.mean() > 127 else (255, 255, 255)
    return tuple(int(v) for v in 255 - c)


def overlay_mask(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = (255, 40, 40),
                 alpha: float = 0.45, outline: tuple[int, int, int] | None = None) -> np.ndarray:
    """Tint ``mask`` pixels of an RGB image and outline the mask so it reads on any photo.

    A tint alone vanishes on a surface of its own colour (a red overlay on red paint), so
    the mask's border is drawn in ``outline`` (default: the tint's contrasting colour) with
    a dark line just outside it, which stands out on light and dark surfaces alike.
    """
    # uint8 throughout, with float only for the tinted pixels: a float copy of a 12 MP photo
    # alone is 144 MB of a worker's peak memory.
    out = np.array(image, np.uint8, copy=True)
    c = np.asarray(colour, np.float32)
    out[mask] = (out[mask].astype(np.float32) * (1.0 - alpha) + c * alpha).astype(np.uint8)
    width = max(1, max(mask.shape) // 400)
    m = mask.astype(np.uint8)
    # Outside the photo counts as "not mask", so a mask touching the border is outlined there too.
    inner = mask & ~cv2.erode(m, _CROSS, iterations=width, borderType=cv2.BORDER_CONSTANT,
                              borderValue=0).astype(bool)
    outer = cv2.dilate(m, _CROSS, iterations=width).astype(bool) & ~mask
    out[outer] = (0, 0, 0)
    out[inner] = np.asarray(outline if outline is not None else contrasting(colour), np.uint8)
    return out


def heatmap_image(heatmap: np.ndarray) -> np.ndarray:
    """A [0, 1] heatmap → RGB uint8 with a blue → red 'jet'-like ramp."""
    h = np.clip(np.asarray(heatmap, np.float32), 0.0, 1.0)
    r = np.clip(1.5 - np.abs(4.0 * h - 3.0), 0, 1)
    g = np.clip(1.5 - np.abs(4.0 * h - 2.0), 0, 1)
    b = np.clip(1.5 - np.abs(4.0 * h - 1.0), 0, 1)
    return (np.stack([r, g, b], -1) * 255).astype(np.uint8)


def heatmap_over(image: np.ndarray, heatmap: np.ndarray, strength: float = 0.7) -> np.ndarray:
    """A [0, 1] heatmap drawn over the photo: each pixel takes the ramp's colour in
    proportion to its value, so weak evidence leaves the photo visible beneath."""
    h = np.clip(np.asarray(heatmap, np.float32), 0.0, 1.0)[..., None]
    if h.shape[:2] != image.shape[:2]:
        raise ValueError(f"heatmap {h.shape[:2]} and image {image.shape[:2]} differ in size")
    a = strength * (0.25 + 0.75 * h)  # a faint blue tint even where there is no evidence
    out = image.astype(np.float32) * (1.0 - a) + heatmap_image(h[..., 0]).astype(np.float32) * a
    return out.astype(np.uint8)
