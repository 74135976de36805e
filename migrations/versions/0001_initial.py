"""The mirror: entities with their change index, sightings, per-object state, and the run log.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "entities",
        sa.Column("object_type", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False, comment="the source's id (_id)"),
        sa.Column(
            "change_seq",
            sa.BigInteger(),
            nullable=False,
            comment="per-object change number; the feed's _updated",
        ),
        sa.Column(
            "fingerprint",
            sa.String(64),
            nullable=False,
            comment="hash of the canonical content used for no-op suppression",
        ),
        sa.Column(
            "deleted", sa.Boolean(), nullable=False, comment="tombstone; the feed's _deleted"
        ),
        sa.Column(
            "data",
            sa.Text(),
            nullable=False,
            comment="the record as the source returned it, JSON text (last known for tombstones)",
        ),
        sa.Column("first_seen_at", UTC_DATETIME, nullable=False),
        sa.Column("changed_at", UTC_DATETIME, nullable=False, comment="when change_seq was set"),
        sa.Column(
            "changed_by_run_id",
            sa.Integer(),
            nullable=True,
            comment="the sync run that set change_seq (null when written outside a run)",
        ),
        sa.PrimaryKeyConstraint("object_type", "entity_id", name="pk_entities"),
        sa.UniqueConstraint("object_type", "change_seq", name="uq_entities_object_type_change_seq"),
    )
    op.create_table(
        "sightings",
        sa.Column("object_type", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column(
            "last_seen_run_id",
            sa.Integer(),
            nullable=False,
            comment="the last sync run whose fetch returned this record",
        ),
        sa.PrimaryKeyConstraint("object_type", "entity_id", name="pk_sightings"),
    )
    op.create_table(
        "object_state",
        sa.Column("object_type", sa.String(64), nullable=False),
        sa.Column(
            "last_change_seq",
            sa.BigInteger(),
            server_default="0",
            nullable=False,
            comment="the highest change_seq ever given out; never goes down",
        ),
        sa.Column(
            "watermark",
            UTC_DATETIME,
            nullable=True,
            comment="incremental sync resumes from here (source modification time)",
        ),
        sa.Column(
            "first_full_sync_at",
            UTC_DATETIME,
            nullable=True,
            comment="when the first complete full scan finished; the feed answers 503 until set",
        ),
        sa.Column("last_full_sync_at", UTC_DATETIME, nullable=True),
        sa.Column("last_incremental_sync_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("object_type", name="pk_object_state"),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("object_type", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False, comment="full | incremental"),
        sa.Column(
            "status",
            sa.String(16),
            nullable=False,
            comment="queued | running | succeeded | failed",
        ),
        sa.Column(
            "trigger", sa.String(16), nullable=False, comment="schedule | admin | cli | startup"
        ),
        sa.Column("queued_at", UTC_DATETIME, nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=True),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.Column("fetched", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("deleted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unchanged", sa.Integer(), server_default="0", nullable=False),
        sa.Column("requests", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True, comment="why the run failed; never a secret"),
        sa.PrimaryKeyConstraint("id", name="pk_sync_runs"),
    )
    op.create_index("ix_sync_runs_object_type_id", "sync_runs", ["object_type", "id"])


def downgrade() -> None:
    op.drop_index("ix_sync_runs_object_type_id", table_name="sync_runs")
    op.drop_table("sync_runs")
    op.drop_table("object_state")
    op.drop_table("sightings")
    op.drop_table("entities")
