"""Run Alembic programmatically on a live async connection.

Paths are resolved from the installed ``migrations`` package, so this works from any
directory. Two processes that start at once do not both try to create the tables: on
Postgres an advisory lock is held for the duration, on SQLite the write lock is taken at
BEGIN; the second waits, then finds the schema current.

Alembic is imported only when a migration command runs for real: ``upgrade`` to the head of
a database already there (every start of ``serve`` but the first) reads the stored revision
with one query and returns.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from proxy.store.engine import SQLITE_BEGIN_IMMEDIATE

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

# An arbitrary, fixed 64-bit key for pg_advisory_lock ("change-p" in ASCII).
_MIGRATION_LOCK_KEY = 0x6368616E67652D70

# The newest revision in migrations/versions (tests/migrations/test_stairway.py checks that
# it is Alembic's head). Importing Alembic loads its every dialect's DDL module, SQLAlchemy's
# MySQL, MSSQL and Oracle dialects with them, and Mako: ~10 MB that a process keeps for its
# lifetime (measured: 10.1 MiB of RSS on top of aiohttp and SQLAlchemy's asyncio extension).
# serve upgrades at every start; knowing the head, a start on a current database skips it.
HEAD = "0011"
# Alembic's default version table, which migrations/env.py keeps.
_VERSION_TABLE = "alembic_version"


def alembic_config(stdout: TextIO | None = None) -> Config:
    from alembic.config import Config

    cfg = Config(stdout=stdout) if stdout is not None else Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    return cfg


async def _run(engine: AsyncEngine, fn_name: str, *args: str, stdout: TextIO | None = None) -> None:
    from alembic import command

    cfg = alembic_config(stdout)

    def run(sync_conn: sa.Connection) -> None:
        cfg.attributes["connection"] = sync_conn
        getattr(command, fn_name)(cfg, *args)

    async with engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        if conn.dialect.name == "sqlite":
            # Take the write lock before Alembic reads the current revision, and keep it
            # until every step is applied: a second process waits and then finds the schema
            # current. (Alembic commits after each revision on SQLite unless the transaction
            # is the caller's: between two revisions another process could step in and apply
            # the next one first, and this one would apply it again.)
            conn = await conn.execution_options(**{SQLITE_BEGIN_IMMEDIATE: True})
            await conn.begin()
        if postgres:
            await conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            await conn.commit()
        try:
            await conn.run_sync(run)
            await conn.commit()
        finally:
            if postgres:
                await conn.execute(
                    sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK_KEY}
                )
                await conn.commit()


async def stored_revision(engine: AsyncEngine) -> str | None:
    """The one revision in the database's version table; None without the table, or when it
    holds none or several (branches): then only Alembic can tell."""

    def read(sync_conn: sa.Connection) -> str | None:
        if not sa.inspect(sync_conn).has_table(_VERSION_TABLE):
            return None
        rows = sync_conn.execute(sa.text(f"SELECT version_num FROM {_VERSION_TABLE}")).all()
        return str(rows[0][0]) if len(rows) == 1 else None

    async with engine.connect() as conn:
        return await conn.run_sync(read)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    if revision in ("head", HEAD) and await stored_revision(engine) == HEAD:
        return  # current: nothing to apply, and no Alembic import
    before = await current(engine)
    await _run(engine, "upgrade", revision)
    after = await current(engine)
    if after != before:
        log.info("database schema migrated from %s to %s", before or "empty", after)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _run(engine, "downgrade", revision)


async def current(engine: AsyncEngine) -> str:
    """The revision the database is at, as Alembic prints it."""
    out = io.StringIO()
    await _run(engine, "current", stdout=out)
    return out.getvalue().strip()
