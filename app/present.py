"""Turning a core ``Result`` or a kept ``Record`` into what the result page shows.

No image maths here: the core encodes the images; this module only names, wraps and links
them, with the names, MIME types, modes and stages of ``rustseg_core.vocabulary``.
"""
from __future__ import annotations

import base64
import colorsys
import io
import json
import time
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from rustseg_core.inspection.current import mask_source_text
from rustseg_core.inspection.report import about, distribution_label, gps_text, locations_svg, mode_label
from rustseg_core.store import Record
from rustseg_core.vocabulary import (DISTRIBUTIONS, MODES, OUTPUTS, RESULT_JSON, SEVERITIES,
                                     STAGES, TOTAL, Distribution, Output, Severity, download_name)

if TYPE_CHECKING:
    from rustseg_core.inspection.survey import Survey
    from rustseg_core.pipeline.segmenter import Result

# Hue (degrees) below which a colour gets the name, for captions such as "marked in red".
HUE_NAMES = [(15, "red"), (40, "orange"), (70, "yellow"), (165, "green"), (200, "cyan"),
             (255, "blue"), (290, "purple"), (335, "magenta"), (360, "red")]
# The files a result page links to, in the order it shows them.
VIEW_OUTPUTS: tuple[Output, ...] = (*OUTPUTS.values(), RESULT_JSON)


def colour_name(rgb: tuple[int, int, int]) -> str:
    """A plain English name for an RGB colour: the overlay colour is configurable, so the
    page must not promise "red" when the mask is drawn in cyan."""
    hue, light, sat = colorsys.rgb_to_hls(*(c / 255.0 for c in rgb))
    if sat < 0.2 or light < 0.1 or light > 0.95:
        return "white" if light > 0.75 else "black" if light < 0.25 else "grey"
    degrees = hue * 360.0
    return next(name for limit, name in HUE_NAMES if degrees < limit)


@dataclass(frozen=True)
class Rendered:
    """A result's summary, its encoded images by file name (``vocabulary.OUTPUTS``) and the
    format of the photo it came from."""

    summary: dict
    files: dict[str, bytes]
    image_format: str | None = None


def render_result(result: "Result", summary: dict | None = None) -> Rendered:
    """Encode each output once; the page, the API and the store all reuse the bytes.
    ``summary`` (default: the result's own) is what the inspection added to it."""
    return Rendered(summary=summary if summary is not None else result.summary(),
                    files=result.encoded(), image_format=result.image_format)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def result_json(summary: dict, record: Record | None = None) -> dict:
    """The downloadable JSON: the core's summary, plus id and verdict for a kept photo."""
    out = dict(summary)
    if record is not None:
        out.update(id=record.id, kept_at=record.created_at, verdict=record.verdict)
    return out


def percent(x: float, decimals: int = 1) -> str:
    """``x`` (a fraction) as a percentage; whole numbers at the ends ("0 %", "100 %")."""
    v = 100.0 * float(x)
    return f"{v:.{decimals}f} %" if 0 < v < 100 - 0.5 * 10 ** -decimals else f"{v:.0f} %"


def percent_pair(p: float, t: float) -> tuple[str, str]:
    """A probability and the threshold it is compared with, with as many decimals as it
    takes for the two to read differently whenever they differ: 0.399885 against 0.4 reads
    "39.99 %" and "40.00 %", never "40.0 %, below the 40.0 % needed"."""
    for decimals in range(1, 7):
        ps, ts = percent(p, decimals), percent(t, decimals)
        if ps != ts or p == t:
            break
    return ps, ts


@dataclass
class ResultView:
    """Everything result.html needs, whether the images are inline or served from the store."""

    summary: dict
    urls: dict[str, str]  # by output key: image, overlay, heatmap, mask, result
    result_id: str  # names the downloads: rustseg-<id>-mask.png
    record: Record | None = None
    stages: list[tuple[str, float]] = field(default_factory=list)
    notice: str | None = None  # e.g. that keeping the photo failed

    @property
    def is_corrosion(self) -> bool:
        return bool(self.summary["is_corrosion"])

    @property
    def probability_pct(self) -> str:
        return percent_pair(self.summary["probability"], self.summary["threshold"])[0]

    @property
    def threshold_pct(self) -> str:
        return percent_pair(self.summary["probability"], self.summary["threshold"])[1]

    @property
    def area_pct(self) -> str:
        return percent(self.summary["area_fraction"])

    @property
    def mode_name(self) -> str:
        mode = MODES.get(self.summary["mode"])
        return mode.label if mode else self.summary["mode"]

    @property
    def mask_source(self) -> str | None:
        """Which mask the numbers come from, for a kept result ("the model's mask",
        "corrected by hand, version 2"); ``None`` for a result nobody kept."""
        version = self.summary.get("mask_version")
        return None if version is None else mask_source_text(version)

    @property
    def mask_note(self) -> str | None:
        return self.summary.get("mask_note")

    @property
    def severity(self) -> Severity | None:
        """The severity class (``None`` for a result kept before grades existed)."""
        return SEVERITIES.get(self.summary.get("severity"))

    @property
    def distribution(self) -> Distribution | None:
        return DISTRIBUTIONS.get(self.summary.get("rust_distribution"))

    @property
    def roi_pct(self) -> str | None:
        """The drawn region's share of the photo, or ``None`` for the whole photo."""
        return None if self.summary.get("roi") is None else percent(self.summary.get("roi_fraction", 1.0))

    @property
    def gps(self) -> str | None:
        lat, lon = self.summary.get("latitude"), self.summary.get("longitude")
        return None if lat is None or lon is None else gps_text(self.summary)

    @property
    def zip_download(self) -> str:
        return zip_name(self.result_id)

    def download(self, key: str) -> str:
        """The file name a download of output ``key`` is saved under."""
        return download_name(self.result_id, RESULT_JSON if key == RESULT_JSON.key else OUTPUTS[key])


