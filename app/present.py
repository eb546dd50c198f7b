"""Turning a core ``Result`` or a kept ``Record`` into what the result page shows.

No image maths here: the core encodes the images; this module only names, wraps and links them.
"""
from __future__ import annotations

import base64
import colorsys
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from rustseg_core.store import OUTPUT_FILES, Record

if TYPE_CHECKING:
    from rustseg_core.segmenter import Result

MIME_TYPES = {"jpg": "image/jpeg", "png": "image/png", "json": "application/json"}
# Human names of the core's timing stages, in pipeline order.
STAGES = {"decode": "Decode photo", "preprocess": "Resize for the model", "classify": "Classify",
          "localise": "Grad-CAM++", "refine": "Mask (CRF)", "render": "Overlay", "total": "Total"}
MODE_NAMES = {"standard": "Standard (dense CRF)", "advanced": "Advanced (K-means + CRF)"}


# Hue (degrees) below which a colour gets the name, for captions such as "marked in red".
HUE_NAMES = [(15, "red"), (40, "orange"), (70, "yellow"), (165, "green"), (200, "cyan"),
             (255, "blue"), (290, "purple"), (335, "magenta"), (360, "red")]


def mime_type(name: str) -> str:
    return MIME_TYPES[name.rsplit(".", 1)[-1]]


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
    """A result's summary and its encoded images, named as in the store (``OUTPUT_FILES``)."""

    summary: dict
    files: dict[str, bytes]


def render_result(result: "Result") -> Rendered:
    """Encode each output once; the page, the API and the store all reuse the bytes."""
    files = {"image.jpg": result.image_jpeg(), "overlay.jpg": result.overlay_jpeg(),
             "heatmap.png": result.heatmap_png(), "mask.png": result.mask_png()}
    assert set(files) == set(OUTPUT_FILES)
    return Rendered(summary=result.summary(), files=files)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def result_json(summary: dict, record: Record | None = None) -> dict:
    """The downloadable JSON: the core's summary, plus id and verdict for a kept photo."""
    out = dict(summary)
    if record is not None:
        out.update(id=record.id, kept_at=record.created_at, verdict=record.verdict)
    return out


@dataclass
class ResultView:
    """Everything result.html needs, whether the images are inline or served from the store."""

    summary: dict
    urls: dict[str, str]  # image, overlay, heatmap, mask, json
    download_prefix: str = "rustseg"
    record: Record | None = None
    stages: list[tuple[str, float]] = field(default_factory=list)
    notice: str | None = None  # e.g. that keeping the photo failed

    @property
    def is_corrosion(self) -> bool:
        return bool(self.summary["is_corrosion"])

    @property
    def probability_pct(self) -> str:
        return _pct(self.summary["probability"])

    @property
    def threshold_pct(self) -> str:
        return _pct(self.summary["threshold"])

    @property
    def area_pct(self) -> str:
        return _pct(self.summary["area_fraction"])

    @property
    def mode_name(self) -> str:
        return MODE_NAMES.get(self.summary["mode"], self.summary["mode"])


def _pct(x: float) -> str:
    v = 100.0 * float(x)
    return f"{v:.1f} %" if 0 < v < 99.95 else f"{v:.0f} %"


def _stages(summary: dict) -> list[tuple[str, float]]:
    t = summary.get("timings_ms", {})
    known = [(STAGES[k], t[k]) for k in STAGES if k in t]
    return known + [(k, v) for k, v in t.items() if k not in STAGES]


def inline_view(rendered: Rendered) -> ResultView:
    """Images as data: URIs: a result nobody asked to keep is never written anywhere."""
    urls = {key: data_uri(rendered.files[name], mime_type(name)) for key, name in
            (("image", "image.jpg"), ("overlay", "overlay.jpg"), ("heatmap", "heatmap.png"),
             ("mask", "mask.png"))}
    urls["json"] = data_uri(json.dumps(result_json(rendered.summary), indent=2).encode(),
                            "application/json")
    return ResultView(summary=rendered.summary, urls=urls, stages=_stages(rendered.summary))


def stored_view(record: Record, url_for_file: Callable[[str], str]) -> ResultView:
    """A kept result; ``url_for_file(name)`` gives the URL serving one of its files."""
    urls = {key: url_for_file(name) for key, name in
            (("image", "image.jpg"), ("overlay", "overlay.jpg"), ("heatmap", "heatmap.png"),
             ("mask", "mask.png"), ("json", "result.json"))}
    return ResultView(summary=record.summary, urls=urls, download_prefix=f"rustseg-{record.id}",
                      record=record, stages=_stages(record.summary))
