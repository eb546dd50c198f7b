"""Export a store (any backend) as training data: class folders for the classifier and
images/ + masks/ pairs for the U-Net. Works on the backend interface only (``records``,
``read_file``, ``latest_corrections``, ``read_correction``), so both backends export alike."""
from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

from ..vocabulary import CORROSION, MASK_IMAGES_DIR, MASK_MANIFEST, MASK_MASKS_DIR, NOT_CORROSION
from .records import EXPORT_CSV, ExportSummary, Record

log = logging.getLogger(__name__)

LABEL_FIELDS = ["file", "id", "label", "label_source", "verdict", "model_decision", "probability",
                "area_fraction", "model_version", "mode", "created_at"]


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a hidden temporary file and a rename: ``path`` is never seen half-written."""
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_csv_atomic(path: Path, fields: list[str], rows: list[dict]) -> None:
    tmp = path.parent / f".{path.name}.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def export_store(store, dest: str | Path, verified_only: bool = False) -> ExportSummary:
    """Copy kept originals into ``dest/corrosion`` and ``dest/not_corrosion`` (ready for
    ``rustseg train``) and write ``dest/labels.csv`` saying where each label came from;
    and, for every record with a corrected mask, the original as ``dest/images/<id>.<ext>``
    with its latest correction as ``dest/masks/<id>.png`` (the layout of
    ``../shared/data/pixel``, for ``rustseg train --masks``), listed in ``dest/masks.csv``."""
    dest = Path(dest)
    for label in (CORROSION, NOT_CORROSION):
        (dest / label).mkdir(parents=True, exist_ok=True)
    counts = {CORROSION: 0, NOT_CORROSION: 0}
    sources = {"user": 0, "model": 0}
    missing = 0
    rows = []
    kept: list[Record] = []
    for rec in store.records():
        try:
            original = store.read_file(rec, "original")
        except FileNotFoundError:
            log.warning("record %s has no original; skipped", rec.id)
            missing += 1
            continue
        label, source = rec.label()
        name = rec.id + Path(rec.original_file).suffix
        kept.append(rec)
        if verified_only and source != "user":
            continue
        # A re-export may move a photo to the other class after new feedback.
        other = NOT_CORROSION if label == CORROSION else CORROSION
        (dest / other / name).unlink(missing_ok=True)
        write_atomic(dest / label / name, original)
        counts[label] += 1
        sources[source] += 1
        rows.append({"file": f"{label}/{name}", "id": rec.id, "label": label,
                     "label_source": source, "verdict": rec.verdict or "",
                     "model_decision": rec.decision, "probability": f"{rec.probability:.6f}",
                     "area_fraction": f"{rec.area_fraction:.6f}",
                     "model_version": rec.model_version, "mode": rec.mode,
                     "created_at": rec.created_at})
    csv_path = dest / EXPORT_CSV
    _write_csv_atomic(csv_path, LABEL_FIELDS, rows)
    pairs, manifest = _export_masks(store, dest, kept)
    return ExportSummary(counts=counts, from_user=sources["user"], from_model=sources["model"],
                         missing=missing, csv_path=csv_path, mask_pairs=pairs,
                         manifest_path=manifest)


def _export_masks(store, dest: Path, kept: list[Record]) -> tuple[int, Path | None]:
    """``images/`` + ``masks/`` pairs from the latest correction of each record (every
    correction is a person's work, so ``--verified-only`` keeps them all) and their
    manifest. Nothing is written when nobody corrected a mask."""
    latest = store.latest_corrections()
    rows = []
    for rec in kept:
        c = latest.get(rec.id)
        if c is None:
            continue
        try:  # read again rather than held: a store's originals need not fit in memory
            mask, original = store.read_correction(c), store.read_file(rec, "original")
        except FileNotFoundError:
            continue
        images, masks = dest / MASK_IMAGES_DIR, dest / MASK_MASKS_DIR
        images.mkdir(parents=True, exist_ok=True)
        masks.mkdir(parents=True, exist_ok=True)
        image_name = rec.id + Path(rec.original_file).suffix
        write_atomic(images / image_name, original)
        write_atomic(masks / f"{rec.id}.png", mask)
        rows.append({"image": f"{MASK_IMAGES_DIR}/{image_name}",
                     "mask": f"{MASK_MASKS_DIR}/{rec.id}.png", "id": rec.id,
                     "model_version": rec.model_version, "verdict": rec.verdict or "",
                     "corrected_at": c.created_at, "correction_version": c.version,
                     "correction_source": c.source, "mask_area": f"{c.area_fraction:.6f}",
                     "model_decision": rec.decision, "mode": rec.mode,
                     "created_at": rec.created_at})
    if not rows:
        return 0, None
    manifest = dest / MASK_MANIFEST
    _write_csv_atomic(manifest, list(rows[0]), rows)
    return len(rows), manifest
