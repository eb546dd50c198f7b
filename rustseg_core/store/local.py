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

import json
import logging
import os
import secrets
import shutil
import sqlite3
import threading
import time
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterator, Mapping

from ..vocabulary import NO_RUST, OUTPUT_FILES, VERDICTS
from . import migrate
from .backend import StoreCommon
from .mask_file import empty_mask_png
from .records import (CORRECTIONS_DIR, EXPORT_CSV, SUMMARY_FILE, Correction, ExportSummary,
                      Record, RecordExists, StoreCheck, check_outputs, correction_file, extension_for_format,
                      is_valid_id, now, prepare_correction, record_columns, record_from_row)

log = logging.getLogger(__name__)

DB_FILE = "store.sqlite3"

__all__ = ["CORRECTIONS_DIR", "DB_FILE", "EXPORT_CSV", "SUMMARY_FILE", "Correction",
           "ExportSummary", "Record", "Store", "StoreCheck", "correction_file",
           "extension_for_format", "is_valid_id"]


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


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class Store(StoreCommon):
    """Folder + SQLite store of kept photos. Safe to share between threads and processes
    (each call opens its own connection; SQLite's WAL and busy timeout handle the rest)."""

    def __init__(self, root: str | Path, busy_timeout_s: float = 10.0):
        self.root = Path(root)
        self.busy_timeout_s = busy_timeout_s
        self._ready = False
        self._ensure_lock = threading.Lock()

    # -- paths -------------------------------------------------------------------------------
    @property
    def location(self) -> str:
        """Where the store is, for messages (as ``DatabaseStore.location``)."""
        return str(self.root)

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
        """Create folders and schema, or bring an older store's schema to the current one
        (Alembic, under SQLite's write lock); only called on the way to writing a record."""
        if self._ready and self.db_path.is_file():
            return
        with self._ensure_lock:  # threads sharing this object: one of them migrates
            self._ensure_unlocked()

    def _ensure_unlocked(self) -> None:
        if self._ready and self.db_path.is_file():
            return
        self.items_dir.mkdir(parents=True, exist_ok=True)
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        if not self.db_path.is_file():
            self._create_db()
        if self.schema_revision() != migrate.head_revision():
            migrate.upgrade(self.url)
        self._ready = True

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the index (what Alembic migrates)."""
        return f"sqlite:///{self.db_path.absolute()}"

    def schema_revision(self) -> str | None:
        """The Alembic revision of the index; ``None`` for a store made before Alembic."""
        if not self.exists():
            return None
        with closing(self._connect()) as con:
            try:
                return con.execute(f"SELECT version_num FROM {migrate.VERSION_TABLE}").fetchone()[0]
            except sqlite3.OperationalError as e:
                if "no such table" in str(e):
                    return None
                raise

    def upgrade(self) -> str:
        """Create the store (folders and index) if it is missing and migrate its schema to
        the current revision; returns that revision (``rustseg store upgrade``)."""
        self._ensure()
        return self.schema_revision()

    def _create_db(self) -> None:
        """Build the schema in a private file and link it into place: readers in other
        workers treat an existing file as a ready store, so it must never appear without its
        table. Several processes may race here; the first link wins, the others just use it."""
        tmp = self.root / f".{DB_FILE}.{secrets.token_hex(8)}.tmp"
        try:
            # Built in rollback-journal mode, so every page is in the file itself when it is
            # linked (a WAL beside the temporary name would not follow the link); WAL after.
            migrate.upgrade(f"sqlite:///{tmp.absolute()}")
            with closing(sqlite3.connect(tmp, isolation_level=None)) as con:
                con.execute("PRAGMA journal_mode = WAL")
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            try:
                os.link(tmp, self.db_path)
            except FileExistsError:
                pass
            _fsync_dir(self.root)
        finally:
            tmp.unlink(missing_ok=True)

    # -- writing -----------------------------------------------------------------------------
    def save(self, original: bytes, summary: Mapping, outputs: Mapping[str, bytes], *,
             image_format: str | None, record_id: str | None = None) -> Record:
        """Keep one photo: ``original`` as received (of ``image_format``, as the pipeline
        decoded it: ``Result.image_format``), the result ``summary`` (``Result.summary()``)
        and the rendered ``outputs`` named as in ``OUTPUT_FILES``. Returns the new record.

        ``record_id`` (default: a new random one) names it; :class:`RecordExists` when that
        id is taken or being saved by another request, with nothing written."""
        check_outputs(outputs)
        original_file = "original" + extension_for_format(image_format)
        summary = dict(summary)
        self._ensure()
        if record_id is not None and (not is_valid_id(record_id) or self.get(record_id) is not None):
            raise RecordExists(record_id)
        record_id = record_id or secrets.token_urlsafe(16)
        stage = self.staging_dir / record_id
        final = self.items_dir / record_id
        try:
            stage.mkdir()
        except FileExistsError:  # the same id being saved by another request right now
            raise RecordExists(record_id) from None
        try:
            _write_synced(stage / original_file, original)
            for name in OUTPUT_FILES:
                _write_synced(stage / name, outputs[name])
            _write_synced(stage / SUMMARY_FILE, json.dumps(summary, indent=2).encode())
            _fsync_dir(stage)
            if final.exists():  # saved by another request meanwhile: keep theirs
                raise RecordExists(record_id)
            os.replace(stage, final)
            _fsync_dir(self.items_dir)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        row = {"id": record_id, "created_at": now(), "original_file": original_file,
               "original_bytes": len(original), **record_columns(summary)}
        try:
            with self._transaction() as con:
                con.execute(f"INSERT INTO records ({', '.join(row)})"
                            f" VALUES ({', '.join(':' + k for k in row)})", row)
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
                              (verdict, now(), record_id))
            if cur.rowcount != 1:
                raise KeyError(record_id)
        record = self.get(record_id)
        assert record is not None
        latest = self.latest_correction(record_id)
        if verdict == NO_RUST and (latest is None or latest.source != NO_RUST):
            # "No rust in this photo" is a mask too: an empty one, stored as a new version.
            self._add_correction(record, empty_mask_png(record.photo_size()), 0.0, NO_RUST)
        return record

    def save_correction(self, record_id: str, data: bytes, source: str = "drawn") -> Correction:
        """Store ``data``, a PNG the size of the photo, as the next version of the record's
        corrected mask (re-encoded: 8-bit, 0/255). Earlier versions and the model's own mask
        stay. ``KeyError`` for an unknown id; :class:`~.mask_file.MaskInputError` (with an
        HTTP status) for bytes that are not such a mask."""
        record, png, area = prepare_correction(self.get, record_id, data, source)
        return self._add_correction(record, png, area, source)

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
                    row = (record.id, version, now(), final.name, len(png), source, area)
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
        return record_from_row(row) if row else None

    def records(self) -> list[Record]:
        """All records, oldest first."""
        if not self.exists():
            return []
        with closing(self._connect()) as con:
            rows = con.execute("SELECT * FROM records ORDER BY created_at, id").fetchall()
        return [record_from_row(r) for r in rows]

    def file_path(self, record: Record, name: str) -> Path:
        """Path of one of a record's files: ``"original"`` or a name from ``OUTPUT_FILES``."""
        return self.items_dir / record.id / record.file_name(name)

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

    def read_file(self, record: Record, name: str) -> bytes:
        """The bytes of one of a record's files (``"original"`` or an ``OUTPUT_FILES`` name);
        ``FileNotFoundError`` when it is missing."""
        return self.file_path(record, name).read_bytes()

    def read_correction(self, correction: Correction) -> bytes:
        """The PNG of one correction version; ``FileNotFoundError`` when it is missing."""
        return self.correction_path(correction).read_bytes()

    def latest_corrections(self) -> dict[str, Correction]:
        """The current correction of every corrected record, by record id."""
        return {c.record_id: c for c in self._correction_rows()}  # ordered: the last wins

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

