"""A verifying scan remembers the content settings it fetches under: resumed under other
settings, the records it fetched before would not show them, so it starts over. A verifying
scan in progress at the upgrade starts over once (its settings were not recorded).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "object_state",
        sa.Column(
            "scan_signature",
            sa.String(64),
            nullable=True,
            comment="the content settings a verifying scan in progress fetches under; it "
            "starts over when they change",
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("object_state") as batch:
        batch.drop_column("scan_signature")
