"""Postgres compresses stored records with LZ4 instead of pglz.

A record of a portal with hundreds of properties is ~30 KB of JSON, which Postgres
compresses when it stores it (TOAST). pglz cost the server more CPU than the rest of the
insert: an initial sync of 30,000 such contacts spent 4.6 CPU-s in Postgres with pglz and
1.7 with LZ4, and took 15.3 s instead of 13.4 s (bench.cost's portal, this machine). The
setting applies to records written from now on; stored ones stay readable as they are.
SQLite does not compress, and servers before 14 or built without LZ4 keep pglz.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _set_compression(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # A server without LZ4 support (or before 14, which has no per-column compression)
    # keeps its default: the records are the same, only their compression differs.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF current_setting('server_version_num')::int >= 140000 THEN
                ALTER TABLE entities ALTER COLUMN data SET COMPRESSION {method};
            END IF;
        EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
            NULL;
        END $$;
        """
    )


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("default")
