"""The shared vocabulary: the names that cross modules and layers, each defined once.

Class labels and decisions, mask modes, pipeline stages, output files and verdicts are
spelled here and nowhere else. The pipeline produces them, the store records them, the CLI
writes them and the web app shows them: adding an output, a mode or a stage is a change to
this file (plus the code that computes it), not a hunt through every layer.
"""
from __future__ import annotations

from dataclasses import dataclass

# ------------------------------------------------------------------ labels and decisions
CORROSION = "corrosion"
NOT_CORROSION = "not_corrosion"
# Training label index → name (0 = not corrosion, 1 = corrosion); also the folder names of
# an image-level data set (``corrosion/``, ``not_corrosion/``).
CLASS_LABELS = (NOT_CORROSION, CORROSION)


def decision(is_corrosion: bool) -> str:
    """The decision name for a classifier verdict (the same words as the class labels)."""
    return CORROSION if is_corrosion else NOT_CORROSION


# ------------------------------------------------------------------ mask modes
@dataclass(frozen=True)
class Mode:
    """A way of turning the model's evidence into a mask."""

    id: str
    label: str  # short name for forms, tables and reports
    help: str  # one sentence for people, in plain words
    research: bool = False  # the paper's methods: for research and comparison, not for grades


MODES: dict[str, Mode] = {m.id: m for m in (
    Mode("learned", "Rust mask (recommended)",
         "Recommended. A network trained on close-up photos in which people traced the rust "
         "marks it pixel by pixel. Use it for grades and reports."),
    Mode("standard", "Paper method (research)",
         "The method of the RustSEG paper: the part of the photo the classifier paid most "
         "attention to, traced along colour edges. For research and comparison: its areas "
         "differ from the recommended method's, so do not mix methods in one survey.",
         research=True),
    Mode("advanced", "Paper method, advanced (research)",
         "The paper's variant that also sorts the photo's colours into two groups before "
         "tracing. For research and comparison.", research=True),
)}
MODE_IDS = tuple(MODES)
# The modes of the paper's method, which any model (a classifier too) can run.
PAPER_MODES = ("standard", "advanced")
# What a model without its own default runs (a model folder may name another, see config).
DEFAULT_MODE = "standard"


