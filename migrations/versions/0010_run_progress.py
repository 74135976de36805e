"""A running run says when it last committed a page (``sync_runs.progress_at``), so
``/health`` tells a long scan that moves from a run that hangs while its process beats.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sync_runs",
        sa.Column(
            "progress_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="when the run last committed a page (at most a few seconds behind); tells "
            "a long scan that moves from a run that hangs while its process beats",
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("progress_at")
