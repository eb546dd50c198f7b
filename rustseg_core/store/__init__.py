"""The opt-in store: photos people chose to keep, with RustSEG's outputs and their verdicts.

Two backends with one interface, chosen by :func:`open_store`:

* ``Store`` (``store.local``), the embedded default: a folder plus SQLite, for one host;
* ``DatabaseStore`` (``store.database``): PostgreSQL, rows and files together, for several
  servers at once (``RUSTSEG_DATABASE_URL=postgresql://...``).

Each has ``save``, ``set_verdict``, ``save_correction``, ``corrections``,
``latest_correction``, ``latest_corrections``, ``current_mask``, ``get``, ``records``,
``read_file``, ``read_correction``, ``check``, ``sweep``, ``export``, ``exists``,
``upgrade`` and ``location``, and the same guarantees: nothing written without consent, a record visible
only when complete, ids that cannot be guessed. Both use one schema (``store.schema``),
created and migrated by Alembic (``store.migrate``).
"""
from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Union

from sqlalchemy.exc import SQLAlchemyError

from .local import Store
from .mask_file import MaskInputError
from .records import (EXPORT_CSV, Correction, ExportSummary, Record, RecordExists, StoreCheck,
                      extension_for_format, is_valid_id, keyed_id)

if TYPE_CHECKING:  # the database backend imports its driver only when a URL asks for it
    from .database import DatabaseStore

# Either backend: what open_store returns, for type hints.
StoreBackend = Union[Store, "DatabaseStore"]

# Where the embedded store lives when nothing says otherwise (relative to the working
# directory); the CLI's --store and the app's STORE_DIR (RUSTSEG_STORE_DIR) override it.
DEFAULT_STORE_DIR = "var/store"
ENV_DATABASE_URL = "RUSTSEG_DATABASE_URL"

# What a store raises when the disk or the database fails (not the caller's input):
# callers that must not fail with it (the web app) catch these.
STORE_ERRORS: tuple[type[BaseException], ...] = (OSError, sqlite3.Error, SQLAlchemyError)


def is_url(location: str) -> bool:
    """Whether ``location`` names a database (``scheme://...``) rather than a folder."""
    return "://" in str(location)


def open_store(location: str) -> StoreBackend:
    """The store at ``location``: a ``postgresql://`` URL → :class:`DatabaseStore`, a folder
    → the embedded :class:`Store`. Nothing is created or connected until it is used."""
    location = str(location)
    if is_url(location):
        from .database import DatabaseStore

        return DatabaseStore(location)
    return Store(location)


__all__ = ["DEFAULT_STORE_DIR", "ENV_DATABASE_URL", "EXPORT_CSV", "STORE_ERRORS", "Correction",
           "ExportSummary", "MaskInputError", "Record", "RecordExists", "Store", "StoreBackend",
           "StoreCheck", "extension_for_format", "is_url", "is_valid_id", "keyed_id", "open_store"]
