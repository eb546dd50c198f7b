"""Batch segmentation of files, folders and videos (``rustseg segment``)."""
from __future__ import annotations

import csv
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..inspection.assess import InspectionConfig, assess
from ..inspection.report import write_reports
from ..inspection.roi import Polygon
from ..inspection.survey import SurveyPhoto, make_survey, survey_photo
from ..pipeline.imageio import IMAGE_EXTENSIONS, ImageInputError
from ..pipeline.segmenter import Result, Segmenter
from ..vocabulary import INSPECTION_FIELDS, OUTPUTS, PHOTO_FIELDS, STAGE_IDS, TOTAL

log = logging.getLogger(__name__)
VIDEO_EXTENSIONS = {".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm"}
# The summary's own field names (as in the API's JSON), then one column per timed stage.
SUMMARY_FIELDS = ["probability", "decision", "area_fraction", "width", "height", "mode",
                  "model_version", "mask_note", *INSPECTION_FIELDS, *PHOTO_FIELDS]
TIMING_FIELDS = [f"{s}_ms" for s in (TOTAL.id, *STAGE_IDS)]
CSV_FIELDS = ["file", "frame", *SUMMARY_FIELDS, *TIMING_FIELDS, "error"]
# Per-image files: NAME_mask.png, NAME_overlay.jpg, NAME_heatmap.png.
BATCH_OUTPUTS = ("mask", "overlay", "heatmap")


@dataclass
class Item:
    """One unit of work: an image file, or one frame of a video."""

    name: str          # output stem, unique within the batch
    path: Path
    frame: int | None = None
    array: np.ndarray | None = None


def expand_inputs(paths: list[str | Path]) -> list[Path]:
    """Files as given; folders searched recursively for images and videos (sorted)."""
    out: list[Path] = []
    wanted = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in wanted))
        else:
            out.append(p)
    return out


def _stem(path: Path, roots: list[Path]) -> str:
    for root in roots:
        try:
            rel = path.relative_to(root)
            return "__".join(rel.with_suffix("").parts)
        except ValueError:
            continue
    return path.stem


def video_frames(path: Path, every: int) -> Iterator[tuple[int, np.ndarray]]:
    """Every ``every``-th frame of a video as RGB arrays (OpenCV decodes the container)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ImageInputError(f"could not open video {path.name}")
    try:
        index = 0
        while True:
            ok = cap.grab()
            if not ok:
                break
            if index % every == 0:
                ok, frame = cap.retrieve()
                if ok:
                    yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        cap.release()


def write_outputs(result: Result, out_dir: Path, name: str) -> None:
    """Mask PNG, overlay JPEG and heatmap PNG for one image."""
    for key in BATCH_OUTPUTS:
        out = OUTPUTS[key]
        (out_dir / f"{name}_{out.key}.{out.extension}").write_bytes(getattr(result, out.encoder)())


def _row(item: Item, summary: dict | None, error: str = "") -> dict:
    row = {"file": str(item.path), "frame": "" if item.frame is None else item.frame, "error": error}
    if summary is not None:
        row.update({k: summary.get(k) for k in SUMMARY_FIELDS})
        row["mask_note"] = row["mask_note"] or ""
        row.update({f"{k}_ms": v for k, v in summary["timings_ms"].items() if f"{k}_ms" in TIMING_FIELDS})
    return row


class Progress:
    """Keras' progress bar on a terminal; one plain line per item when the output is a file
    or a pipe (no carriage returns or colour codes in logs)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled
        self.bar = None
        if enabled and sys.stdout.isatty():
            from ..tf_runtime import keras

            self.bar = keras().utils.Progbar(total, unit_name="file")

    def update(self, done: int, path: Path, rows: list[dict]) -> None:
        if self.bar is not None:
            self.bar.update(done)
        elif self.enabled:
            last = rows[-1] if rows else {}
            what = "skipped (see the end)" if last.get("error") else last.get("decision", "")
            print(f"[{done}/{self.total}] {path}: {what}", flush=True)


class ReportBuilder:
    """Collects each segmented photo's thumbnails and numbers for the survey report, and
    writes report.html/.pdf/.csv/.geojson; ``seconds`` is the time it took (the report's
    cost on top of the segmentation, see ``benchmarks/report_overhead.py``)."""

    def __init__(self, title: str = "RustSEG survey"):
        self.title = title
        self.photos: list[SurveyPhoto] = []
        self.skipped: list[tuple[str, str]] = []
        self.seconds = 0.0

    def add(self, name: str, result: Result, summary: dict) -> None:
        t0 = time.perf_counter()
        self.photos.append(survey_photo(name, result, summary))
        self.seconds += time.perf_counter() - t0

    def write(self, out_dir: Path) -> list[Path]:
        """The report files (none when no photo was segmented)."""
        if not self.photos:
            return []
        t0 = time.perf_counter()
        paths = write_reports(make_survey(self.photos, self.title, self.skipped), out_dir)
        self.seconds += time.perf_counter() - t0
        return paths


def _label(item: Item) -> str:
    return item.path.name if item.frame is None else f"{item.path.name} frame {item.frame}"


def segment_batch(segmenter: Segmenter, inputs: list[str | Path], out_dir: str | Path,
                  mode: str | None = None, every: int = 30, progress: bool = True,
                  roi: Polygon | None = None, report: ReportBuilder | None = None,
                  inspection: InspectionConfig = InspectionConfig()) -> list[dict]:
    """Segment everything in ``inputs`` into ``out_dir``; returns one summary row per item.

    Grades are measured inside ``roi`` (normalised polygon; the whole photo without one).
    With ``report``, the survey report is written beside results.csv. Unreadable files and
    frames are recorded with their error and skipped.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    roots = [Path(p) for p in inputs if Path(p).is_dir()]
    files = expand_inputs(inputs)
    bar = Progress(len(files), progress)
    rows: list[dict] = []
    for i, path in enumerate(files):
        stem = _stem(path, roots)
        if path.suffix.lower() in VIDEO_EXTENSIONS:
            try:
                items = [Item(f"{stem}_f{k:06d}", path, k, arr) for k, arr in video_frames(path, every)]
            except (ImageInputError, OSError) as e:
                items = []
                rows.append(_row(Item(stem, path), None, str(e)))
                log.info("skipped %s: %s", path, e)
        else:
            items = [Item(stem, path)]
        for item in items:
            try:
                result = segmenter.segment(item.array if item.array is not None else item.path, mode=mode)
                result, summary = assess(result, roi, inspection)
                write_outputs(result, out_dir, item.name)
                rows.append(_row(item, summary))
                if report is not None:
                    report.add(_label(item), result, summary)
            except (ImageInputError, OSError, ValueError) as e:  # ValueError: an ROI too small
                log.info("skipped %s: %s", item.path, e)
                rows.append(_row(item, None, str(e)))
                if report is not None:
                    report.skipped.append((_label(item), str(e)))
        bar.update(i + 1, path, rows)
    write_summary(rows, out_dir)
    if report is not None:
        report.write(out_dir)
    return rows


def write_summary(rows: list[dict], out_dir: Path) -> None:
    """``results.csv`` and ``results.json`` side by side."""
    with open(out_dir / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, restval="")
        w.writeheader()
        w.writerows({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()} for r in rows)
    (out_dir / "results.json").write_text(json.dumps(rows, indent=2))
