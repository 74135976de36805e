"""Transactions: the engine's lifecycle and the one way the store reads and writes.

Every write is one function of a synchronous connection, run as one transaction by
:meth:`Database.write`: on Postgres through ``AsyncConnection.run_sync`` (asyncpg
underneath), on SQLite in a single writer thread with its own connection. That is SQLite's
one-writer model made explicit: one thread hop per transaction instead of one per statement,
and writers of this process queue instead of spinning on the busy timeout (``BEGIN
IMMEDIATE`` still serialises other processes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.store.engine import (
    SQLITE_BEGIN_IMMEDIATE,
    create_engine,
    create_sqlite_writer,
    is_sqlite,
)

T = TypeVar("T")

# How many ids one statement names. SQLite allows 32766 bound parameters; Postgres 32767.
ID_CHUNK = 1000

# How much record text a sync may write in one transaction when pages queue behind the
# writer (proxy.pipeline). On SQLite the writes run in the writer thread, off the event
# loop: a transaction per page cost a first scan of 100,000 1 KB records 1.3 s of commits
# (bench.rest, py-spy), and grouping up to 1 MB lowered the feed's p99 during a sync
# (bench.latency, back to back: 109 -> 99 ms). On Postgres a transaction's Python work runs
# on the event loop (run_sync): grouped, the feed's p99 during a full sync went from 75 to
# 219 ms (bench.latency, back to back; on that hour the same code measured from 59 to 232
# ms, so read it as a direction, as an earlier measurement of grouping also found), so
# there a page with records is a transaction of its own.
SQLITE_WRITE_GROUP_BYTES = 1_000_000


def utcnow() -> datetime:
    return datetime.now(UTC)


class Database:
    """One per process; cheap to share between tasks."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = is_sqlite(engine)
        self._sqlite_writer = create_sqlite_writer(engine) if self.is_sqlite else None
        self._writer_thread = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
            if self.is_sqlite
            else None
        )
        self.write_group_bytes = SQLITE_WRITE_GROUP_BYTES if self.is_sqlite else 0

    @classmethod
    def open(cls, url: str, **engine_kwargs: Any) -> Database:
        return cls(create_engine(url, **engine_kwargs))

    async def close(self) -> None:
        if self._writer_thread is not None and self._sqlite_writer is not None:
            await asyncio.get_running_loop().run_in_executor(
                self._writer_thread, self._sqlite_writer.dispose
            )
            self._writer_thread.shutdown(wait=True)
        await self.engine.dispose()

    def insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, which knows ``ON CONFLICT``."""
        return sqlite.insert(table) if self.is_sqlite else postgresql.insert(table)

    async def write(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn`` in one write transaction: committed when it returns, rolled back when
        it raises."""
        if self._sqlite_writer is None or self._writer_thread is None:
            async with self.engine.begin() as conn:
                return await conn.run_sync(fn)
        writer = self._sqlite_writer

        def in_thread() -> T:
            with writer.connect() as conn:
                conn = conn.execution_options(**{SQLITE_BEGIN_IMMEDIATE: True})
                with conn.begin():
                    return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self._writer_thread, in_thread)

    async def read(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn`` in a read-only transaction (on SQLite in the writer thread too: one
        thread hop, and no write lock taken).

        A reader thread of its own would let a sync look up the next page while the current
        one is written: measured, an initial sync of 31 KB records ran 20-28% faster, but
        the feed's p99 while a sync ran went from ~40 ms to 160-315 ms (bench.latency: the
        sync then keeps the event loop and the GIL busy without a break). Serving Sesam
        comes first."""
        if self._sqlite_writer is None or self._writer_thread is None:
            async with self.engine.connect() as conn:
                return await conn.run_sync(fn)
        writer = self._sqlite_writer

        def in_thread() -> T:
            with writer.connect() as conn, conn.begin():
                return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self._writer_thread, in_thread)

    def now(self, conn: sa.Connection) -> datetime:
        """The time leases and heartbeats are judged by. On Postgres, the database server's
        clock, so replicas on machines whose clocks disagree still agree on who holds a lease;
        SQLite is one machine's file, so its processes share this machine's clock."""
        if self.is_sqlite:
            return utcnow()
        value = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
        assert isinstance(value, datetime)
        return value.astimezone(UTC)

    async def refresh_statistics(self) -> None:
        """Let the query planner see the table as it is now (Postgres only: SQLite's planner
        uses the primary key without statistics)."""
        if self.is_sqlite:
            return
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("ANALYZE entities"))
            await conn.commit()
