"""On SQLite, large records are stored LZ4-compressed (a BLOB in ``entities.data``; see
proxy/store/record_text.py). Nothing changes in the schema, and rows written before stay
text until rewritten; this revision marks the databases that may hold compressed records,
so code from before it (which would splice a BLOB into the feed as if it were JSON) refuses
to start on them. Going below it expands every compressed record back to its text.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import lz4.block
import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Records expanded per statement: a batch of 31 KB records is ~15 MB of text.
BATCH = 500


def upgrade() -> None:
    pass


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":  # Postgres stores text only
        return
    entities = sa.table(
        "entities", sa.column("object_type"), sa.column("entity_id"), sa.column("data")
    )
    compressed = (
        sa.select(entities.c.object_type, entities.c.entity_id, entities.c.data)
        .where(sa.func.typeof(entities.c.data) == "blob")
        .limit(BATCH)
    )
    expand = (
        entities.update()
        .where(
            entities.c.object_type == sa.bindparam("t"),
            entities.c.entity_id == sa.bindparam("i"),
        )
        .values(data=sa.bindparam("text"))
    )
    # Each pass rewrites what it read as text, so the next finds the rest.
    while rows := bind.execute(compressed).all():
        bind.execute(
            expand,
            [{"t": t, "i": i, "text": lz4.block.decompress(d).decode()} for t, i, d in rows],
        )
