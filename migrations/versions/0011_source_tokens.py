"""Declared sources (issue 17): a refresh token an OAuth2 server rotated is kept here, so a
restart does not fall back to the declared one, which that server has spent.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source_tokens",
        sa.Column("object_type", sa.String(64), nullable=False, comment="the source's name"),
        sa.Column("refresh_token", sa.Text(), nullable=False, comment="secret: never logged"),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("object_type", name="pk_source_tokens"),
    )


def downgrade() -> None:
    op.drop_table("source_tokens")
