"""The region of interest: a polygon in normalised image coordinates.

A point is ``[x, y]`` with x across and y down, both in [0, 1] of the photo's width and
height, so the same polygon applies at the working size and at the photo's original size.
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from PIL import Image, ImageDraw


if TYPE_CHECKING:
    from ..pipeline.segmenter import Result

Polygon = tuple[tuple[float, float], ...]
MAX_POINTS = 200
# How much the photo outside the region is darkened on the overlay, and the outline colour.
OUTSIDE_DIM = 0.45
OUTLINE_COLOUR = (255, 215, 0)


class RoiError(ValueError):
    """A region of interest that cannot be used; the message says why, for people."""


def check_polygon(points: Any) -> Polygon:
    """``points`` as a polygon of at least 3 ``[x, y]`` pairs in [0, 1] with a non-zero area."""
    if not isinstance(points, (list, tuple)) or len(points) < 3:
        raise RoiError("the region of interest needs at least 3 points, as [[x, y], ...]")
    if len(points) > MAX_POINTS:
        raise RoiError(f"the region of interest has more than {MAX_POINTS} points")
    out = []
    for p in points:
        if (not isinstance(p, (list, tuple)) or len(p) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)):
            raise RoiError(f"each point of the region of interest must be [x, y], not {p!r}")
        x, y = float(p[0]), float(p[1])
        if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= 1 and 0 <= y <= 1):
            raise RoiError(f"region of interest coordinates are fractions of the photo in "
                           f"[0, 1], not {p!r}")
        out.append((x, y))
    if polygon_area(out) <= 0:
        raise RoiError("the region of interest has no area (its points are on one line, or its "
                       "edges cross so that its parts cancel out)")
    return tuple(out)


def parse_roi(text: str | None) -> Polygon | None:
    """A polygon from JSON text such as ``[[0.1,0.1],[0.9,0.1],[0.9,0.9]]``; ``None`` for
    no text (the whole photo)."""
    if text is None or not text.strip():
        return None
    try:
        points = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise RoiError(f"the region of interest is not valid JSON: {e}") from None
    return check_polygon(points)


def polygon_area(points: Sequence[tuple[float, float]]) -> float:
    """The polygon's area as a fraction of the photo (shoelace formula; 1.0 = whole photo)."""
    xy = np.asarray(points, float)
    x, y = xy[:, 0], xy[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def _pixels(polygon: Polygon, size: tuple[int, int]) -> list[tuple[float, float]]:
    h, w = size
    return [(x * w, y * h) for x, y in polygon]


def polygon_mask(polygon: Polygon, size: tuple[int, int]) -> np.ndarray:
    """A boolean (height, width) mask of the pixels whose centres lie inside ``polygon``
    (even-odd rule, by scanline: exact at any size, so a region's pixel count matches its
    area)."""
    h, w = size
    xy = np.asarray(polygon, float) * (w, h)
    (x0, y0), (x1, y1) = xy.T, np.roll(xy, -1, axis=0).T
    yc = np.arange(h, dtype=float)[:, None] + 0.5
    crosses = (y0 <= yc) != (y1 <= yc)  # half-open, so a vertex is counted once
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = np.where(crosses, x0 + (yc - y0) * (x1 - x0) / (y1 - y0), np.inf)
    xi.sort(axis=1)
    cols = np.clip(np.ceil(xi - 0.5), 0, w).astype(np.int64)  # first pixel centre at or after
    starts, ends = cols[:, 0::2], cols[:, 1::2]
    rows = np.broadcast_to(np.arange(h)[:, None], starts.shape)
    edges = np.zeros((h, w + 1), np.int32)
    np.add.at(edges, (rows, starts), 1)
    np.add.at(edges, (rows, ends), -1)
    return np.cumsum(edges[:, :w], axis=1) > 0


def draw_outline(image: np.ndarray, polygon: Polygon, region: np.ndarray) -> np.ndarray:
    """``image`` darkened outside ``region`` with the polygon outlined, so the assessed area
    reads at a glance."""
    out = image.astype(np.float32)
    out[~region] *= 1.0 - OUTSIDE_DIM
    img = Image.fromarray(out.astype(np.uint8))
    width = max(2, max(image.shape[:2]) // 300)
    pts = _pixels(polygon, image.shape[:2])
    ImageDraw.Draw(img).line(pts + pts[:1], fill=OUTLINE_COLOUR, width=width, joint="curve")
    return np.asarray(img)


def within_roi(result: "Result", polygon: Polygon) -> tuple["Result", int]:
    """``result`` restricted to ``polygon``, and the number of photo pixels inside it: the
    mask is cleared outside the region, the area fraction is the share of the region marked,
    and the overlay shows the region's outline."""
    h0, w0 = result.original_size[1], result.original_size[0]
    region_full = polygon_mask(polygon, (h0, w0))
    inside = int(region_full.sum())
    if inside == 0:
        raise RoiError("the region of interest covers no pixel of the photo; draw a larger one")
    region_work = polygon_mask(polygon, result.image.shape[:2])
    mask = None if result.mask is None else result.mask & region_full
    area = 0.0 if mask is None else int(mask.sum()) / inside
    overlay = np.where(region_work[..., None], result.overlay, result.image)
    return replace(result, mask=mask, area_fraction=area,
                   overlay=draw_outline(overlay, polygon, region_work)), inside
