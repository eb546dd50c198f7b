"""The database backend: rows and files in PostgreSQL, shared by any number of servers.

Selected with ``RUSTSEG_DATABASE_URL=postgresql://user:pass@host/db`` (or ``--store URL``).
A record's row and all its files (``files`` table, bytea) are written in one transaction,
and so are a correction's row and its PNG: a record or a mask version is visible only once
complete, a crash or a killed server rolls back to nothing, and what a commit acknowledged
is on disk (PostgreSQL's WAL). There is no staging area, so ``sweep`` has nothing to remove.

Correction versions are numbered under a row lock on the record (``SELECT ... FOR
UPDATE``), so two servers correcting the same photo get versions n and n+1, never the
same one; the (record_id, version) primary key would refuse it anyway.
"""
from __future__ import annotations

import json
import logging
import secrets
from typing import Mapping

from sqlalchemy import Connection, and_, func, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError

from ..vocabulary import NO_RUST, OUTPUT_FILES, VERDICTS
from . import migrate
from .backend import StoreCommon
from .mask_file import empty_mask_png
from .records import (CORRECTIONS_DIR, Correction, Record, RecordExists, StoreCheck,
                      check_outputs, correction_file, extension_for_format, is_valid_id, now,
                      prepare_correction, record_columns, record_from_row)
from .schema import corrections, files, records

log = logging.getLogger(__name__)


def correction_blob(mask_file: str) -> str:
    """The ``files.name`` of a correction's PNG."""
    return f"{CORRECTIONS_DIR}/{mask_file}"


def _correction(row) -> Correction:
    return Correction(**dict(row._mapping))


