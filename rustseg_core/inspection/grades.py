"""Rust grades from the corroded-area percentage, the D610 distribution type and severity.

ASTM D610 / SSPC-VIS 2 grade a painted steel surface 10 (no rust) … 0 by the percentage of
the area rusted; each grade is "at most" its limit (10 ≤ 0.01 %, 9 ≤ 0.03 %, …, 1 ≤ 50 %,
0 > 50 %).

ISO 4628-3 defines its degrees of rusting by reference areas, not ranges: Ri 0 0 %, Ri 1
0.05 %, Ri 2 0.5 %, Ri 3 1 %, Ri 4 8 %, Ri 5 40–50 %. An assessor compares the surface with
the standard's pictures and names the one it resembles most, so a measured percentage gets
the Ri whose reference area is **nearest on a log scale** — the scale the references are
spaced on (each a few times the last). The cut between two neighbours is the geometric mean
of their reference areas: Ri 1 up to √(0.05·0.5) ≈ 0.158 %, Ri 2 up to √(0.5·1) ≈ 0.707 %,
Ri 3 up to √8 ≈ 2.83 %, Ri 4 up to √(8·40) ≈ 17.9 % (Ri 5's range starts at 40 %), Ri 5
above. Ri 0 is no rust at all: 0 % is infinitely far below any positive area on a log
scale. (An "at most" reading, as for D610, would call 8.2 % Ri 5, whose reference area is
five times that.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from ..vocabulary import SEVERITY_IDS

# (grade, largest area % it allows), best grade first; above the last limit the grade is 0.
ASTM_D610: tuple[tuple[int, float], ...] = (
    (10, 0.01), (9, 0.03), (8, 0.1), (7, 0.3), (6, 1.0), (5, 3.0), (4, 10.0), (3, 16.0),
    (2, 33.0), (1, 50.0))
# (Ri, reference area %: low, high) of ISO 4628-3; only Ri 5's is a range.
ISO_4628_3_REFERENCE: tuple[tuple[int, float, float], ...] = (
    (0, 0.0, 0.0), (1, 0.05, 0.05), (2, 0.5, 0.5), (3, 1.0, 1.0), (4, 8.0, 8.0), (5, 40.0, 50.0))
# The largest area % each Ri but the last takes: geometric means of neighbouring references
# (see the module docstring); Ri 0 only at 0 %.
ISO_4628_3_CUTS: tuple[tuple[int, float], ...] = (
    (0, 0.0), *((ri, math.sqrt(high * ISO_4628_3_REFERENCE[i + 2][1]))
                for i, (ri, _, high) in enumerate(ISO_4628_3_REFERENCE[1:-1])))
ISO_4628_3_TOP = 5

# Said wherever a grade is shown.
CAVEATS: tuple[str, ...] = (
    "ASTM D610 and ISO 4628-3 grade a defined area of coated steel: the grade means "
    "something only for the surface being assessed, so draw the region of interest around "
    "it (sky, water and background otherwise count as clean steel).",
    "Stains, run-off, shadows and rust-coloured paint are not rust, but a photo can make them "
    "look like it: confirm the grade on the surface before acting on it.",
    "The area is measured in the photo's pixels, so surfaces seen at an angle are not "
    "weighted by their true size.",
)


def _check_percent(percent: float) -> float:
    p = float(percent)
    if not math.isfinite(p) or not 0.0 <= p <= 100.0:
        raise ValueError(f"an area percentage must be between 0 and 100, not {percent!r}")
    return p


def astm_d610_grade(percent: float) -> int:
    """ASTM D610 / SSPC-VIS 2 grade (10 … 0) for ``percent`` of the area rusted."""
    p = _check_percent(percent)
    return next((grade for grade, limit in ASTM_D610 if p <= limit), 0)


def iso4628_ri(percent: float) -> int:
    """ISO 4628-3 degree of rusting Ri (0 … 5): the Ri whose reference area is nearest to
    ``percent`` on a log scale (see the module docstring)."""
    p = _check_percent(percent)
    return next((ri for ri, cut in ISO_4628_3_CUTS if p <= cut), ISO_4628_3_TOP)


def iso4628_reference(ri: int) -> str:
    """The reference area of degree ``ri``, as shown beside the grade: "8 %", "40–50 %"."""
    _, low, high = ISO_4628_3_REFERENCE[ri]
    fmt = lambda v: f"{v:g}"  # noqa: E731
    return f"{fmt(low)} %" if low == high else f"{fmt(low)}–{fmt(high)} %"


def ri_text(ri: int, short: bool = False) -> str:
    """"Ri 4 (reference area 8 %)", or with ``short`` "Ri 4 (8 %)": a degree is always shown
    with the area it stands for."""
    return f"Ri {ri} ({'' if short else 'reference area '}{iso4628_reference(ri)})"


@dataclass(frozen=True)
class SeverityCutoffs:
    """Largest area % (inclusive) of each severity class but the last: by default good is
    D610 grade 7 or better, fair 5–6, poor 3–4, severe 2 or worse."""

    good: float = 0.3
    fair: float = 3.0
    poor: float = 16.0

    def __post_init__(self) -> None:
        if not 0 <= self.good < self.fair < self.poor <= 100:
            raise ValueError("severity cut-offs must rise within 0–100 %, got "
                             f"{(self.good, self.fair, self.poor)}")


def parse_cutoffs(text: str) -> SeverityCutoffs:
    """``"0.3,3,16"`` (good, fair and poor limits in area %) → ``SeverityCutoffs``; a
    ``ValueError`` saying what is wrong otherwise."""
    try:
        good, fair, poor = (float(v) for v in str(text).split(","))
    except ValueError:
        raise ValueError(f"severity cut-offs are three area percentages GOOD,FAIR,POOR such as "
                         f"0.3,3,16, not {text!r}") from None
    return SeverityCutoffs(good, fair, poor)


def severity(percent: float, cutoffs: SeverityCutoffs = SeverityCutoffs()) -> str:
    """``good``, ``fair``, ``poor`` or ``severe`` for ``percent`` of the area rusted."""
    p = _check_percent(percent)
    limits = (cutoffs.good, cutoffs.fair, cutoffs.poor)
    return next((sid for sid, limit in zip(SEVERITY_IDS, limits) if p <= limit), SEVERITY_IDS[-1])


def severity_rank(severity_id: str) -> int:
    """0 for good … 3 for severe (for sorting worst first)."""
    return SEVERITY_IDS.index(severity_id)


@dataclass(frozen=True)
class DistributionRule:
    """How connected components of the mask suggest a D610 distribution type.

    General: rust on more than ``general_min_percent`` of the assessed area, however few its
    spots (D610's spot type is rust concentrated in a few localised areas; one blob over most
    of the surface is not). Pinpoint: at least ``pinpoint_min_spots`` spots whose median size
    is at most ``pinpoint_spot_percent`` of the assessed area. Spot: at most
    ``spot_max_spots`` spots, or one spot holding at least ``spot_largest_share`` of the rust.
    Otherwise general.
    """

    pinpoint_min_spots: int = 20
    pinpoint_spot_percent: float = 0.01
    spot_max_spots: int = 5
    spot_largest_share: float = 0.8
    general_min_percent: float = 50.0


# Connected components are counted on a mask of at most this many pixels: a 12 MP mask is
# an upsampled map of a few hundred pixels a side, so its spots are the same at 2 MP, and
# labelling all 12 M pixels took longer than the segmentation itself.
DISTRIBUTION_MAX_PIXELS = 2_000_000


def distribution_type(mask: np.ndarray, assessed_pixels: int | None = None,
                      rule: DistributionRule = DistributionRule()) -> str | None:
    """The suggested D610 distribution (``spot``, ``general``, ``pinpoint``) of a boolean
    mask, or ``None`` when it marks nothing. ``assessed_pixels`` is the size of the area
    graded (default: the whole mask)."""
    mask = np.asarray(mask, bool)
    total = assessed_pixels or mask.size
    if total and 100.0 * np.count_nonzero(mask) / total > rule.general_min_percent:
        return "general"
    if mask.size > DISTRIBUTION_MAX_PIXELS:
        step = int(np.ceil(np.sqrt(mask.size / DISTRIBUTION_MAX_PIXELS)))
        h, w = mask.shape[0] // step, mask.shape[1] // step
        # A cell is rust when any of its pixels is (area mean above 0), so no speck is lost.
        # (255 per pixel: even one of step² pixels keeps the mean above 0 up to step 15.)
        mask = cv2.resize(mask.view(np.uint8) * np.uint8(255), (w, h), interpolation=cv2.INTER_AREA) > 0
        total = total / (step * step)
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    if n >= rule.pinpoint_min_spots and 100.0 * np.median(sizes) / total <= rule.pinpoint_spot_percent:
        return "pinpoint"
    if n <= rule.spot_max_spots or sizes.max() >= rule.spot_largest_share * sizes.sum():
        return "spot"
    return "general"
