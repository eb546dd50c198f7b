"""The store's tables, as SQLAlchemy Core: one schema for both backends.

``records`` and ``corrections`` are the tables the embedded store has had since schema
version 2 (column for column, so an existing ``store.sqlite3`` needs no change; see the
first migration). ``files`` holds a record's photos and masks as bytes: the database backend
writes them in the same transaction as their row; the folder backend keeps its files on
disk and leaves this table empty. Alembic (``migrations/``) creates and upgrades all of it.
"""
from __future__ import annotations

from sqlalchemy import (CheckConstraint, Column, Float, ForeignKey, Index, Integer, LargeBinary,
                        MetaData, PrimaryKeyConstraint, Table, Text)
from sqlalchemy.dialects import sqlite

from ..vocabulary import CORRECTION_SOURCES, VERDICTS

# REAL on SQLite (what the hand-written schema said), double precision elsewhere.
Real = Float().with_variant(sqlite.REAL(), "sqlite")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


metadata = MetaData()

records = Table(
    "records", metadata,
    Column("id", Text, primary_key=True),
    Column("created_at", Text, nullable=False),
    Column("original_file", Text, nullable=False),
    Column("original_bytes", Integer, nullable=False),
    Column("mode", Text, nullable=False),
    Column("model_version", Text, nullable=False),
    Column("probability", Real, nullable=False),
    Column("decision", Text, nullable=False),
    Column("area_fraction", Real, nullable=False),
    Column("summary_json", Text, nullable=False),
    Column("verdict", Text, CheckConstraint("verdict IS NULL OR " + _one_of("verdict", VERDICTS))),
    Column("verdict_at", Text),
)
Index("records_created", records.c.created_at)

corrections = Table(
    "corrections", metadata,
    Column("record_id", Text, ForeignKey("records.id"), nullable=False),
    Column("version", Integer, CheckConstraint("version >= 1"), nullable=False),
    Column("created_at", Text, nullable=False),
    Column("mask_file", Text, nullable=False),
    Column("mask_bytes", Integer, nullable=False),
    Column("source", Text, CheckConstraint(_one_of("source", CORRECTION_SOURCES)), nullable=False),
    Column("area_fraction", Real, nullable=False),
    PrimaryKeyConstraint("record_id", "version"),
)

# name: "original.<ext>", an OUTPUT_FILES name, or "corrections/v0001.png".
files = Table(
    "files", metadata,
    Column("record_id", Text, ForeignKey("records.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("record_id", "name"),
)
