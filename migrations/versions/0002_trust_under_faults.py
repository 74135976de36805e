"""Trust under faults: leases, run owners and heartbeats, one queued run per mode, resumable
full scans, held deletions, fingerprint settings, and each record's source modification time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)

_COMMENTS = {
    # column: (new comment, comment in 0001)
    "status": (
        "queued | running | succeeded | failed | interrupted",
        "queued | running | succeeded | failed",
    ),
    "trigger": (
        "schedule | admin | cli | startup | retry | resume",
        "schedule | admin | cli | startup",
    ),
}


def _comment_columns(to_new: bool) -> None:
    # SQLite keeps no comments; Postgres does, and the schema module is compared with them.
    if op.get_bind().dialect.name != "postgresql":
        return
    for column, (new, old) in _COMMENTS.items():
        op.alter_column(
            "sync_runs",
            column,
            existing_type=sa.String(16),
            existing_nullable=False,
            comment=new if to_new else old,
            existing_comment=old if to_new else new,
        )


def upgrade() -> None:
    op.add_column(
        "entities",
        sa.Column(
            "source_modified_ms",
            sa.BigInteger(),
            nullable=True,
            comment="the source's modification time of the stored copy (epoch ms); an older "
            "copy never replaces it",
        ),
    )
    for column in (
        sa.Column(
            "scan_run_id",
            sa.Integer(),
            nullable=True,
            comment="the run that began the full scan in progress; null when none is",
        ),
        sa.Column(
            "scan_position",
            sa.Text(),
            nullable=True,
            comment="where the full scan in progress resumes (JSON: listing and cursor)",
        ),
        sa.Column("scan_started_at", UTC_DATETIME, nullable=True),
        sa.Column(
            "fingerprint_config",
            sa.String(64),
            nullable=True,
            comment="signature of the settings the stored fingerprints were computed with",
        ),
    ):
        op.add_column("object_state", column)
    for column in (
        sa.Column(
            "owner",
            sa.String(128),
            nullable=True,
            comment="the process that ran it (host:pid:token); null while queued",
        ),
        sa.Column(
            "heartbeat_at",
            UTC_DATETIME,
            nullable=True,
            comment="last sign of life of a running run; a stale one was interrupted",
        ),
        sa.Column(
            "scan_run_id",
            sa.Integer(),
            nullable=True,
            comment="full runs: the run that began the scan this run carried on (itself if new)",
        ),
        sa.Column(
            "held",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="deletions held for an operator (mass-deletion guard)",
        ),
    ):
        op.add_column("sync_runs", column)
    _comment_columns(to_new=True)
    # Runs queued twice by the old check-then-insert would break the new unique index: keep
    # the oldest of each object type and mode.
    op.execute(
        "UPDATE sync_runs SET status = 'failed', error = 'dropped by migration 0002: "
        "a duplicate of an earlier queued run' WHERE status = 'queued' AND id NOT IN "
        "(SELECT MIN(id) FROM sync_runs WHERE status = 'queued' GROUP BY object_type, mode)"
    )
    op.create_index(
        "uq_sync_runs_queued",
        "sync_runs",
        ["object_type", "mode"],
        unique=True,
        sqlite_where=sa.text("status = 'queued'"),
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_table(
        "leases",
        sa.Column("object_type", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False, comment="host:pid:token of the holder"),
        sa.Column("acquired_at", UTC_DATETIME, nullable=False),
        sa.Column(
            "expires_at",
            UTC_DATETIME,
            nullable=False,
            comment="the holder renews it; once past, another process may take over",
        ),
        sa.PrimaryKeyConstraint("object_type", name="pk_leases"),
    )
    op.create_table(
        "held_deletions",
        sa.Column("object_type", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False, comment="the full run that held it"),
        sa.Column("held_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("object_type", "entity_id", name="pk_held_deletions"),
    )


def downgrade() -> None:
    op.drop_table("held_deletions")
    op.drop_table("leases")
    op.drop_index("uq_sync_runs_queued", table_name="sync_runs")
    # 0001 knows no 'interrupted' status.
    op.execute("UPDATE sync_runs SET status = 'failed' WHERE status = 'interrupted'")
    _comment_columns(to_new=False)
    with op.batch_alter_table("sync_runs") as batch:
        for name in ("held", "scan_run_id", "heartbeat_at", "owner"):
            batch.drop_column(name)
    with op.batch_alter_table("object_state") as batch:
        for name in ("fingerprint_config", "scan_started_at", "scan_position", "scan_run_id"):
            batch.drop_column(name)
    with op.batch_alter_table("entities") as batch:
        batch.drop_column("source_modified_ms")
