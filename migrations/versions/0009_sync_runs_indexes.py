"""Indexes on sync_runs for what /health, /admin/status and the workers ask on every call:
the last run of an object type with a status (and mode), and its queued and running runs.
Before them each call walked every run the object type ever had.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_sync_runs_object_type_status_id", "sync_runs", ["object_type", "status", "id"]
    )
    op.create_index(
        "ix_sync_runs_object_type_mode_status_id",
        "sync_runs",
        ["object_type", "mode", "status", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_sync_runs_object_type_mode_status_id", table_name="sync_runs")
    op.drop_index("ix_sync_runs_object_type_status_id", table_name="sync_runs")
