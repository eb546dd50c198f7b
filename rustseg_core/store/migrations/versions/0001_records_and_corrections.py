"""records and corrections: the embedded store's schema version 2, as it was before Alembic.

A store made before Alembic (``PRAGMA user_version`` 1 or 2, no ``alembic_version`` table)
already has some or all of these; only what is missing is created, so upgrading it keeps
every row (a version-1 store gains its corrections table, as it did on its next write).

Revision ID: 0001
Revises:
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Real = sa.Float().with_variant(sqlite.REAL(), "sqlite")
VERDICTS = "'correct', 'wrong', 'no_rust'"
SOURCES = "'drawn', 'no_rust'"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("records"):
        op.create_table(
            "records",
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("original_file", sa.Text, nullable=False),
            sa.Column("original_bytes", sa.Integer, nullable=False),
            sa.Column("mode", sa.Text, nullable=False),
            sa.Column("model_version", sa.Text, nullable=False),
            sa.Column("probability", Real, nullable=False),
            sa.Column("decision", sa.Text, nullable=False),
            sa.Column("area_fraction", Real, nullable=False),
            sa.Column("summary_json", sa.Text, nullable=False),
            sa.Column("verdict", sa.Text,
                      sa.CheckConstraint(f"verdict IS NULL OR verdict IN ({VERDICTS})")),
            sa.Column("verdict_at", sa.Text),
        )
    if "records_created" not in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("records")}:
        op.create_index("records_created", "records", ["created_at"])
    if not inspector.has_table("corrections"):
        op.create_table(
            "corrections",
            sa.Column("record_id", sa.Text, sa.ForeignKey("records.id"), nullable=False),
            sa.Column("version", sa.Integer, sa.CheckConstraint("version >= 1"), nullable=False),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("mask_file", sa.Text, nullable=False),
            sa.Column("mask_bytes", sa.Integer, nullable=False),
            sa.Column("source", sa.Text, sa.CheckConstraint(f"source IN ({SOURCES})"), nullable=False),
            sa.Column("area_fraction", Real, nullable=False),
            sa.PrimaryKeyConstraint("record_id", "version"),
        )


def downgrade() -> None:
    op.drop_table("corrections")
    op.drop_index("records_created", "records")
    op.drop_table("records")
