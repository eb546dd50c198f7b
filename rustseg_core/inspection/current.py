"""A kept result as it reads *now*: once someone corrects its mask, everything derived from
the mask — area, grades, distribution, overlay — follows the corrected version, not the
model's. The stored files stay as they were; this recomputes the derived values from the
stored photo and the current mask.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..pipeline.overlay import overlay_mask
from ..pipeline.resize import resize_mask
from .assess import InspectionConfig, grade_mask
from .roi import draw_outline, polygon_mask

# ``mask_version`` in a summary: 0 is the model's own mask, 1, 2, ... a corrected version.
MODEL_MASK = 0


def mask_source_text(version: int) -> str:
    """What the page and reports say about the mask they show."""
    return "the model's mask" if version == MODEL_MASK else f"corrected by hand, version {version}"


@dataclass(frozen=True)
class Current:
    """The summary with the current mask's numbers, and its overlay (JPEG bytes)."""

    summary: dict
    overlay_jpeg: bytes


def regraded(summary: dict, mask: np.ndarray, version: int,
             config: InspectionConfig = InspectionConfig()) -> dict:
    """``summary`` with area and grades measured on ``mask`` (full size, boolean) inside the
    summary's region of interest, and ``mask_version`` saying which mask that is."""
    roi = summary.get("roi")
    if roi is not None:
        region = polygon_mask([tuple(p) for p in roi], mask.shape)
        mask = mask & region
        assessed = max(int(region.sum()), 1)
    else:
        assessed = mask.size
    found = grade_mask(mask if mask.any() else None, assessed, config)
    out = {**summary, **found.summary(), "area_fraction": round(found.area_percent / 100.0, 6),
           "mask_version": int(version)}
    out["roi"], out["roi_fraction"] = summary.get("roi"), summary.get("roi_fraction", 1.0)
    return out


def current_result(summary: dict, image_jpeg: bytes, mask: np.ndarray, version: int,
                   config: InspectionConfig = InspectionConfig(),
                   colour: tuple[int, int, int] = (255, 40, 40), alpha: float = 0.45,
                   quality: int = 90) -> Current:
    """The regraded summary and the overlay of ``mask`` on the stored working image, drawn
    as the pipeline draws it (tint and outline; the region of interest outlined)."""
    new = regraded(summary, mask, version, config)
    image = np.asarray(Image.open(io.BytesIO(image_jpeg)).convert("RGB"))
    small = resize_mask(mask, image.shape[:2])
    roi = summary.get("roi")
    if roi is not None:
        polygon = [tuple(p) for p in roi]
        region = polygon_mask(polygon, image.shape[:2])
        small = small & region
        drawn = np.where(region[..., None], overlay_mask(image, small, colour, alpha), image)
        drawn = draw_outline(drawn, polygon, region)
    else:
        drawn = overlay_mask(image, small, colour, alpha)
    buf = io.BytesIO()
    Image.fromarray(drawn).save(buf, "JPEG", quality=quality)
    return Current(new, buf.getvalue())
