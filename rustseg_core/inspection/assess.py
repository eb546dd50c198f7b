"""One photo's inspection: grades, severity and distribution of a ``Result`` inside its
region of interest, merged with the photo's capture time and position into one summary."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from .exif import PhotoInfo, info_from_exif
from .grades import (DistributionRule, SeverityCutoffs, astm_d610_grade, distribution_type,
                     iso4628_ri, severity)
from .roi import Polygon, within_roi

if TYPE_CHECKING:
    from ..pipeline.segmenter import Result


@dataclass(frozen=True)
class InspectionConfig:
    """Severity cut-offs and the distribution-type rule (see ``grades``)."""

    severity: SeverityCutoffs = field(default_factory=SeverityCutoffs)
    distribution: DistributionRule = field(default_factory=DistributionRule)


@dataclass(frozen=True)
class Inspection:
    """What an inspector reports for one photo (or its region of interest)."""

    area_percent: float
    astm_d610_grade: int
    iso4628_ri: int
    severity: str
    rust_distribution: str | None
    roi: Polygon | None = None
    roi_fraction: float = 1.0  # the region's share of the photo

    def summary(self) -> dict:
        """The ``vocabulary.INSPECTION_FIELDS`` as JSON-ready values."""
        return {"astm_d610_grade": self.astm_d610_grade, "iso4628_ri": self.iso4628_ri,
                "severity": self.severity, "rust_distribution": self.rust_distribution,
                "roi": None if self.roi is None else [list(p) for p in self.roi],
                "roi_fraction": round(self.roi_fraction, 6)}


def grade_mask(mask: np.ndarray | None, assessed_pixels: int,
               config: InspectionConfig = InspectionConfig()) -> Inspection:
    """Grades of a boolean mask (``None``: nothing marked) over ``assessed_pixels`` pixels."""
    rusted = 0 if mask is None else int(np.count_nonzero(mask))
    percent = 100.0 * rusted / assessed_pixels
    return Inspection(area_percent=percent, astm_d610_grade=astm_d610_grade(percent),
                      iso4628_ri=iso4628_ri(percent), severity=severity(percent, config.severity),
                      rust_distribution=None if not rusted else
                      distribution_type(mask, assessed_pixels, config.distribution))


def inspect(result: "Result", roi: Polygon | None = None,
            config: InspectionConfig = InspectionConfig()) -> tuple["Result", Inspection]:
    """``result`` restricted to ``roi`` (unchanged without one) and its inspection."""
    w, h = result.original_size
    assessed = w * h
    if roi is not None:
        result, assessed = within_roi(result, roi)  # RoiError when it covers no pixel
    found = grade_mask(result.mask, assessed, config)
    return result, replace(found, roi=roi, roi_fraction=assessed / (w * h))


def assess(result: "Result", roi: Polygon | None = None,
           config: InspectionConfig = InspectionConfig()) -> tuple["Result", dict]:
    """``(result within roi, summary)``: the result's summary with the inspection fields and,
    for an encoded photo, its capture time and GPS position (from the EXIF the pipeline's
    decode read; ``None`` when there is none)."""
    result, found = inspect(result, roi, config)
    summary = {**result.summary(), **found.summary()}
    if result.image_format is not None:  # an encoded photo (not a video frame): its EXIF fields
        summary.update((info_from_exif(result.exif) if result.exif is not None else PhotoInfo()).summary())
    return result, summary
