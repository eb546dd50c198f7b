"""A store as the code before Alembic made it (schema version 2, hand-written SQL), to prove
that upgrading one keeps every row and file. The SQL is a frozen copy of the old ``_SCHEMA``
of rustseg_core/store/local.py (commit d864337): do not edit it to match newer code."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from rustseg_core.vocabulary import OUTPUT_FILES

LEGACY_SCHEMA = """
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
    verdict         TEXT CHECK (verdict IS NULL OR verdict IN ('correct', 'wrong', 'no_rust')),
    verdict_at      TEXT
);
CREATE INDEX IF NOT EXISTS records_created ON records (created_at);
CREATE TABLE IF NOT EXISTS corrections (
    record_id       TEXT NOT NULL REFERENCES records (id),
    version         INTEGER NOT NULL CHECK (version >= 1),
    created_at      TEXT NOT NULL,
    mask_file       TEXT NOT NULL,
    mask_bytes      INTEGER NOT NULL,
    source          TEXT NOT NULL CHECK (source IN ('drawn', 'no_rust')),
    area_fraction   REAL NOT NULL,
    PRIMARY KEY (record_id, version)
);
"""


def make_legacy_store(root: Path, record_id: str, original: bytes, summary: dict,
                      mask_png: bytes) -> None:
    """A version-2 store with one record (verdict "wrong") and one drawn correction, laid
    out and indexed exactly as the pre-Alembic code wrote it."""
    folder = root / "items" / record_id
    (folder / "corrections").mkdir(parents=True)
    (root / "staging").mkdir()
    (folder / "original.jpg").write_bytes(original)
    for name in OUTPUT_FILES:
        (folder / name).write_bytes(f"<{name}>".encode())
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    (folder / "corrections" / "v0001.png").write_bytes(mask_png)
    with sqlite3.connect(root / "store.sqlite3") as con:
        con.execute("PRAGMA journal_mode = WAL")
        con.executescript(LEGACY_SCHEMA)
        con.execute("PRAGMA user_version = 2")
        con.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (record_id, "2026-01-02T03:04:05+00:00", "original.jpg", len(original),
                     summary["mode"], summary["model_version"], summary["probability"],
                     summary["decision"], summary["area_fraction"],
                     json.dumps(summary, sort_keys=True), "wrong", "2026-01-02T03:05:00+00:00"))
        con.execute("INSERT INTO corrections VALUES (?, 1, ?, 'v0001.png', ?, 'drawn', 0.25)",
                    (record_id, "2026-01-02T03:06:00+00:00", len(mask_png)))
    con.close()
