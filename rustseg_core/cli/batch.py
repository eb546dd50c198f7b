"""Batch segmentation of files, folders and videos (``rustseg segment``): the in-process
engine, and what every engine's driver shares (progress, summary files, survey report)."""
from __future__ import annotations

import csv
import io
import json
import logging
import sys
import time
from pathlib import Path
from typing import Iterable

from ..inspection.assess import InspectionConfig
from ..inspection.grades import SeverityCutoffs
from ..inspection.report import write_reports
from ..inspection.roi import Polygon
from ..inspection.survey import SurveyPhoto, make_survey
from ..pipeline.segmenter import Segmenter
from .photo_work import (BATCH_OUTPUTS, CSV_FIELDS, FileOutcome, Settings, atomic_write, load_done,
                         model_identity, process, remove_stale_temps)
from .sources import Source, expand

log = logging.getLogger(__name__)
__all__ = ["BATCH_OUTPUTS", "CSV_FIELDS", "Progress", "ReportBuilder", "segment_batch", "write_summary"]


class Progress:
    """Keras' progress bar on a terminal; one plain line per item when the output is a file
    or a pipe (no carriage returns or colour codes in logs)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled
        self.bar = None
        if enabled and sys.stdout.isatty():
            from ..tf_runtime import keras

            self.bar = keras().utils.Progbar(total, unit_name="file")

    def update(self, done: int, uri: str, outcome: FileOutcome) -> None:
        """Count one more input file done; ``outcome`` says how it went."""
        if self.bar is not None:
            self.bar.update(done)
        elif self.enabled:
            last = outcome.rows[-1] if outcome.rows else {}
            what = "skipped (see the end)" if last.get("error") else last.get("decision", "")
            if outcome.resumed:
                what += " (kept from an earlier run)"
            print(f"[{done}/{self.total}] {uri}: {what}", flush=True)


class ReportBuilder:
    """Collects each segmented photo's thumbnails and numbers for the survey report, and
    writes report.html/.pdf/.csv/.geojson; ``seconds`` is the time it took (the report's
    cost on top of the segmentation, see ``benchmarks/report_overhead.py``)."""

    def __init__(self, title: str = "RustSEG survey", site: str = "", inspector: str = "",
                 cutoffs: SeverityCutoffs = SeverityCutoffs()):
        self.title, self.site, self.inspector, self.cutoffs = title, site, inspector, cutoffs
        self.photos: list[SurveyPhoto] = []
        self.skipped: list[tuple[str, str]] = []
        self.seconds = 0.0

    def add(self, outcome: FileOutcome) -> None:
        """One input file's photos and skipped photos (thumbnails made by the engine)."""
        self.photos.extend(outcome.photos)
        self.skipped.extend(outcome.skipped)
        self.seconds += outcome.survey_seconds

    def write(self, out_dir: Path) -> list[Path]:
        """The report files (none when no photo was segmented)."""
        if not self.photos:
            return []
        t0 = time.perf_counter()
        survey = make_survey(self.photos, self.title, self.skipped, site=self.site,
                             inspector=self.inspector, cutoffs=self.cutoffs)
        paths = write_reports(survey, out_dir)
        self.seconds += time.perf_counter() - t0
        return paths


def write_summary(rows: list[dict], out_dir: Path) -> None:
    """``results.csv`` and ``results.json`` side by side (each replaced atomically)."""
    text = io.StringIO(newline="")
    w = csv.DictWriter(text, fieldnames=CSV_FIELDS, restval="")
    w.writeheader()
    w.writerows({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()} for r in rows)
    atomic_write(out_dir / "results.csv", text.getvalue().encode())
    atomic_write(out_dir / "results.json", json.dumps(rows, indent=2).encode())


def start(inputs: list[str | Path], out_dir: str | Path) -> tuple[Path, list[Source]]:
    """The output folder (created, temporary files of a killed run removed) and the inputs
    expanded into files, in the order every engine writes their rows."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if removed := remove_stale_temps(out_dir):
        log.info("removed %d temporary files of an interrupted run", removed)
    return out_dir, expand(inputs)


class BatchRows(list):
    """The rows of a batch (one per photo or video frame), and how many of them an earlier
    run had already made (``reused``: their files were complete, so nothing was redone)."""

    reused: int = 0


def finish(outcomes: Iterable[FileOutcome], out_dir: Path, report: "ReportBuilder | None") -> BatchRows:
    """Rows of every file in input order, written to results.csv/json, and the report."""
    rows = BatchRows()
    for outcome in outcomes:
        rows.extend(outcome.rows)
        if outcome.resumed:
            rows.reused += len(outcome.rows)
        if report is not None:
            report.add(outcome)
    write_summary(rows, out_dir)
    if report is not None:
        report.write(out_dir)
    return rows


def settings_for(segmenter: Segmenter, mode: str | None = None, every: int = 30,
                 roi: Polygon | None = None, report: "ReportBuilder | None" = None,
                 inspection: InspectionConfig = InspectionConfig()) -> Settings:
    """The batch settings for ``segmenter`` (its default mode unless ``mode``)."""
    if every < 1:
        raise ValueError("every must be at least 1")
    return Settings(segmenter.check_mode(mode), every, roi, inspection, report is not None,
                    model_identity(segmenter))


def segment_batch(segmenter: Segmenter, inputs: list[str | Path], out_dir: str | Path,
                  mode: str | None = None, every: int = 30, progress: bool = True,
                  roi: Polygon | None = None, report: ReportBuilder | None = None,
                  inspection: InspectionConfig = InspectionConfig(), resume: bool = True) -> list[dict]:
    """Segment everything in ``inputs`` into ``out_dir`` in this process; returns one summary
    row per photo or video frame.

    Grades are measured inside ``roi`` (normalised polygon; the whole photo without one).
    With ``report``, the survey report is written beside results.csv. Unreadable files and
    frames are recorded with their error and skipped. With ``resume``, files done by an
    earlier run with the same settings are not segmented again.
    """
    settings = settings_for(segmenter, mode, every, roi, report, inspection)
    out_dir, sources = start(inputs, out_dir)
    bar = Progress(len(sources), progress)
    outcomes = []
    for i, source in enumerate(sources):
        outcome = (load_done(out_dir, source, settings) if resume else None) \
            or process(segmenter, source, settings, out_dir)
        outcomes.append(outcome)
        bar.update(i + 1, source.uri, outcome)
    return finish(outcomes, out_dir, report)
