"""Create and upgrade the store's schema with Alembic, for either backend.

The migration scripts ship inside the package (``migrations/``), so this works from a
checkout and after ``pip install .``. Callers: ``rustseg store upgrade``, the folder store
when it first writes, and the database store before its first write.
"""
from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

# Imported here, not lazily: threads that first import alembic at the same moment can see
# its modules half-initialised (its imports are circular), an ImportError in a save.
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock key held while migrating (any constant; "RSEG" in ASCII).
ADVISORY_LOCK_KEY = 0x52534547
VERSION_TABLE = "alembic_version"
# Alembic keeps its running migration in module globals (alembic.context, alembic.op), so
# two threads of one process must not run it at once, even on different databases.
_ALEMBIC_LOCK = threading.Lock()


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` (what people and libpq write) → SQLAlchemy's psycopg 3 driver."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def engine_for(url: str, **kwargs) -> Engine:
    """An engine for ``url``. SQLite's begins with BEGIN IMMEDIATE, so a transaction holds
    the write lock from its start (pysqlite would otherwise defer it, or skip BEGIN for DDL)."""
    url = sqlalchemy_url(url)
    if url.startswith("sqlite"):
        # Wait for another process's migration (or write) rather than fail at once.
        kwargs.setdefault("connect_args", {"timeout": 60})
    elif url.startswith("postgresql+"):
        # Text as UTF-8 whatever the database's encoding: on an SQL_ASCII database (initdb in
        # a bare C locale) psycopg would otherwise hand SQLAlchemy bytes, and the first
        # connection fails reading the server's version.
        kwargs.setdefault("connect_args", {"client_encoding": "utf8"})
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _no_driver_transactions(dbapi_con, _record) -> None:
            dbapi_con.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(con) -> None:
            con.exec_driver_sql("BEGIN IMMEDIATE")
    return engine


def alembic_config(url: str):
    """An Alembic ``Config`` for the packaged migrations, aimed at ``url`` (passed as an
    attribute, not an ini option, so a password with ``%`` in it needs no escaping)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = url
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest revision the packaged migrations define."""
    with _ALEMBIC_LOCK:  # loading the scripts is Alembic's work too: one thread at a time
        return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; ``None`` when Alembic never ran on it (empty, or a
    store made before Alembic)."""
    with engine.connect() as con:
        if not inspect(con).has_table(VERSION_TABLE):
            return None
        return con.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def upgrade(url: str, revision: str = "head") -> str:
    """Create or upgrade the schema at ``url`` to ``revision``; returns the revision now in
    place. Safe to run again, and from several processes at once (they take turns)."""
    with _ALEMBIC_LOCK:
        command.upgrade(alembic_config(url), revision)
    engine = engine_for(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def describe(url: str) -> str:
    """``url`` with any password hidden, for messages and logs."""
    return make_url(sqlalchemy_url(url)).render_as_string(hide_password=True)
