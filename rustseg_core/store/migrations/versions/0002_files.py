"""files: photos and masks as bytes, written with their row (the database backend's storage;
the folder backend keeps files on disk and leaves this table empty).

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("record_id", sa.Text, sa.ForeignKey("records.id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("record_id", "name"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # JPEG and PNG bytes do not compress: store them out of line without trying to.
        op.execute("ALTER TABLE files ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("files")