class DatabaseStore(StoreCommon):
    """Store of kept photos in a PostgreSQL database. Safe to share between threads (one
    connection pool per process) and between processes and hosts (transactions)."""

    def __init__(self, url: str, pool_size: int = 5):
        if not migrate.sqlalchemy_url(url).startswith("postgresql+"):
            raise ValueError(f"the database store needs a postgresql:// URL, not {migrate.describe(url)!r}")
        self.url = url
        # pre_ping: a connection the database closed (restart, failover) is replaced, not
        # handed to a request that would then fail.
        self.engine = migrate.engine_for(url, pool_size=pool_size, max_overflow=pool_size,
                                         pool_pre_ping=True)
        self._ready = False  # schema at head (checked once per process, before a write)
        self._seen = False  # schema exists (reads before any write need only this)

    def __repr__(self) -> str:
        return f"DatabaseStore({migrate.describe(self.url)!r})"

    @property
    def location(self) -> str:
        """Where the store is, for messages (password hidden)."""
        return migrate.describe(self.url)

    # -- schema ------------------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether the schema has been created (the database itself must exist)."""
        if not self._seen:
            with self.engine.connect() as con:
                self._seen = inspect(con).has_table(records.name)
        return self._seen

    def schema_revision(self) -> str | None:
        return migrate.current_revision(self.engine)

    def upgrade(self) -> str:
        """Create or migrate the schema to the current revision (``rustseg store upgrade``)."""
        revision = migrate.upgrade(self.url)
        self._ready = True
        return revision

    def _ensure(self) -> None:
        """Bring the schema to head before the first write of this process (a no-op query
        when ``rustseg store upgrade`` or another server already did)."""
        if not self._ready:
            if self.schema_revision() != migrate.head_revision():
                migrate.upgrade(self.url)
            self._ready = True

    # -- writing -----------------------------------------------------------------------------
    def save(self, original: bytes, summary: Mapping, outputs: Mapping[str, bytes], *,
             image_format: str | None, record_id: str | None = None) -> Record:
        """Keep one photo with its outputs (see the folder store's ``save``): its row and
        every file in one transaction. Returns the new record; :class:`RecordExists` when
        a given ``record_id`` is taken (the primary key decides, so two requests racing with
        the same id keep one record)."""
        check_outputs(outputs)
        original_file = "original" + extension_for_format(image_format)
        summary = dict(summary)
        self._ensure()
        row = {"created_at": now(), "original_file": original_file,
               "original_bytes": len(original), **record_columns(summary)}
        blobs = {original_file: original, **{name: outputs[name] for name in OUTPUT_FILES}}
        given = record_id
        if given is not None and not is_valid_id(given):
            raise RecordExists(given)
        for attempt in (1, 2):
            record_id = given or secrets.token_urlsafe(16)
            try:
                with self.engine.begin() as con:
                    con.execute(insert(records).values(id=record_id, **row))
                    self._insert_files(con, record_id, blobs)
                break
            except IntegrityError:
                if given is not None:
                    raise RecordExists(given) from None
                # 128 random bits do not collide; if they ever did, the primary key said so
                # and nothing was written: one fresh id, then give up loudly.
                if attempt == 2 or self.get(record_id) is None:
                    raise
                log.warning("record id %s already taken; retrying with a new one", record_id)
        record = self.get(record_id)
        assert record is not None
        return record

    @staticmethod
    def _insert_files(con: Connection, record_id: str, blobs: Mapping[str, bytes]) -> None:
        con.execute(insert(files), [{"record_id": record_id, "name": name, "data": bytes(data)}
                                    for name, data in blobs.items()])

    def set_verdict(self, record_id: str, verdict: str) -> Record:
        """Store the person's answer to "was this right?" (the latest answer wins); "no_rust"
        also stores an empty mask as a new correction, in the same transaction."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
        if not is_valid_id(record_id) or not self.exists():
            raise KeyError(record_id)
        with self.engine.begin() as con:
            # The UPDATE locks the row: corrections of this record wait for this transaction.
            done = con.execute(update(records).where(records.c.id == record_id)
                               .values(verdict=verdict, verdict_at=now()))
            if done.rowcount != 1:
                raise KeyError(record_id)
            record = record_from_row(con.execute(select(records).where(records.c.id == record_id)).one()._mapping)
            if verdict == NO_RUST:
                latest = self._latest(con, record_id)
                if latest is None or latest.source != NO_RUST:
                    self._add_correction(con, record, empty_mask_png(record.photo_size()), 0.0, NO_RUST)
        return record

    def save_correction(self, record_id: str, data: bytes, source: str = "drawn") -> Correction:
        """Store ``data``, a PNG the size of the photo, as the record's next corrected-mask
        version (re-encoded 8-bit 0/255). ``KeyError`` for an unknown id;
        :class:`~.mask_file.MaskInputError` for bytes that are not such a mask."""
        record, png, area = prepare_correction(self.get, record_id, data, source)
        with self.engine.begin() as con:
            return self._add_correction(con, record, png, area, source)

    def _add_correction(self, con: Connection, record: Record, png: bytes, area: float,
                        source: str) -> Correction:
        """Number, insert and attach the PNG of the record's next correction, inside ``con``'s
        transaction, holding the record's row lock so versions are taken one at a time."""
        con.execute(select(records.c.id).where(records.c.id == record.id).with_for_update())
        version = con.execute(select(func.coalesce(func.max(corrections.c.version), 0) + 1)
                              .where(corrections.c.record_id == record.id)).scalar_one()
        c = Correction(record_id=record.id, version=version, created_at=now(),
                       mask_file=correction_file(version), mask_bytes=len(png), source=source,
                       area_fraction=area)
        con.execute(insert(corrections).values(**c.__dict__))
        self._insert_files(con, record.id, {correction_blob(c.mask_file): png})
        return c

    # -- reading -----------------------------------------------------------------------------
    def get(self, record_id: str) -> Record | None:
        """The record with this id, or ``None`` (also for malformed ids and an empty store)."""
        if not is_valid_id(record_id) or not self.exists():
            return None
        with self.engine.connect() as con:
            row = con.execute(select(records).where(records.c.id == record_id)).first()
        return record_from_row(row._mapping) if row else None

    def records(self) -> list[Record]:
        """All records, oldest first."""
        if not self.exists():
            return []
        with self.engine.connect() as con:
            rows = con.execute(select(records).order_by(records.c.created_at, records.c.id)).all()
        return [record_from_row(r._mapping) for r in rows]

    def _blob(self, record_id: str, name: str) -> bytes:
        with self.engine.connect() as con:
            data = con.execute(select(files.c.data).where(
                and_(files.c.record_id == record_id, files.c.name == name))).scalar()
        if data is None:
            raise FileNotFoundError(f"{record_id}/{name}")
        return bytes(data)

    def read_file(self, record: Record, name: str) -> bytes:
        """The bytes of one of a record's files (``"original"`` or an ``OUTPUT_FILES`` name)."""
        return self._blob(record.id, record.file_name(name))

    def read_correction(self, correction: Correction) -> bytes:
        """The PNG of one correction version."""
        return self._blob(correction.record_id, correction_blob(correction.mask_file))

    @staticmethod
    def _latest(con: Connection, record_id: str) -> Correction | None:
        row = con.execute(select(corrections).where(corrections.c.record_id == record_id)
                          .order_by(corrections.c.version.desc()).limit(1)).first()
        return _correction(row) if row else None

    def corrections(self, record_id: str) -> list[Correction]:
        """Every corrected mask of a record, oldest version first."""
        if not is_valid_id(record_id) or not self.exists():
            return []
        with self.engine.connect() as con:
            rows = con.execute(select(corrections).where(corrections.c.record_id == record_id)
                               .order_by(corrections.c.version)).all()
        return [_correction(r) for r in rows]

    def latest_correction(self, record_id: str) -> Correction | None:
        """The record's current corrected mask, or ``None`` when nobody corrected it."""
        if not is_valid_id(record_id) or not self.exists():
            return None
        with self.engine.connect() as con:
            return self._latest(con, record_id)

    def latest_corrections(self) -> dict[str, Correction]:
        """The current correction of every corrected record, by record id."""
        if not self.exists():
            return {}
        with self.engine.connect() as con:
            rows = con.execute(select(corrections)
                               .order_by(corrections.c.record_id, corrections.c.version)).all()
        return {c.record_id: c for c in map(_correction, rows)}

    # -- maintenance -------------------------------------------------------------------------
    def check(self) -> StoreCheck:
        """Verify every row has its files: the original of the recorded size, every output
        non-empty, each correction's PNG of its recorded size; list file blobs without a row
        (orphans, strays). Sizes come from PostgreSQL without reading the bytes."""
        if not self.exists():
            return StoreCheck(0, (), (), ())
        # One snapshot: a save committing meanwhile is seen whole or not at all.
        with self.engine.connect().execution_options(isolation_level="REPEATABLE READ") as con:
            rows = {r.id: r for r in (record_from_row(m) for m in con.execute(select(records)).mappings())}
            versions = [_correction(r) for r in con.execute(select(corrections))]
            sizes: dict[str, dict[str, int]] = {}
            for rid, name, size in con.execute(select(files.c.record_id, files.c.name,
                                                      func.octet_length(files.c.data))):
                sizes.setdefault(rid, {})[name] = size
        incomplete = set()
        for rid, rec in rows.items():
            have = sizes.get(rid, {})
            if have.get(rec.original_file) != rec.original_bytes or any(
                    not have.get(n) for n in OUTPUT_FILES):
                incomplete.add(rid)
        known = set()
        for c in versions:
            name = correction_blob(c.mask_file)
            known.add(f"{c.record_id}/{name}")
            if sizes.get(c.record_id, {}).get(name) != c.mask_bytes:
                incomplete.add(c.record_id)
        orphans = sorted(rid for rid in sizes if rid not in rows)
        stray = sorted(f"{rid}/{name}" for rid, have in sizes.items() if rid in rows
                       for name in have if name.startswith(CORRECTIONS_DIR + "/")
                       and f"{rid}/{name}" not in known)
        return StoreCheck(rows=len(rows), incomplete=tuple(sorted(incomplete)),
                          orphans=tuple(orphans), staging=(), stray_corrections=tuple(stray))

    def sweep(self, older_than_s: float = 3600.0) -> int:
        """Nothing to remove: a transaction cut short leaves nothing behind. Returns 0."""
        return 0

    # -- copying in --------------------------------------------------------------------------
    def import_record(self, record: Record, blobs: Mapping[str, bytes],
                      versions: list[tuple[Correction, bytes]]) -> tuple[bool, int]:
        """Add a record from another store as it is there (same id, times, verdict, file
        bytes and correction versions), in one transaction; parts already here are left
        alone. ``blobs``: ``"original"`` and every ``OUTPUT_FILES`` name (may be empty when
        the record is here already). Returns (record added, corrections added)."""
        self._ensure()
        with self.engine.begin() as con:
            here = con.execute(select(records.c.id, records.c.verdict).where(
                records.c.id == record.id).with_for_update()).first()
            added = here is None
            if added:
                check_outputs({n: b for n, b in blobs.items() if n != "original"})
                row = {k: v for k, v in record.__dict__.items() if k != "summary"}
                row["summary_json"] = json.dumps(record.summary, sort_keys=True)
                con.execute(insert(records).values(**row))
                self._insert_files(con, record.id, {
                    (record.original_file if n == "original" else n): b for n, b in blobs.items()})
            elif here.verdict is None and record.verdict is not None:
                con.execute(update(records).where(records.c.id == record.id)
                            .values(verdict=record.verdict, verdict_at=record.verdict_at))
            have = set(con.execute(select(corrections.c.version)
                                   .where(corrections.c.record_id == record.id)).scalars())
            new = [(c, png) for c, png in versions if c.version not in have]
            for c, png in new:
                con.execute(insert(corrections).values(**c.__dict__))
                self._insert_files(con, record.id, {correction_blob(c.mask_file): png})
        return added, len(new)
