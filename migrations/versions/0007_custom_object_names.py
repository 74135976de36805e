"""A custom object named in OBJECT_TYPES by its objectTypeId (``2-…``) is mirrored and
served under its name: the name is looked up once, in HubSpot's schemas API, and kept with
the object type's state, so later starts need no HubSpot and the feed path never changes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "object_state",
        sa.Column(
            "type_id",
            sa.String(32),
            nullable=True,
            comment="a custom object's objectTypeId when OBJECT_TYPES names it by that id: "
            "the name it is mirrored and served under, looked up once, is kept with it",
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("object_state") as batch:
        batch.drop_column("type_id")
