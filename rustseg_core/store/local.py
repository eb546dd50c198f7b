"""The embedded store backend: a folder plus SQLite, for one host (the default).

Layout under the store root (created on the first save, never before)::

    store.sqlite3                  one row per kept photo (WAL mode: several workers write)
    items/<id>/original.<ext>      the upload exactly as received (EXIF included)
    items/<id>/image.jpg ...       the model's outputs (see ``OUTPUT_FILES``) + summary.json
    items/<id>/corrections/v0001.png  corrected masks, one file per version (never overwritten)
    staging/                       half-written records; only ever left behind by a crash

Ids are random server-generated tokens, and files are named by role, never by the user's
file name. A record's files are written and fsynced in ``staging/``, the folder is renamed
into ``items/`` (atomic), and only then is the row inserted: a crash can leave an orphan
folder (removed by :meth:`Store.sweep`) but never a row without its files.

Corrected masks follow the same rule: the PNG is written and fsynced in ``staging/``, then,
inside the transaction that numbers the new version (one past the highest row, so never
the name of a saved version), hard-linked to its final name and only then is the row
inserted. A file already under that name has no row: a crash left it, and it is replaced.
The model's own ``mask.png`` is never touched.

This module knows nothing of the web layer.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Mapping

from ..pipeline.imageio import ALLOWED_FORMATS, FORMAT_EXTENSIONS
from ..vocabulary import (CORRECTION_SOURCES, CORROSION, MASK_IMAGES_DIR, MASK_MANIFEST,
                          MASK_MASKS_DIR, NO_RUST, NOT_CORROSION, OUTPUT_FILES, VERDICTS)
from .mask_file import empty_mask_png, mask_png, read_mask_png

log = logging.getLogger(__name__)

DB_FILE = "store.sqlite3"
SCHEMA_VERSION = 2  # 2: corrections (a v1 store gains the table on its next write)
SUMMARY_FILE = "summary.json"
EXPORT_CSV = "labels.csv"
CORRECTIONS_DIR = "corrections"

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")  # secrets.token_urlsafe(16)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id              TEXT PRIMARY KEY,
    created_at      TEXT NOT NULL,
    original_file   TEXT NOT NULL,
    original_bytes  INTEGER NOT NULL,
    mode            TEXT NOT NULL,
    model_version   TEXT NOT NULL,
    probability     REAL NOT NULL,
    decision        TEXT NOT NULL,
    area_fraction   REAL NOT NULL,
    summary_json    TEXT NOT NULL,
    verdict         TEXT CHECK (verdict IS NULL OR verdict IN (%s)),
    verdict_at      TEXT
);
CREATE INDEX IF NOT EXISTS records_created ON records (created_at);
CREATE TABLE IF NOT EXISTS corrections (
    record_id       TEXT NOT NULL REFERENCES records (id),
    version         INTEGER NOT NULL CHECK (version >= 1),
    created_at      TEXT NOT NULL,
    mask_file       TEXT NOT NULL,
    mask_bytes      INTEGER NOT NULL,
    source          TEXT NOT NULL CHECK (source IN (%s)),
    area_fraction   REAL NOT NULL,
    PRIMARY KEY (record_id, version)
);
""" % (", ".join(f"'{v}'" for v in VERDICTS), ", ".join(f"'{v}'" for v in CORRECTION_SOURCES))


def is_valid_id(record_id: str) -> bool:
    """True for strings shaped like the ids :meth:`Store.save` makes (guards file paths)."""
    return isinstance(record_id, str) and bool(_ID_RE.match(record_id))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Record:
    """One kept photo as the index describes it."""

    id: str
    created_at: str
    original_file: str
    original_bytes: int
    mode: str
    model_version: str
    probability: float
    decision: str
    area_fraction: float
    summary: dict
    verdict: str | None
    verdict_at: str | None

    @property
    def is_corrosion(self) -> bool:
        return self.decision == CORROSION

    def label(self) -> tuple[str, str]:
        """(training label, source): the person's verdict when given, else the model's decision.

        "wrong" means there is rust the result missed or misplaced, so it labels corrosion
        whatever the model said; "no_rust" labels not_corrosion.
        """
        if self.verdict == "correct":
            return (CORROSION if self.is_corrosion else NOT_CORROSION), "user"
        if self.verdict == "wrong":
            return CORROSION, "user"
        if self.verdict == NO_RUST:
            return NOT_CORROSION, "user"
        return (CORROSION if self.is_corrosion else NOT_CORROSION), "model"


