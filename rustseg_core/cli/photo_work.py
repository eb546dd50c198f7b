"""The per-file work every batch engine shares: decode → segment → assess → per-photo
files + summary rows, and the record that makes a batch resumable.

Files are written under a temporary name in the output folder and renamed into place, so
an interrupted run never leaves a half-written output. A file's *done record*
(``OUT/.rustseg/done/STEM.json``: its rows, and its report thumbnails when asked for) is
written last; a rerun with the same settings skips a file whose record and outputs exist
and whose size and modification time are unchanged.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..inspection.assess import InspectionConfig, assess
from ..inspection.roi import Polygon
from ..inspection.survey import SurveyPhoto, survey_photo
from ..pipeline.imageio import ImageInputError
from ..pipeline.segmenter import Result, Segmenter
from ..vocabulary import BATCH_OUTPUTS, OUTPUTS, RESULT_FIELDS, STAGE_IDS, TOTAL
from .sources import S3, STATE_DIR, Source, read_bytes

log = logging.getLogger(__name__)
# The summary's own field names (as in the API's JSON), then one column per timed stage.
SUMMARY_FIELDS = list(RESULT_FIELDS)
TIMING_FIELDS = [f"{s}_ms" for s in (TOTAL.id, *STAGE_IDS)]
CSV_FIELDS = ["file", "frame", *SUMMARY_FIELDS, *TIMING_FIELDS, "error"]
TEMP_PREFIX = ".rustseg-tmp-"
RECORD_VERSION = 1
# mkstemp makes 0600 files; outputs get the usual permissions (0666 less the umask).
_UMASK = os.umask(0)
os.umask(_UMASK)


@dataclass(frozen=True)
class Settings:
    """What, besides the photo, decides a batch's outputs; a change means recomputing."""

    mode: str
    every: int = 30
    roi: Polygon | None = None
    inspection: InspectionConfig = InspectionConfig()
    survey: bool = False      # keep report thumbnails (``--report``)
    model: str = ""           # the model's version and refinement settings

    def key(self, source: Source) -> str:
        """A digest of these settings and of the file's size and modification time."""
        parts = [RECORD_VERSION, self.mode, self.every, repr(self.roi), repr(self.inspection),
                 self.model, source.uri, source.size, source.mtime]
        return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def model_identity(segmenter: Segmenter) -> str:
    """The model's version and refinement settings, for :attr:`Settings.model`."""
    return f"{segmenter.bundle.version} {segmenter.config!r}"


@dataclass
class FileOutcome:
    """One input file's rows (one per photo or video frame), its report entries and the
    photos that were skipped (label, why). ``failed``: the file itself could not be read,
    so it is tried again on a rerun."""

    rows: list[dict] = field(default_factory=list)
    photos: list[SurveyPhoto] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: bool = False
    resumed: bool = False
    survey_seconds: float = 0.0  # time spent on report thumbnails (the report's cost)

    def to_json(self) -> dict:
        return {"rows": self.rows, "skipped": [list(s) for s in self.skipped], "failed": self.failed,
                "photos": [{"name": p.name, "summary": p.summary, "image_jpeg": _b64(p.image_jpeg),
                            "overlay_jpeg": _b64(p.overlay_jpeg), "file": p.file, "frame": p.frame}
                           for p in self.photos]}

    @classmethod
    def from_json(cls, d: dict, resumed: bool = False) -> "FileOutcome":
        photos = [SurveyPhoto(p["name"], p["summary"], _unb64(p["image_jpeg"]), _unb64(p["overlay_jpeg"]),
                              file=p.get("file", ""), frame=p.get("frame"))
                  for p in d["photos"]]
        return cls(d["rows"], photos, [tuple(s) for s in d["skipped"]], d["failed"], resumed)


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


