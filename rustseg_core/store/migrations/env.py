"""Alembic's entry point for the store's migrations (run by ``rustseg_core.store.migrate``).

Both backends take a lock for the whole run, so replicas or workers that upgrade at the same
moment take turns and the later ones find the schema at head: PostgreSQL an advisory lock,
SQLite its write lock (the engine from ``migrate.engine_for`` begins with BEGIN IMMEDIATE).
"""
from alembic import context
from sqlalchemy import text

from rustseg_core.store.migrate import ADVISORY_LOCK_KEY, engine_for
from rustseg_core.store.schema import metadata


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        context.run_migrations()


def run_migrations_online() -> None:
    url = context.config.attributes["url"]
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("the store's migrations run against a database; offline (--sql) mode is not supported")
run_migrations_online()
