"""The embedded store backend: a folder plus SQLite, for one host (the default).

Layout under the store root (created on the first save, never before)::

    store.sqlite3                  one row per kept photo (WAL mode: several workers write)
    items/<id>/original.<ext>      the upload exactly as received (EXIF included)
    items/<id>/image.jpg ...       the model's outputs (see ``OUTPUT_FILES``) + summary.json
    staging/                       half-written records; only ever left behind by a crash

Ids are random server-generated tokens, and files are named by role, never by the user's
file name. A record's files are written and fsynced in ``staging/``, the folder is renamed
into ``items/`` (atomic), and only then is the row inserted: a crash can leave an orphan
folder (removed by :meth:`Store.sweep`) but never a row without its files.

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
from ..vocabulary import CORROSION, NOT_CORROSION, OUTPUT_FILES, VERDICTS

log = logging.getLogger(__name__)

DB_FILE = "store.sqlite3"
SCHEMA_VERSION = 1
SUMMARY_FILE = "summary.json"
EXPORT_CSV = "labels.csv"

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
""" % ", ".join(f"'{v}'" for v in VERDICTS)


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
        if self.verdict == "no_rust":
            return NOT_CORROSION, "user"
        return (CORROSION if self.is_corrosion else NOT_CORROSION), "model"


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
        return record

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
        return StoreCheck(rows=len(rows), incomplete=tuple(sorted(incomplete)),
                          orphans=tuple(orphans), staging=tuple(staging))

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
                    shutil.rmtree(d, ignore_errors=True)
                    removed += 1
        return removed

    def export(self, dest: str | Path, verified_only: bool = False) -> ExportSummary:
        """Copy kept originals into ``dest/corrosion`` and ``dest/not_corrosion`` (ready for
        ``rustseg train``) and write ``dest/labels.csv`` saying where each label came from."""
        dest = Path(dest)
        for label in (CORROSION, NOT_CORROSION):
            (dest / label).mkdir(parents=True, exist_ok=True)
        counts = {CORROSION: 0, NOT_CORROSION: 0}
        sources = {"user": 0, "model": 0}
        missing = 0
        rows = []
        for rec in self.records():
            label, source = rec.label()
            if verified_only and source != "user":
                continue
            src = self.file_path(rec, "original")
            if not src.is_file():
                log.warning("record %s has no original at %s; skipped", rec.id, src)
                missing += 1
                continue
            name = rec.id + Path(rec.original_file).suffix
            # A re-export may move a photo to the other class after new feedback.
            other = NOT_CORROSION if label == CORROSION else CORROSION
            (dest / other / name).unlink(missing_ok=True)
            tmp = dest / label / f".{name}.tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest / label / name)
            counts[label] += 1
            sources[source] += 1
            rows.append({"file": f"{label}/{name}", "id": rec.id, "label": label,
                         "label_source": source, "verdict": rec.verdict or "",
                         "model_decision": rec.decision, "probability": f"{rec.probability:.6f}",
                         "area_fraction": f"{rec.area_fraction:.6f}",
                         "model_version": rec.model_version, "mode": rec.mode,
                         "created_at": rec.created_at})
        csv_path = dest / EXPORT_CSV
        tmp = dest / f".{EXPORT_CSV}.tmp"
        fields = ["file", "id", "label", "label_source", "verdict", "model_decision", "probability",
                  "area_fraction", "model_version", "mode", "created_at"]
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, csv_path)
        return ExportSummary(counts=counts, from_user=sources["user"], from_model=sources["model"],
                             missing=missing, csv_path=csv_path)
