"""Alembic environment.

Two ways in:
- from ``proxy.store.migrate`` (``change-proxy serve`` and ``change-proxy db …``): a live
  connection is handed over in ``config.attributes["connection"]``;
- from the ``alembic`` command line in the repository root: the URL comes from
  ``DATABASE_URL`` and an async engine is created here.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from proxy.config import load_settings
from proxy.store.engine import create_engine
from proxy.store.schema import metadata

config = context.config


def run_with_connection(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url() -> None:
    engine = create_engine(load_settings().database_url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(run_with_connection)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported; run against a database")

shared = config.attributes.get("connection")
if shared is not None:
    run_with_connection(shared)
else:
    asyncio.run(run_from_url())
