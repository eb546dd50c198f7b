"""A survey: many photos' inspection summaries, worst first, with totals per severity.

Photos come from ``rustseg segment --report`` (``Result`` + summary) or from the web survey
page, which sends back what the API answered for each photo; ``survey_from_json`` checks
that input field by field, and every image is decoded and re-encoded as a thumbnail, so a
report never embeds bytes it has not checked.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..pipeline.imageio import ImageInputError, decode
from ..pipeline.resize import thumbnail
from ..vocabulary import CLASS_LABELS, DISTRIBUTION_IDS, SEVERITY_IDS
from .grades import SeverityCutoffs, severity_rank
from .roi import RoiError, check_polygon

if TYPE_CHECKING:
    from ..pipeline.segmenter import Result

THUMB_SIDE = 480
THUMB_QUALITY = 82
MAX_PHOTOS = 500
MAX_THUMB_INPUT_PIXELS = 4096 * 4096  # an image sent back for a report is a thumbnail
MAX_NAME = 200


class SurveyError(ValueError):
    """Survey input that cannot be used; the message says which photo and why."""


@dataclass(frozen=True)
class SurveyPhoto:
    """One photo of a survey: its name, its summary (``Result.summary()`` plus inspection and
    EXIF fields) and JPEG thumbnails of the photo and the overlay (``None`` if absent)."""

    name: str
    summary: dict
    image_jpeg: bytes | None = None
    overlay_jpeg: bytes | None = None
    # Where it came from, as results.csv names it (default: the name) and the video frame.
    file: str = ""
    frame: int | None = None

    @property
    def source(self) -> str:
        return self.file or self.name

    @property
    def severity(self) -> str:
        return self.summary["severity"]

    @property
    def has_gps(self) -> bool:
        return self.summary.get("latitude") is not None and self.summary.get("longitude") is not None


@dataclass(frozen=True)
class Survey:
    """Photos sorted worst first (severity, then corroded area), and the photos skipped."""

    photos: tuple[SurveyPhoto, ...]
    title: str = "RustSEG survey"
    created: str = field(default_factory=lambda: datetime.now().isoformat(timespec="seconds"))
    skipped: tuple[tuple[str, str], ...] = ()  # (name, why)
    site: str = ""
    inspector: str = ""
    cutoffs: SeverityCutoffs = field(default_factory=SeverityCutoffs)

    def totals(self) -> dict[str, int]:
        """``{"photos": n, "good": …, "fair": …, "poor": …, "severe": …}``."""
        counts = {s: 0 for s in SEVERITY_IDS}
        for p in self.photos:
            counts[p.severity] += 1
        return {"photos": len(self.photos), **counts}

    def located(self) -> list[tuple[int, SurveyPhoto]]:
        """(number in the report, photo) for the photos with a GPS position."""
        return [(i, p) for i, p in enumerate(self.photos, 1) if p.has_gps]


def make_survey(photos: list[SurveyPhoto], title: str = "RustSEG survey",
                skipped: list[tuple[str, str]] | None = None, site: str = "", inspector: str = "",
                cutoffs: SeverityCutoffs = SeverityCutoffs()) -> Survey:
    """A survey of ``photos``, sorted worst first (then by name, for a stable order), with
    the severity cut-offs its grades were given with."""
    ordered = sorted(photos, key=lambda p: (-severity_rank(p.severity),
                                            -float(p.summary.get("area_fraction", 0)), p.name))
    return Survey(tuple(ordered), title=title, skipped=tuple(skipped or ()), site=site,
                  inspector=inspector, cutoffs=cutoffs)


def thumbnail_jpeg(image: np.ndarray | bytes, max_side: int = THUMB_SIDE,
                   quality: int = THUMB_QUALITY) -> bytes:
    """A JPEG whose long side is at most ``max_side``, from an RGB array or encoded bytes
    (untrusted: decoded by the pipeline's ``decode``, with its format and pixel checks, and
    then only a JPEG or PNG of at most ``MAX_THUMB_INPUT_PIXELS`` is taken)."""
    if isinstance(image, np.ndarray):
        arr = image
    else:
        try:
            photo = decode(image, max_pixels=MAX_THUMB_INPUT_PIXELS, max_side=max_side)
        except ImageInputError as e:
            raise SurveyError(f"not a readable image for a report: {e}") from None
        if photo.format not in ("JPEG", "PNG"):
            raise SurveyError(f"images must be JPEG or PNG, not {photo.format}")
        arr = photo.image
    buf = io.BytesIO()
    Image.fromarray(thumbnail(arr, max_side)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def survey_photo(name: str, result: "Result", summary: dict, file: str = "",
                 frame: int | None = None) -> SurveyPhoto:
    """A segmented photo for a survey: its checked summary and thumbnails of the photo and
    of its overlay."""
    return SurveyPhoto(name, clean_summary(summary), thumbnail_jpeg(result.image),
                       thumbnail_jpeg(result.overlay), file=file, frame=frame)


# ------------------------------------------------------------------ JSON in and out
def _number(value: Any, lo: float, hi: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not lo <= value <= hi:
        raise SurveyError(f"{what} must be a number from {lo} to {hi}, not {value!r}")
    return float(value)


def _integer(value: Any, lo: int, hi: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SurveyError(f"{what} must be a whole number from {lo} to {hi}, not {value!r}")
    return value


def _choice(value: Any, choices: tuple, what: str) -> Any:
    if value not in choices:
        raise SurveyError(f"{what} must be one of {', '.join(map(str, choices))}, not {value!r}")
    return value


def _text(value: Any, what: str, limit: int = MAX_NAME, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise SurveyError(f"{what} must be text of at most {limit} characters")
    return value


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise SurveyError(f"{what} must be true or false, not {value!r}")
    return value


def _optional(value: Any, check, *args) -> Any:
    return None if value is None else check(value, *args)


def clean_summary(s: Any) -> dict:
    """The fields a report uses from a photo's summary, each checked (``SurveyError``)."""
    if not isinstance(s, dict):
        raise SurveyError("summary must be an object")
    try:
        roi = None if s.get("roi") is None else [list(p) for p in check_polygon(s["roi"])]
    except RoiError as e:
        raise SurveyError(str(e)) from None
    return {
        "probability": _number(s.get("probability"), 0, 1, "probability"),
        "decision": _choice(s.get("decision"), CLASS_LABELS[::-1], "decision"),
        "area_fraction": _number(s.get("area_fraction"), 0, 1, "area_fraction"),
        "astm_d610_grade": _integer(s.get("astm_d610_grade"), 0, 10, "astm_d610_grade"),
        "iso4628_ri": _integer(s.get("iso4628_ri"), 0, 5, "iso4628_ri"),
        "severity": _choice(s.get("severity"), SEVERITY_IDS, "severity"),
        "rust_distribution": _choice(s.get("rust_distribution"), (None, *DISTRIBUTION_IDS),
                                     "rust_distribution"),
        "roi": roi,
        "roi_fraction": _number(s.get("roi_fraction", 1.0), 0, 1, "roi_fraction"),
        "capture_time": _text(s.get("capture_time"), "capture_time", 40),
        "latitude": _optional(s.get("latitude"), _number, -90, 90, "latitude"),
        "longitude": _optional(s.get("longitude"), _number, -180, 180, "longitude"),
        "mode": _text(s.get("mode"), "mode", 40),
        "model_version": _text(s.get("model_version"), "model_version", 100),
        # Optional: answers from before these fields existed read as not borderline.
        "uncertain": _flag(s.get("uncertain", False), "uncertain"),
        "threshold": _optional(s.get("threshold"), _number, 0, 1, "threshold"),
        "width": _optional(s.get("width"), _integer, 1, 10**6, "width"),
        "height": _optional(s.get("height"), _integer, 1, 10**6, "height"),
        "mask_note": _text(s.get("mask_note") or None, "mask_note", 300),
    }