# ------------------------------------------------------------------ atomic files
def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename, so
    readers (and a rerun after a crash) see the old file, or the whole new one."""
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temps(out_dir: Path) -> int:
    """Delete temporary files left by a run that was killed mid-write; how many."""
    stale = [*out_dir.glob(TEMP_PREFIX + "*"), *(out_dir / STATE_DIR / "done").glob(TEMP_PREFIX + "*")]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def output_paths(out_dir: Path, name: str) -> list[Path]:
    return [out_dir / f"{name}_{OUTPUTS[k].key}.{OUTPUTS[k].extension}" for k in BATCH_OUTPUTS]


def write_outputs(result: Result, out_dir: Path, name: str) -> None:
    """Mask PNG, overlay JPEG and heatmap PNG for one image, each written atomically."""
    for key, path in zip(BATCH_OUTPUTS, output_paths(out_dir, name)):
        atomic_write(path, getattr(result, OUTPUTS[key].encoder)())


def _record_path(out_dir: Path, source: Source) -> Path:
    return out_dir / STATE_DIR / "done" / f"{source.stem}.json"


def load_done(out_dir: Path, source: Source, settings: Settings) -> FileOutcome | None:
    """The outcome recorded for ``source`` by an earlier run with the same settings, if its
    outputs are all there (else None: compute it)."""
    try:
        record = json.loads(_record_path(out_dir, source).read_text())
    except (OSError, ValueError):
        return None
    if record.get("key") != settings.key(source) or (settings.survey and not record.get("survey")):
        return None
    outcome = FileOutcome.from_json(record["outcome"], resumed=True)
    names = record.get("outputs", [])
    if not all(p.is_file() for n in names for p in output_paths(out_dir, n)):
        return None
    return outcome


def _save_done(out_dir: Path, source: Source, settings: Settings, outcome: FileOutcome,
               names: list[str]) -> None:
    path = _record_path(out_dir, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"key": settings.key(source), "survey": settings.survey, "outputs": names,
              "outcome": outcome.to_json()}
    atomic_write(path, json.dumps(record).encode())


# ------------------------------------------------------------------ the work
def _row(source: Source, frame: int | None, summary: dict | None, error: str = "") -> dict:
    row = {"file": source.uri, "frame": "" if frame is None else frame, "error": error}
    if summary is not None:
        row.update({k: summary.get(k) for k in SUMMARY_FIELDS})
        row["mask_note"] = row["mask_note"] or ""
        row.update({f"{k}_ms": v for k, v in summary["timings_ms"].items() if f"{k}_ms" in TIMING_FIELDS})
    # Rows go through JSON (done records, actors' replies), so every engine writes the same
    # values: e.g. a tuple becomes a list whichever engine made the row.
    return json.loads(json.dumps(row))


def video_frames(path: Path, every: int) -> Iterator[tuple[int, np.ndarray]]:
    """Every ``every``-th frame of a video as RGB arrays (OpenCV decodes the container)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ImageInputError(f"could not open video {path.name}")
    try:
        index = 0
        while True:
            if not cap.grab():
                break
            if index % every == 0:
                ok, frame = cap.retrieve()
                if ok:
                    yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        cap.release()


def _frames(source: Source, every: int) -> list[tuple[int, np.ndarray]]:
    """A video's frames; an S3 video is copied to a temporary file first (OpenCV reads files)."""
    if not source.is_s3:
        return list(video_frames(Path(source.uri), every))
    with tempfile.NamedTemporaryFile(suffix=Path(source.uri).suffix) as f:
        f.write(read_bytes(source))
        f.flush()
        return list(video_frames(Path(f.name), every))


def _label(source: Source, frame: int | None) -> str:
    name = source.uri.rsplit("/", 1)[-1] if source.uri.startswith(S3) else Path(source.uri).name
    return name if frame is None else f"{name} frame {frame}"


def process(segmenter: Segmenter, source: Source, settings: Settings, out_dir: Path) -> FileOutcome:
    """Segment one input file (every ``settings.every``-th frame of a video) into
    ``out_dir``; unreadable files and frames become rows with their error. Writes the done
    record last, unless the file itself could not be read."""
    outcome = FileOutcome()
    try:
        if source.is_video:
            units = [(f"{source.stem}_f{k:06d}", k, arr) for k, arr in _frames(source, settings.every)]
        else:  # local photos are decoded from their path, as before; S3 ones from their bytes
            units = [(source.stem, None, read_bytes(source) if source.is_s3 else Path(source.uri))]
    except (ImageInputError, OSError) as e:
        log.info("skipped %s: %s", source.uri, e)
        outcome.rows.append(_row(source, None, None, str(e)))
        outcome.failed = True
        return outcome
    names = []
    for name, frame, data in units:
        try:
            result = segmenter.segment(data, mode=settings.mode)
            result, summary = assess(result, settings.roi, settings.inspection)
            write_outputs(result, out_dir, name)
            outcome.rows.append(_row(source, frame, summary))
            names.append(name)
            if settings.survey:
                t0 = time.perf_counter()
                outcome.photos.append(survey_photo(_label(source, frame), result, summary,
                                                   file=source.uri, frame=frame))
                outcome.survey_seconds += time.perf_counter() - t0
        except (ImageInputError, OSError, ValueError) as e:  # ValueError: an ROI too small
            log.info("skipped %s: %s", source.uri, e)
            outcome.rows.append(_row(source, frame, None, str(e)))
            outcome.skipped.append((_label(source, frame), str(e)))
            outcome.failed = outcome.failed or frame is None
    if not outcome.failed:
        _save_done(out_dir, source, settings, outcome, names)
    return outcome