def check_mode(mode: str) -> str:
    """``mode`` itself if it is known, else a ``ValueError`` that lists the choices."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODE_IDS)}, not {mode!r}")
    return mode


# ------------------------------------------------------------------ pipeline stages
@dataclass(frozen=True)
class Stage:
    """A timed step of the pipeline (``Result.timings`` keys)."""

    id: str
    label: str


STAGES: tuple[Stage, ...] = (
    Stage("decode", "Decode photo"),
    Stage("preprocess", "Resize for the model"),
    Stage("classify", "Classify"),
    Stage("localise", "Grad-CAM++"),
    Stage("refine", "Mask"),
    Stage("render", "Overlay"),
)
STAGE_IDS = tuple(s.id for s in STAGES)
TOTAL = Stage("total", "Total")


# ------------------------------------------------------------------ output files
@dataclass(frozen=True)
class Output:
    """One rendered output of a result: its file name, MIME type and the ``Result`` method
    that encodes it."""

    key: str
    filename: str
    mime: str
    encoder: str
    description: str

    @property
    def extension(self) -> str:
        return self.filename.rsplit(".", 1)[-1]


OUTPUTS: dict[str, Output] = {o.key: o for o in (
    Output("image", "image.jpg", "image/jpeg", "image_jpeg", "the photo as analysed"),
    Output("overlay", "overlay.jpg", "image/jpeg", "overlay_jpeg", "the photo with the mask drawn on it"),
    Output("heatmap", "heatmap.png", "image/png", "heatmap_png", "where the model saw evidence"),
    Output("mask", "mask.png", "image/png", "mask_png", "the mask: 255 = corrosion, 0 = not"),
)}
OUTPUT_FILES = tuple(o.filename for o in OUTPUTS.values())
# The files ``segment`` writes for each photo or frame: NAME_mask.png, NAME_overlay.jpg, NAME_heatmap.png.
BATCH_OUTPUTS = ("mask", "overlay", "heatmap")
RESULT_JSON = Output("result", "result.json", "application/json", "", "the numbers of a result")


def output_for_file(filename: str) -> Output | None:
    """The output (or the result JSON) stored under ``filename``; ``None`` if there is none."""
    if filename == RESULT_JSON.filename:
        return RESULT_JSON
    return next((o for o in OUTPUTS.values() if o.filename == filename), None)


def download_name(result_id: str, output: Output) -> str:
    """``rustseg-<id>-<what>.<ext>``: files from two results never collide in a downloads folder."""
    return f"rustseg-{result_id}-{output.key}.{output.extension}"


# ------------------------------------------------------------------ verdicts
# Answers to "was this right?": the result is right; there is rust but the result missed or
# misplaced it; there is no rust in the photo.
VERDICTS: dict[str, str] = {
    "correct": "Correct",
    "wrong": "Wrong — there is rust it missed or misplaced",
    "no_rust": "No rust in this photo",
}
# The verdict that means "the mask is empty": answering it stores an empty corrected mask.
NO_RUST = "no_rust"


# ------------------------------------------------------------------ corrected masks
# How a corrected mask came to be: drawn in the editor or sent to the API, or implied by
# the "no rust" verdict (an empty mask).
CORRECTION_SOURCES = ("drawn", NO_RUST)
# A mask data set: ``images/NAME.*`` with ``masks/NAME.png`` (the layout of ../shared/data/pixel,
# written by ``rustseg dataset export`` from corrected masks).
MASK_IMAGES_DIR = "images"
MASK_MASKS_DIR = "masks"
# Written by the export next to images/ and masks/: one row per pair, naming its store record.
MASK_MANIFEST = "masks.csv"
# Written by ``rustseg train --masks`` into the model folder: every mask photo it used.
TRAINING_MANIFEST = "training_manifest.csv"


# ------------------------------------------------------------------ inspection
@dataclass(frozen=True)
class Severity:
    """A severity class of an inspection result, worst last; ``colour`` marks it on pages,
    reports and plots."""

    id: str
    label: str
    colour: str  # CSS hex colour


SEVERITIES: dict[str, Severity] = {s.id: s for s in (
    Severity("good", "Good", "#2e7d32"),
    Severity("fair", "Fair", "#b08900"),
    Severity("poor", "Poor", "#d35400"),
    Severity("severe", "Severe", "#b71c1c"),
)}
SEVERITY_IDS = tuple(SEVERITIES)


@dataclass(frozen=True)
class Distribution:
    """An ASTM D610 rust distribution type."""

    id: str
    label: str
    help: str


DISTRIBUTIONS: dict[str, Distribution] = {d.id: d for d in (
    Distribution("spot", "Spot (S)", "the rust is concentrated in a few localised areas"),
    Distribution("general", "General (G)", "rust spots of various sizes spread over the surface"),
    Distribution("pinpoint", "Pinpoint (P)", "the rust is many very small, separate specks"),
)}
DISTRIBUTION_IDS = tuple(DISTRIBUTIONS)

# The inspection fields a result's summary gains (API, results.csv/json, store, pages):
# grades, severity, distribution type and the region of interest they were measured in.
INSPECTION_FIELDS = ("astm_d610_grade", "iso4628_ri", "severity", "rust_distribution", "roi",
                     "roi_fraction")
# What a photo's EXIF says about where and when it was taken (None when it does not say).
PHOTO_FIELDS = ("capture_time", "latitude", "longitude")
# Every table of per-photo results (results.csv/json of ``rustseg segment``, report.csv of a
# survey) uses these names, in this order. ``uncertain``: the probability is in the model's
# borderline band, so the decision should be checked by eye.
RESULT_FIELDS = ("probability", "decision", "uncertain", "threshold", "area_fraction", "width",
                 "height", "mode", "model_version", "mask_note", *INSPECTION_FIELDS, *PHOTO_FIELDS)
# Said wherever a borderline result is shown.
CHECK_BY_EYE = "Borderline: check by eye"

# The files of a survey report (``rustseg segment --report`` and the web survey page);
# ``encoder`` names the function of ``rustseg_core.inspection.report`` that renders it.
REPORT_OUTPUTS: dict[str, Output] = {o.key: o for o in (
    Output("html", "report.html", "text/html", "report_html", "a self-contained HTML report"),
    Output("pdf", "report.pdf", "application/pdf", "report_pdf",
           "cover summary, table and one section per photo"),
    Output("csv", "report.csv", "text/csv", "report_csv", "one row per photo"),
    Output("geojson", "report.geojson", "application/geo+json", "report_geojson",
           "the photos with GPS as points"),
)}