def _image(value: Any, what: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SurveyError(f"{what} must be base64 text")
    try:
        return thumbnail_jpeg(base64.b64decode(value, validate=True))
    except binascii.Error as e:
        raise SurveyError(f"{what} is not a base64 image: {e}") from None
    except SurveyError as e:
        raise SurveyError(f"{what}: {e}") from None


def photo_from_dict(d: Any) -> SurveyPhoto:
    """One photo as sent back by the survey page: ``{"name", "summary", "image_jpg_base64",
    "overlay_jpg_base64"}`` (the images optional)."""
    if not isinstance(d, dict):
        raise SurveyError("each photo must be an object")
    return SurveyPhoto(name=_text(d.get("name"), "name", optional=False),
                       summary=clean_summary(d.get("summary")),
                       image_jpeg=_image(d.get("image_jpg_base64"), "image_jpg_base64"),
                       overlay_jpeg=_image(d.get("overlay_jpg_base64"), "overlay_jpg_base64"),
                       file=_text(d.get("file") or None, "file", 1000) or "",
                       frame=_optional(d.get("frame"), _integer, 0, 10**9, "frame"))


def survey_from_json(text: str, max_photos: int = MAX_PHOTOS) -> Survey:
    """A survey from ``{"title": ..., "photos": [...], "skipped": [[name, why], ...]}``."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise SurveyError(f"the survey is not valid JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("photos"), list):
        raise SurveyError('the survey must be an object with a "photos" list')
    photos = data["photos"]
    if not 1 <= len(photos) <= max_photos:
        raise SurveyError(f"a survey has 1 to {max_photos} photos, not {len(photos)}")
    out = []
    for i, d in enumerate(photos, 1):
        try:
            out.append(photo_from_dict(d))
        except SurveyError as e:
            raise SurveyError(f"photo {i}: {e}") from None
    skipped = data.get("skipped") or []
    if not isinstance(skipped, list) or not all(
            isinstance(x, list) and len(x) == 2 and all(isinstance(v, str) for v in x) for x in skipped):
        raise SurveyError('"skipped" must be a list of [name, reason] pairs')
    title = _text(data.get("title"), "title") or "RustSEG survey"
    try:
        cutoffs = SeverityCutoffs(*data["cutoffs"]) if data.get("cutoffs") is not None else SeverityCutoffs()
    except (TypeError, ValueError) as e:
        raise SurveyError(f'"cutoffs" must be three rising area percentages: {e}') from None
    survey = make_survey(out, title, [(n[:MAX_NAME], why[:MAX_NAME]) for n, why in skipped],
                         site=_text(data.get("site") or None, "site") or "",
                         inspector=_text(data.get("inspector") or None, "inspector") or "",
                         cutoffs=cutoffs)
    created = _text(data.get("created"), "created", 40)
    return replace(survey, created=created) if created else survey


def survey_to_json(survey: Survey) -> str:
    """The survey as ``survey_from_json`` reads it (the page re-sends it for downloads)."""
    def b64(data: bytes | None) -> str | None:
        return None if data is None else base64.b64encode(data).decode("ascii")

    c = survey.cutoffs
    return json.dumps({"title": survey.title, "created": survey.created, "site": survey.site,
                       "inspector": survey.inspector, "cutoffs": [c.good, c.fair, c.poor],
                       "skipped": [list(x) for x in survey.skipped],
                       "photos": [{"name": p.name, "summary": p.summary, "file": p.file, "frame": p.frame,
                                   "image_jpg_base64": b64(p.image_jpeg),
                                   "overlay_jpg_base64": b64(p.overlay_jpeg)} for p in survey.photos]},
                      separators=(",", ":"))