def _stages(summary: dict) -> list[tuple[str, float]]:
    t = summary.get("timings_ms", {})
    named = {s.id: s.label for s in (*STAGES, TOTAL)}
    known = [(label, t[k]) for k, label in named.items() if k in t]
    return known + [(k, v) for k, v in t.items() if k not in named]


# The outputs of the one download that holds a result (the photo itself is left out: the
# person has it).
ZIP_OUTPUTS = (OUTPUTS["mask"], OUTPUTS["overlay"], OUTPUTS["heatmap"])
ZIP_MIME = "application/zip"


def result_zip(result_id: str, summary_json: dict, files) -> bytes:
    """One ZIP of a result's mask, overlay, heatmap and JSON, named as the single
    downloads are (``rustseg-<id>-mask.png`` ...). Stored, not deflated: the images are
    compressed already."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for o in ZIP_OUTPUTS:
            z.writestr(download_name(result_id, o), files[o.filename])
        z.writestr(download_name(result_id, RESULT_JSON), json.dumps(summary_json, indent=2))
    return buf.getvalue()


def zip_name(result_id: str) -> str:
    return f"rustseg-{result_id}.zip"


def inline_view(rendered: Rendered) -> ResultView:
    """Images as data: URIs: a result nobody asked to keep is never written anywhere (so
    it is gone once the page is left: one ZIP holds it all). Its downloads are named by the
    time of the analysis (it has no id)."""
    urls = {o.key: data_uri(rendered.files[o.filename], o.mime) for o in OUTPUTS.values()}
    body = result_json(rendered.summary)
    urls[RESULT_JSON.key] = data_uri(json.dumps(body, indent=2).encode(), RESULT_JSON.mime)
    result_id = time.strftime("%Y%m%d-%H%M%S")
    urls["zip"] = data_uri(result_zip(result_id, body, rendered.files), ZIP_MIME)
    return ResultView(summary=rendered.summary, urls=urls, result_id=result_id,
                      stages=_stages(rendered.summary))


def stored_view(record: Record, url_for_file: Callable[[str], str],
                summary: dict | None = None) -> ResultView:
    """A kept result; ``url_for_file(name)`` gives the URL serving one of its files and
    ``summary`` (default: the record's own) is what its current mask says."""
    urls = {o.key: url_for_file(o.filename) for o in VIEW_OUTPUTS}
    summary = record.summary if summary is None else summary
    return ResultView(summary=summary, urls=urls, result_id=record.id, record=record,
                      stages=_stages(summary))


@dataclass(frozen=True)
class SurveyRow:
    """One photo of the survey page, worst first."""

    number: int
    name: str
    severity: Severity
    summary: dict
    overlay_uri: str | None
    probability_pct: str
    area_pct: str
    distribution: str
    taken: str | None
    gps: str | None
    method: str = ""
    uncertain: bool = False


@dataclass(frozen=True)
class SurveyView:
    """What survey_result.html shows: totals, locations plot, rows and skipped photos."""

    title: str
    created: str
    photos: int
    totals: list[tuple[Severity, int]]
    rows: list[SurveyRow]
    skipped: list[tuple[str, str]]
    locations_svg: str  # inline SVG from the core (escaped there), empty without GPS
    about: list[tuple[str, str]] = field(default_factory=list)  # what the report states it was made with


def survey_view(survey: "Survey") -> SurveyView:
    """The survey page's view of a core ``Survey`` (images as data: URIs: nothing is stored)."""
    totals = survey.totals()
    rows = [SurveyRow(number=i, name=p.name, severity=SEVERITIES[p.severity], summary=p.summary,
                      overlay_uri=data_uri(p.overlay_jpeg, "image/jpeg") if p.overlay_jpeg else None,
                      probability_pct=percent(p.summary["probability"]),
                      area_pct=percent(p.summary["area_fraction"], 2),
                      distribution=distribution_label(p.summary.get("rust_distribution")),
                      taken=(p.summary.get("capture_time") or "").replace("T", " ") or None,
                      gps=gps_text(p.summary) if p.has_gps else None,
                      method=mode_label(p.summary.get("mode")),
                      uncertain=bool(p.summary.get("uncertain")))
            for i, p in enumerate(survey.photos, 1)]
    return SurveyView(title=survey.title, created=survey.created.replace("T", " "),
                      photos=totals["photos"], totals=[(s, totals[k]) for k, s in SEVERITIES.items()],
                      rows=rows, skipped=list(survey.skipped),
                      # drawn for a phone: 390 px shows it at about its own size
                      locations_svg=locations_svg(survey, 420, 300, text=16),
                      about=about(survey))