@dataclass(frozen=True)
class Correction:
    """One version of a record's corrected mask (``items/<id>/corrections/<mask_file>``)."""

    record_id: str
    version: int  # 1, 2, ...: the highest is the current mask
    created_at: str
    mask_file: str
    mask_bytes: int
    source: str  # one of CORRECTION_SOURCES: drawn, or no_rust (an empty mask)
    area_fraction: float


def correction_file(version: int) -> str:
    """``v0001.png``: the file name of a correction version (sorts by version)."""
    return f"v{version:04d}.png"


@dataclass(frozen=True)
class StoreCheck:
    """What :meth:`Store.check` found. ``ok``: every record (row) has all its files, whole.

    Orphans and staging folders are what a crash between steps of a save leaves: no row
    points at them, so no page shows them, and :meth:`Store.sweep` removes them.
    """

    rows: int
    incomplete: tuple[str, ...]  # ids with a row or an items/ folder but a missing or bad file
    orphans: tuple[str, ...]  # complete items/ folders without a row
    staging: tuple[str, ...]  # folders left in staging/
    # correction files without a row (``<id>/corrections/v0002.png``): a save cut short
    stray_corrections: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.incomplete


@dataclass(frozen=True)
class ExportSummary:
    """What :meth:`Store.export` wrote."""

    counts: dict[str, int]
    from_user: int
    from_model: int
    missing: int
    csv_path: Path
    mask_pairs: int = 0  # images/ + masks/ pairs written from corrected masks
    manifest_path: Path | None = None


def extension_for_format(fmt: str | None) -> str:
    """File extension (``.jpg``, ``.png``, ...) an original of this decoded format is kept
    under; the format comes from the pipeline's decode, so the bytes are not parsed again."""
    if fmt not in ALLOWED_FORMATS or fmt not in FORMAT_EXTENSIONS:
        raise ValueError(f"{fmt} originals are not accepted")
    return FORMAT_EXTENSIONS[fmt]


