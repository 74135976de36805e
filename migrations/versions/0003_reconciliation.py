"""Cheap reconciliation: which settings every stored record was last fetched whole under,
and whether the scan in progress compares every record (verify) or only what changed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COMMENTS = {
    # column: (new comment, comment in 0002)
    "mode": ("full | incremental | verify | deletions", "full | incremental"),
    "trigger": (
        "schedule | admin | cli | startup | retry | resume | check",
        "schedule | admin | cli | startup | retry | resume",
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
    for column in (
        sa.Column(
            "scan_mode",
            sa.String(16),
            nullable=True,
            comment="full (fetch what changed) | verify (fetch and compare every record)",
        ),
        sa.Column(
            "fetch_signature",
            sa.String(64),
            nullable=True,
            comment="the content settings (properties, associations) every stored record was "
            "last fetched whole under; when they change, the next full scan fetches everything",
        ),
    ):
        op.add_column("object_state", column)
    _comment_columns(to_new=True)


def downgrade() -> None:
    _comment_columns(to_new=False)
    # 0002 knows only full and incremental runs.
    op.execute("UPDATE sync_runs SET mode = 'full' WHERE mode IN ('verify', 'deletions')")
    op.execute("UPDATE sync_runs SET trigger = 'schedule' WHERE trigger = 'check'")
    with op.batch_alter_table("object_state") as batch:
        for name in ("fetch_signature", "scan_mode"):
            batch.drop_column(name)
