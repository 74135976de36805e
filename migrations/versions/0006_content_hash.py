"""Records keep a hash of their stored text, and may be stored before their fingerprint is
computed: a copy fetched with the same text is the same content without parsing either, and
an initial sync stores records without parsing them (the fingerprint is computed from the
stored text when a copy with other text arrives). Rows written before keep their
fingerprints and get a hash when next written.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


FINGERPRINT_BEFORE = "hash of the canonical content used for no-op suppression"
FINGERPRINT_NOW = (
    "hash of the canonical content used for no-op suppression; empty until a copy with "
    "other text makes it needed (computed from data then)"
)


def _comment_fingerprint(comment: str, before: str) -> None:
    if op.get_bind().dialect.name == "postgresql":  # SQLite keeps no comments
        op.alter_column(
            "entities",
            "fingerprint",
            existing_type=sa.String(64),
            existing_nullable=False,
            comment=comment,
            existing_comment=before,
        )


def upgrade() -> None:
    _comment_fingerprint(FINGERPRINT_NOW, FINGERPRINT_BEFORE)
    op.add_column(
        "entities",
        sa.Column(
            "content_hash",
            sa.String(32),
            nullable=True,
            comment="hash of data exactly: equal text, equal content (null: written before 0006)",
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("entities") as batch:
        batch.drop_column("content_hash")
    _comment_fingerprint(FINGERPRINT_BEFORE, FINGERPRINT_NOW)
    # Code before 0006 compares every stored fingerprint: forget the settings they were
    # computed under, so its first start computes the ones never computed (stored empty).
    op.execute(sa.text("UPDATE object_state SET fingerprint_config = NULL"))