def _read_summary(folder: Path) -> dict | None:
    try:
        return json.loads((folder / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    """Delete a leftover folder or file (staging holds both)."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _photo_size(record: Record) -> tuple[int, int]:
    """(width, height) of the photo as analysed upright: the size of every mask of it."""
    return int(record.summary["width"]), int(record.summary["height"])


def _copy_atomic(src: Path, dest: Path) -> None:
    """Copy via a hidden temporary file and a rename: ``dest`` is never seen half-written."""
    tmp = dest.parent / f".{dest.name}.tmp"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def _write_csv_atomic(path: Path, fields: list[str], rows: list[dict]) -> None:
    tmp = path.parent / f".{path.name}.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class Store:
    """Folder + SQLite store of kept photos. Safe to share between threads and processes
    (each call opens its own connection; SQLite's WAL and busy timeout handle the rest)."""

    def __init__(self, root: str | Path, busy_timeout_s: float = 10.0):
        self.root = Path(root)
        self.busy_timeout_s = busy_timeout_s
        self._ready = False

    # -- paths -------------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.root / DB_FILE

    @property
    def items_dir(self) -> Path:
        return self.root / "items"

    @property
    def staging_dir(self) -> Path:
        return self.root / "staging"

    def exists(self) -> bool:
        """Whether anything has ever been kept (the store is created lazily)."""
        return self.db_path.is_file()

    # -- database ----------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.db_path, timeout=self.busy_timeout_s, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
        con.execute("PRAGMA synchronous = FULL")
        return con

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with closing(self._connect()) as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _ensure(self) -> None:
        """Create folders and schema; only called on the way to writing a record."""
        if self._ready and self.db_path.is_file():
            return
        self.items_dir.mkdir(parents=True, exist_ok=True)
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        if not self.db_path.is_file():
            self._create_db()
        with closing(self._connect()) as con:  # idempotent; repairs a store made before
            con.execute("PRAGMA journal_mode = WAL")
            con.executescript(_SCHEMA)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._ready = True

    def _create_db(self) -> None:
        """Build the schema in a private file and link it into place: readers in other
        workers treat an existing file as a ready store, so it must never appear without its
        table. Several processes may race here; the first link wins, the others just use it."""
        tmp = self.root / f".{DB_FILE}.{secrets.token_hex(8)}.tmp"
        try:
            with closing(sqlite3.connect(tmp, isolation_level=None)) as con:
                con.execute("PRAGMA journal_mode = WAL")
                con.executescript(_SCHEMA)
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            try:
                os.link(tmp, self.db_path)
            except FileExistsError:
                pass
            _fsync_dir(self.root)
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _record(row: sqlite3.Row) -> Record:
        d = dict(row)
        d["summary"] = json.loads(d.pop("summary_json"))
        return Record(**d)

    # -- writing -----------------------------------------------------------------------------
    def save(self, original: bytes, summary: Mapping, outputs: Mapping[str, bytes], *,
             image_format: str | None) -> Record:
        """Keep one photo: ``original`` as received (of ``image_format``, as the pipeline
        decoded it: ``Result.image_format``), the result ``summary`` (``Result.summary()``)
        and the rendered ``outputs`` named as in ``OUTPUT_FILES``. Returns the new record."""
        missing = set(OUTPUT_FILES) - set(outputs)
        extra = set(outputs) - set(OUTPUT_FILES)
        if missing or extra:
            raise ValueError(f"outputs must be exactly {OUTPUT_FILES} (missing {sorted(missing)}, "
                             f"unexpected {sorted(extra)})")
        original_file = "original" + extension_for_format(image_format)
        summary = dict(summary)
        self._ensure()
        record_id = secrets.token_urlsafe(16)
        stage = self.staging_dir / record_id
        final = self.items_dir / record_id
        stage.mkdir()
        try:
            _write_synced(stage / original_file, original)
            for name in OUTPUT_FILES:
                _write_synced(stage / name, outputs[name])
            _write_synced(stage / SUMMARY_FILE, json.dumps(summary, indent=2).encode())
            _fsync_dir(stage)
            os.replace(stage, final)
            _fsync_dir(self.items_dir)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        row = (record_id, _now(), original_file, len(original), str(summary["mode"]),
               str(summary["model_version"]), float(summary["probability"]),
               str(summary["decision"]), float(summary["area_fraction"]),
               json.dumps(summary, sort_keys=True))
        try:
            with self._transaction() as con:
                con.execute("INSERT INTO records (id, created_at, original_file, original_bytes, mode,"
                            " model_version, probability, decision, area_fraction, summary_json)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        record = self.get(record_id)
        assert record is not None
        return record

    def set_verdict(self, record_id: str, verdict: str) -> Record:
        """Store the person's answer to "was this right?" (the latest answer wins)."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
        if not is_valid_id(record_id) or not self.exists():
            raise KeyError(record_id)
        with self._transaction() as con:
            cur = con.execute("UPDATE records SET verdict = ?, verdict_at = ? WHERE id = ?",
                              (verdict, _now(), record_id))
            if cur.rowcount != 1:
                raise KeyError(record_id)
        record = self.get(record_id)
        assert record is not None
        latest = self.latest_correction(record_id)
        if verdict == NO_RUST and (latest is None or latest.source != NO_RUST):
            # "No rust in this photo" is a mask too: an empty one, stored as a new version.
            self._add_correction(record, empty_mask_png(_photo_size(record)), 0.0, NO_RUST)
        return record

    def save_correction(self, record_id: str, data: bytes, source: str = "drawn") -> Correction:
        """Store ``data``, a PNG the size of the photo, as the next version of the record's
        corrected mask (re-encoded: 8-bit, 0/255). Earlier versions and the model's own mask
        stay. ``KeyError`` for an unknown id; :class:`~.mask_file.MaskInputError` (with an
        HTTP status) for bytes that are not such a mask."""
        if source not in CORRECTION_SOURCES:
            raise ValueError(f"source must be one of {CORRECTION_SOURCES}, not {source!r}")
        record = self.get(record_id)
        if record is None:
            raise KeyError(record_id)
        mask = read_mask_png(data, _photo_size(record))
        return self._add_correction(record, mask_png(mask), float(mask.mean()), source)

    def _add_correction(self, record: Record, png: bytes, area: float, source: str) -> Correction:
        """Write ``png`` as the record's next correction version: fsynced in staging/, then
        linked to its final name and its row inserted, both under the write lock."""
        self._ensure()
        folder = self.items_dir / record.id / CORRECTIONS_DIR
        if not folder.is_dir():
            folder.mkdir(exist_ok=True)
            _fsync_dir(folder.parent)
        staged = self.staging_dir / f"{record.id}.{secrets.token_hex(8)}.png"
        try:
            _write_synced(staged, png)
            with self._transaction() as con:  # BEGIN IMMEDIATE: one writer numbers versions
                version = con.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM corrections"
                                      " WHERE record_id = ?", (record.id,)).fetchone()[0]
                final = folder / correction_file(version)
                # Under the lock, a file with this name and no row can only be what a crash
                # left between link and commit: it is no version of anything.
                final.unlink(missing_ok=True)
                os.link(staged, final)
                try:
                    _fsync_dir(folder)
                    row = (record.id, version, _now(), final.name, len(png), source, area)
                    con.execute("INSERT INTO corrections (record_id, version, created_at, mask_file,"
                                " mask_bytes, source, area_fraction) VALUES (?, ?, ?, ?, ?, ?, ?)", row)
                except BaseException:
                    final.unlink(missing_ok=True)
                    raise
        finally:
            staged.unlink(missing_ok=True)
        return Correction(*row)

    # -- reading -----------------------------------------------------------------------------
    def get(self, record_id: str) -> Record | None:
        """The record with this id, or ``None`` (also for malformed ids and an empty store)."""
        if not is_valid_id(record_id) or not self.exists():
            return None
        with closing(self._connect()) as con:
            row = con.execute("SELECT * FROM records WHERE id = ?", (record_id,)).fetchone()
        return self._record(row) if row else None

    def records(self) -> list[Record]:
        """All records, oldest first."""
        if not self.exists():
            return []
        with closing(self._connect()) as con:
            rows = con.execute("SELECT * FROM records ORDER BY created_at, id").fetchall()
        return [self._record(r) for r in rows]

    def file_path(self, record: Record, name: str) -> Path:
        """Path of one of a record's files: ``"original"`` or a name from ``OUTPUT_FILES``."""
        if name == "original":
            name = record.original_file
        elif name not in OUTPUT_FILES:
            raise KeyError(name)
        return self.items_dir / record.id / name

    def _correction_rows(self, where: str = "", args: tuple = ()) -> list[Correction]:
        """Corrections matching ``where``, by record and version; none in a store made
        before corrections existed (its table appears with the next write)."""
        if not self.exists():
            return []
        with closing(self._connect()) as con:
            try:
                rows = con.execute(f"SELECT * FROM corrections {where} ORDER BY record_id, version",
                                   args).fetchall()
            except sqlite3.OperationalError as e:
                if "no such table" in str(e):
                    return []
                raise
        return [Correction(**dict(r)) for r in rows]

    def corrections(self, record_id: str) -> list[Correction]:
        """Every corrected mask of a record, oldest version first."""
        if not is_valid_id(record_id):
            return []
        return self._correction_rows("WHERE record_id = ?", (record_id,))

    def latest_correction(self, record_id: str) -> Correction | None:
        """The record's current corrected mask, or ``None`` when nobody corrected it."""
        found = self.corrections(record_id)
        return found[-1] if found else None

    def correction_path(self, correction: Correction) -> Path:
        return self.items_dir / correction.record_id / CORRECTIONS_DIR / correction.mask_file

    def current_mask_path(self, record: Record) -> Path:
        """The latest corrected mask of a record, else the model's own ``mask.png``."""
        latest = self.latest_correction(record.id)
        return self.correction_path(latest) if latest else self.file_path(record, "mask.png")

    # -- maintenance -------------------------------------------------------------------------
    def check(self) -> StoreCheck:
        """Verify the store: each row's folder holds the original (of the recorded size), every
        output and a readable summary equal to the row's; list orphans and staging leftovers.
        Read-only. A save in progress can show up as an orphan for a moment."""
        if not self.exists():
            return StoreCheck(0, (), (), ())
        rows = {r.id: r for r in self.records()}
        folders = {d.name for d in self.items_dir.iterdir()} if self.items_dir.is_dir() else set()
        incomplete = [rid for rid, rec in rows.items() if not self._files_whole(rec)]
        orphans = []
        for name in sorted(folders - set(rows)):
            (orphans if self._folder_whole(self.items_dir / name) else incomplete).append(name)
        staging = sorted(d.name for d in self.staging_dir.iterdir()) if self.staging_dir.is_dir() else []
        known = set()
        for c in self._correction_rows():
            known.add(f"{c.record_id}/{CORRECTIONS_DIR}/{c.mask_file}")
            path = self.correction_path(c)
            if not path.is_file() or path.stat().st_size != c.mask_bytes:
                incomplete.append(c.record_id)
        stray = sorted(f"{p.parent.parent.name}/{CORRECTIONS_DIR}/{p.name}"
                       for rid in rows for p in (self.items_dir / rid / CORRECTIONS_DIR).glob("*"))
        return StoreCheck(rows=len(rows), incomplete=tuple(sorted(set(incomplete))),
                          orphans=tuple(orphans), staging=tuple(staging),
                          stray_corrections=tuple(p for p in stray if p not in known))

    def _files_whole(self, rec: Record) -> bool:
        folder = self.items_dir / rec.id
        original = folder / rec.original_file
        if not original.is_file() or original.stat().st_size != rec.original_bytes:
            return False
        return self._folder_whole(folder) and _read_summary(folder) == rec.summary

    @staticmethod
    def _folder_whole(folder: Path) -> bool:
        """All outputs non-empty, one original, and a summary that parses."""
        if not folder.is_dir():
            return False
        if any(not (folder / n).is_file() or (folder / n).stat().st_size == 0 for n in OUTPUT_FILES):
            return False
        if len(list(folder.glob("original.*"))) != 1:
            return False
        return _read_summary(folder) is not None

    def sweep(self, older_than_s: float = 3600.0) -> int:
        """Delete what a crash left behind: staging folders and item folders without a row,
        older than ``older_than_s`` (younger ones may belong to a save in progress)."""
        if not self.exists():
            return 0
        with closing(self._connect()) as con:
            ids = {r[0] for r in con.execute("SELECT id FROM records")}
        cutoff = time.time() - older_than_s
        removed = 0
        for parent, keep in ((self.staging_dir, set()), (self.items_dir, ids)):
            for d in parent.iterdir() if parent.is_dir() else ():
                try:
                    stale = d.name not in keep and d.stat().st_mtime < cutoff
                except FileNotFoundError:  # a save in progress just moved it to items/
                    continue
                if stale:
                    _remove(d)
                    removed += 1
        for stray in self.check().stray_corrections:  # linked, but the row never committed
            path = self.items_dir / stray
            try:
                if path.stat().st_mtime < cutoff:
                    _remove(path)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def export(self, dest: str | Path, verified_only: bool = False) -> ExportSummary:
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
        for rec in self.records():
            src = self.file_path(rec, "original")
            if not src.is_file():
                log.warning("record %s has no original at %s; skipped", rec.id, src)
                missing += 1
                continue
            kept.append(rec)
            label, source = rec.label()
            if verified_only and source != "user":
                continue
            name = rec.id + Path(rec.original_file).suffix
            # A re-export may move a photo to the other class after new feedback.
            other = NOT_CORROSION if label == CORROSION else CORROSION
            (dest / other / name).unlink(missing_ok=True)
            _copy_atomic(src, dest / label / name)
            counts[label] += 1
            sources[source] += 1
            rows.append({"file": f"{label}/{name}", "id": rec.id, "label": label,
                         "label_source": source, "verdict": rec.verdict or "",
                         "model_decision": rec.decision, "probability": f"{rec.probability:.6f}",
                         "area_fraction": f"{rec.area_fraction:.6f}",
                         "model_version": rec.model_version, "mode": rec.mode,
                         "created_at": rec.created_at})
        csv_path = dest / EXPORT_CSV
        fields = ["file", "id", "label", "label_source", "verdict", "model_decision", "probability",
                  "area_fraction", "model_version", "mode", "created_at"]
        _write_csv_atomic(csv_path, fields, rows)
        pairs, manifest = self._export_masks(dest, kept)
        return ExportSummary(counts=counts, from_user=sources["user"], from_model=sources["model"],
                             missing=missing, csv_path=csv_path, mask_pairs=pairs,
                             manifest_path=manifest)

    def _export_masks(self, dest: Path, records: list[Record]) -> tuple[int, Path | None]:
        """``images/`` + ``masks/`` pairs from the latest correction of each record (every
        correction is a person's work, so ``--verified-only`` keeps them all) and their
        manifest. Nothing is written when nobody corrected a mask."""
        latest = {c.record_id: c for c in self._correction_rows()}  # ordered: the last wins
        rows = []
        for rec in records:
            c = latest.get(rec.id)
            mask = self.correction_path(c) if c else None
            if mask is None or not mask.is_file():
                continue
            images, masks = dest / MASK_IMAGES_DIR, dest / MASK_MASKS_DIR
            images.mkdir(parents=True, exist_ok=True)
            masks.mkdir(parents=True, exist_ok=True)
            image_name = rec.id + Path(rec.original_file).suffix
            _copy_atomic(self.file_path(rec, "original"), images / image_name)
            _copy_atomic(mask, masks / f"{rec.id}.png")
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
