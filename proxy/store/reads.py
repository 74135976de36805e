"""Reads: the feed's keyset scan and object state."""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
import weakref
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import await_only

from proxy.store.engine import connect_args
from proxy.store.record_text import expanded, is_compressed, register, text_of
from proxy.store.schema import entities, object_state

T = TypeVar("T")

# Feed batches. Each batch is its own short statement (keyset on change_seq), so a slow
# client never holds a read transaction open and writers are never blocked.
# What bounds a pull's memory: a batch ends once it holds this many bytes of feed JSON (so
# at most this plus one record). A pull holds about three batches' worth at once (the one
# read ahead, the chunk being written, aiohttp's copy of it). Measured with bench.feed on
# SQLite, budgets of 0.5-8 MB: throughput the same within the run-to-run noise for 1 KB and
# 20 KB records, the server's peak RSS ~3.3 MB higher per MB of budget (1 MB: +9 MB over
# idle for an unpaged pull of 20 KB records; 8 MB: +33 MB). 1 MB still holds a Sesam page of
# 1,000 one-KB contacts in about one batch.
FEED_BATCH_BYTES = 1_000_000
# The most rows one batch asks for, however small they are: each entity is a Python bytes
# object of its own (~40 B of overhead), so tiny records (tombstones of `{}`) must not make
# a 1 MB batch 15,000 rows long. 5,000 was the whole batch size before the byte budget.
FEED_BATCH = 5000
# Connections the feed's reads on Postgres keep of their own (PostgresFeedReads). Reads are
# short (a head check ~0.1 ms, a batch of 1 MB a few ms): four serve the read-ahead of the
# four responses that may stream at once (proxy/api/slots.py), while the head checks of
# other requests wait for one a fraction of a millisecond; bench.latency measured with four.
FEED_PG_CONNECTIONS = 4
# Threads that read the feed's SQLite batches (SqliteFeedReads). Each thread that builds
# batches gets a malloc arena of its own, which keeps freed batches' memory for itself: five
# pulls of 20 KB records at once peaked at 122 MB on the event loop's default executor (up
# to 6 threads), ~108 MB with a single arena, ~98 MB with these two threads. Two still keep
# both cores busy (a read holds the GIL only to build rows), and the feed's throughput
# measured the same.
FEED_SQLITE_THREADS = 2
# Bytes per entity assumed before the first batch of an object type has been read: a small
# contact. A wrong guess only costs the database some rows past the budget.
FEED_GUESS_ENTITY_BYTES = 1_000


@dataclass(frozen=True)
class EntityDetails:
    """One mirrored record and its change history's last step."""

    entity: bytes  # as the feed serves it (_id, _updated, _deleted spliced in)
    updated: int  # its change number (_updated)
    deleted: bool
    changed_at: datetime  # when that number was given
    first_seen_at: datetime
    changed_by_run_id: int | None


@dataclass(frozen=True)
class Change:
    """A record's latest change, as the console lists it."""

    id: str
    kind: str  # created, updated or deleted
    updated: int  # its change number (_updated)
    changed_at: datetime
    run_id: int | None  # the run that made it (None: written outside a run)


@dataclass(frozen=True)
class ObjectStatus:
    object_type: str
    last_change_seq: int
    watermark: datetime | None
    first_full_sync_at: datetime | None
    last_full_sync_at: datetime | None
    last_incremental_sync_at: datetime | None
    scan_run_id: int | None = None  # the run that began the full scan in progress
    scan_started_at: datetime | None = None
    live: int = 0
    deleted: int = 0

    @property
    def ready(self) -> bool:
        """The feed may answer only once a complete full scan has finished."""
        return self.first_full_sync_at is not None


@dataclass(frozen=True)
class FeedHead:
    """What the feed needs to know before it answers: whether the mirror is complete, and
    the last ``_updated`` given out (a response's ``upto``)."""

    ready: bool
    last_change_seq: int


def splice(rows: list[Any]) -> list[bytes]:
    """Feed entities from (change_seq, entity_id, deleted, data) rows: ``{"_id":…,
    "_updated":…,"_deleted":…,`` + the stored object without its opening brace."""
    out = []
    for seq, entity_id, deleted, data in rows:
        head = (
            f'{{"_id":{orjson.dumps(entity_id).decode()},"_updated":{seq},'
            f'"_deleted":{"true" if deleted else "false"}'
        )
        # "{}" alone would splice to a dangling comma.
        out.append((head + ("," + data[1:] if data != "{}" else "}")).encode())
    return out


def entity_json(row: sa.ColumnCollection[str, sa.ColumnElement[Any]]) -> sa.ColumnElement[bytes]:
    """The feed entity as JSON text, built by SQLite: ``{"_id":…,"_updated":…,
    "_deleted":…,`` spliced onto the stored object. Doing it in SQL keeps per-row Python
    work out of the feed's hot loop (on Postgres, :func:`splice` in Python is faster:
    measured 130k vs 100k entities/s)."""
    head = (
        sa.literal('{"_id":')
        + sa.func.json_quote(row.entity_id)
        + sa.literal(',"_updated":')
        + sa.cast(row.change_seq, sa.Text)
        + sa.literal(',"_deleted":')
        + sa.case((row.deleted, sa.literal("true")), else_=sa.literal("false"))
    )
    # The stored object minus its opening brace; "{}" alone would leave a dangling comma.
    # A large record is stored compressed (record_text.py): expanded first.
    tail = sa.case(
        (row.data == "{}", sa.literal("}")),
        (is_compressed(row.data), sa.literal(",") + sa.func.substr(expanded(row.data), 2)),
        else_=sa.literal(",") + sa.func.substr(row.data, 2),
    )
    # As a BLOB, the row arrives as the UTF-8 bytes that go on the wire: no decode into a
    # str and re-encode per batch (measured 1.4 s -> ~1.0 s per 100,000-entity pull).
    return sa.cast(head + tail, sa.LargeBinary).label("entity")


class SqliteFeedReads:
    """The feed's reads on SQLite, with stdlib ``sqlite3`` in threads of their own
    (FEED_SQLITE_THREADS) instead of through aiosqlite. For a batch, the thread steps the
    cursor and stops as soon as the batch holds its byte budget, so rows past the budget are
    never read: a strict bound for free (aiosqlite can only fetch a whole LIMIT at once, or
    hop threads per ``fetchmany``; a running-size window in SQL cost SQLite ~30% of its read
    speed). Doing without aiosqlite and SQLAlchemy's row processing also made the reads
    cheaper: ~0.30 -> ~0.20 s to read 100,000 one-KB entities, and the feed's per-request
    state from ~500 to ~50 us (it had cost twice as much as a page of 100 entities).
    Connections are kept for the next read (opening one takes ~0.3 ms) until :meth:`close`
    (when the store's engine is disposed), or until the reader is collected."""

    def __init__(self, database: str) -> None:
        self._database = database
        self._idle: list[sqlite3.Connection] = []
        self._threads: ThreadPoolExecutor | None = None
        weakref.finalize(self, _close_all, self._idle)
        dialect = sqlite_dialect()
        self._batch = (
            sa.select(entities.c.change_seq, entity_json(entities.c))
            .where(
                entities.c.object_type == sa.bindparam("object_type"),
                entities.c.change_seq > sa.bindparam("after"),
                entities.c.change_seq <= sa.bindparam("upto"),
            )
            .order_by(entities.c.change_seq)
            .limit(sa.bindparam("rows"))
            .compile(dialect=dialect)
        )
        self._head = _head_statement().compile(dialect=dialect)

    async def read_batch(
        self, object_type: str, *, after: int, upto: int, rows: int, budget: int
    ) -> tuple[int, list[bytes]]:
        """(last change_seq, entities) of one batch; (``after``, []) past the end."""
        args = _args(self._batch, object_type=object_type, after=after, upto=upto, rows=rows)

        def read(conn: sqlite3.Connection) -> tuple[int, list[bytes]]:
            batch: list[bytes] = []
            size, row = 0, None
            cursor = conn.execute(self._batch.string, args)
            try:
                for row in cursor:
                    batch.append(row[1])
                    size += len(row[1])
                    if size >= budget:
                        break
            finally:
                # Resets the statement, which ends its read transaction now rather than when
                # the cursor is collected (an open read transaction holds back checkpoints).
                cursor.close()
            return (after, batch) if row is None else (row[0], batch)

        return await self._run(read)

    async def read_head(self, object_type: str) -> FeedHead | None:
        args = _args(self._head, object_type=object_type)

        def read(conn: sqlite3.Connection) -> FeedHead | None:
            row = conn.execute(self._head.string, args).fetchone()
            return None if row is None else FeedHead(bool(row[0]), int(row[1]))

        return await self._run(read)

    async def _run(self, read: Callable[[sqlite3.Connection], T]) -> T:
        """``read`` in a worker thread, on a kept connection (or a new one)."""

        def in_thread() -> T:
            try:
                conn = self._idle.pop()
            except IndexError:
                conn = self._connect()
            try:
                result = read(conn)
            except BaseException:
                conn.close()
                raise
            self._idle.append(conn)
            return result

        if self._threads is None:
            self._threads = ThreadPoolExecutor(FEED_SQLITE_THREADS, thread_name_prefix="feed-read")
        return await asyncio.get_running_loop().run_in_executor(self._threads, in_thread)

    def _connect(self) -> sqlite3.Connection:
        # Autocommit, so each SELECT is its own short read transaction; query_only, because
        # every write goes through the store's writer.
        conn = sqlite3.connect(self._database, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA query_only=ON")
        register(conn)  # large records are stored compressed (record_text.py)
        return conn

    def close(self) -> None:
        """Close the kept connections and let the threads go (a later read starts anew)."""
        threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown(wait=False)
        _close_all(self._idle)


def _args(compiled: sa.Compiled, **values: Any) -> tuple[Any, ...]:
    """The positional parameters of a statement compiled for sqlite3 (``?``) or asyncpg
    (``$n``), in their order."""
    assert isinstance(compiled, SQLCompiler)
    params = compiled.construct_params(values) or {}
    return tuple(params[name] for name in compiled.positiontup or ())


class PostgresFeedReads:
    """The feed's reads on Postgres: statements built once, run on a few asyncpg connections
    of the feed's own, outside a transaction (each statement its own snapshot, which is all
    a keyset batch needs). Through the store's engine, every read cost four more round trips
    (the pool's pre-ping is BEGIN, a ping and ROLLBACK; SQLAlchemy's autobegin a BEGIN and
    ROLLBACK more), plus new connections whenever requests outnumbered the pool: the feed's
    per-request state measured ~0.45 -> ~0.1 ms, a page of 100 one-KB entities ~1.2 -> ~0.4
    ms, and bench.latency's p99 while a full sync writes 154 -> 45 ms. Without the pre-ping,
    a connection the server dropped fails its read: the read is tried once more, on another
    connection. The connections close with the store's engine.

    A batch is cut by the database: a running-size window over the batch's own rows stops
    it once the stored JSON before a row reaches the budget, so it holds less than the
    budget + one record whatever the rows' sizes, and rows past the cut never leave the
    server. octet_length reads a TOASTed value's size from its header without detoasting
    it; the window measured as fast as the plain LIMIT query."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        size = sa.func.octet_length(entities.c.data)
        before = sa.func.sum(size).over(order_by=entities.c.change_seq, rows=(None, 0)) - size
        batch = (
            sa.select(
                entities.c.change_seq,
                entities.c.entity_id,
                entities.c.deleted,
                entities.c.data,
                before.label("bytes_before"),
            )
            .where(
                entities.c.object_type == sa.bindparam("object_type"),
                entities.c.change_seq > sa.bindparam("after"),
                entities.c.change_seq <= sa.bindparam("upto"),
            )
            .order_by(entities.c.change_seq)
            .limit(sa.bindparam("rows"))
            .subquery("batch")
        )
        self._batch = (
            sa.select(batch.c.change_seq, batch.c.entity_id, batch.c.deleted, batch.c.data)
            .where(batch.c.bytes_before < sa.bindparam("budget"))
            .order_by(batch.c.change_seq)  # the subquery's order: no sort in the plan
            .compile(dialect=engine.dialect)
        )
        self._head = _head_statement().compile(dialect=engine.dialect)

    async def read_batch(
        self, object_type: str, *, after: int, upto: int, rows: int, budget: int
    ) -> tuple[int, list[bytes]]:
        """(last change_seq, entities) of one batch; (``after``, []) past the end."""
        found = await self._fetch(
            self._batch, object_type=object_type, after=after, upto=upto, rows=rows, budget=budget
        )
        return (found[-1][0], splice(found)) if found else (after, [])

    async def read_head(self, object_type: str) -> FeedHead | None:
        found = await self._fetch(self._head, object_type=object_type)
        return FeedHead(bool(found[0][0]), int(found[0][1])) if found else None

    async def _fetch(self, compiled: sa.Compiled, **values: Any) -> list[Any]:
        args = _args(compiled, **values)
        pool = await self._connections()
        try:
            async with pool.acquire() as conn:
                return list(await conn.fetch(compiled.string, *args))
        except (
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,  # a connection the server cut mid-conversation
            OSError,
        ):
            # The connection was gone (a restarted server, or one that dropped its
            # sessions): so are its siblings, most likely. New connections, and once more.
            await pool.expire_connections()
            async with pool.acquire() as conn:
                return list(await conn.fetch(compiled.string, *args))

    async def _connections(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    dsn = self.engine.url.set(drivername="postgresql")
                    self._pool = await asyncpg.create_pool(
                        dsn.render_as_string(hide_password=False),
                        min_size=0,
                        max_size=FEED_PG_CONNECTIONS,
                        **connect_args(self.engine),  # the engine's TLS and timeouts
                    )
        return self._pool

    def close(self) -> None:
        """Close the connections (a later read opens new ones). Called when the store's
        engine is disposed, from SQLAlchemy's greenlet, where the pool can close politely;
        elsewhere its connections are cut."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await_only(pool.close())
        except Exception:  # not in a greenlet, or no loop left to close it on
            pool.terminate()


def _head_statement() -> sa.Select[Any]:
    return sa.select(
        object_state.c.first_full_sync_at.is_not(None), object_state.c.last_change_seq
    ).where(object_state.c.object_type == sa.bindparam("object_type"))


def _close_all(connections: list[sqlite3.Connection]) -> None:
    while connections:
        connections.pop().close()


class FeedReader:
    def __init__(self, engine: AsyncEngine, *, batch_bytes: int = FEED_BATCH_BYTES) -> None:
        self.engine = engine
        self.batch_bytes = batch_bytes
        # Bytes per feed entity in the last batch read, per object type: sizes the next
        # batch's row count (the first batch of a pull too), so batches hold ~batch_bytes.
        self._entity_bytes: dict[str, float] = {}
        self._feed: SqliteFeedReads | PostgresFeedReads = (
            SqliteFeedReads(engine.url.database or "")
            if engine.dialect.name == "sqlite"
            else PostgresFeedReads(engine)
        )
        event.listen(engine.sync_engine, "engine_disposed", lambda _engine: self.close())

    def close(self) -> None:
        """Close the connections the feed's reads keep of their own. Runs by itself when
        the store's engine is disposed (``Store.close``)."""
        self._feed.close()

    async def since_for_time(self, object_type: str, moment: datetime, last: int) -> int:
        """The ``since`` that answers with every entity changed at or after ``moment``:
        changed in the mirror then or later, or modified in the source then or later (by
        either clock, so skew between them loses nothing). Entities numbered between those
        come too: a repeat is harmless to a since-reader, a gap is not. ``last`` when none
        changed since. A one-time query (a pipe switching over), so no index serves it."""
        moment_ms = int(moment.timestamp() * 1000)
        query = sa.select(sa.func.min(entities.c.change_seq)).where(
            entities.c.object_type == object_type,
            sa.or_(entities.c.changed_at >= moment, entities.c.source_modified_ms >= moment_ms),
        )
        async with self.engine.connect() as conn:
            first = (await conn.execute(query)).scalar_one_or_none()
        return last if first is None else int(first) - 1

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def feed_head(self, object_type: str) -> FeedHead | None:
        """The feed's per-request check, kept as cheap as a read can be: it runs on every
        pull, however small."""
        return await self._feed.read_head(object_type)

    async def last_changes(self, object_type: str, limit: int) -> list[Change]:
        """The ``limit`` latest changes of the feed, newest first (each record once: the
        mirror keeps a record's latest change, not its history)."""
        query = (
            sa.select(
                entities.c.entity_id,
                entities.c.change_seq,
                entities.c.deleted,
                entities.c.first_seen_at,
                entities.c.changed_at,
                entities.c.changed_by_run_id,
            )
            .where(entities.c.object_type == object_type)
            .order_by(entities.c.change_seq.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Change(
                id=entity_id,
                kind="deleted" if deleted else "created" if first == changed else "updated",
                updated=int(seq),
                changed_at=changed,
                run_id=run_id,
            )
            for entity_id, seq, deleted, first, changed, run_id in rows
        ]

    async def entity_details(self, object_type: str, entity_id: str) -> EntityDetails | None:
        """One record as the feed serves it, with when and by which run it last changed
        (the console's record lookup); None when the mirror has no such record."""
        query = sa.select(
            entities.c.change_seq,
            entities.c.entity_id,
            entities.c.deleted,
            entities.c.data,
            entities.c.changed_at,
            entities.c.first_seen_at,
            entities.c.changed_by_run_id,
        ).where(entities.c.object_type == object_type, entities.c.entity_id == entity_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).one_or_none()
        if row is None:
            return None
        seq, found_id, deleted, data, changed_at, first_seen_at, run_id = row
        return EntityDetails(
            entity=splice([(seq, found_id, deleted, text_of(data))])[0],
            updated=int(seq),
            deleted=bool(deleted),
            changed_at=changed_at,
            first_seen_at=first_seen_at,
            changed_by_run_id=run_id,
        )

    async def entity(self, object_type: str, entity_id: str) -> bytes | None:
        """One record as the feed serves it (``change-proxy record``), whatever form it is
        stored in; None when the mirror has no such record."""
        query = sa.select(
            entities.c.change_seq, entities.c.entity_id, entities.c.deleted, entities.c.data
        ).where(entities.c.object_type == object_type, entities.c.entity_id == entity_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).one_or_none()
        if row is None:
            return None
        seq, found_id, deleted, data = row
        return splice([(seq, found_id, deleted, text_of(data))])[0]

    async def object_status(self, object_type: str, *, counts: bool = False) -> ObjectStatus | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        object_state.c.last_change_seq,
                        object_state.c.watermark,
                        object_state.c.first_full_sync_at,
                        object_state.c.last_full_sync_at,
                        object_state.c.last_incremental_sync_at,
                        object_state.c.scan_run_id,
                        object_state.c.scan_started_at,
                    ).where(object_state.c.object_type == object_type)
                )
            ).one_or_none()
            if row is None:
                return None
            live = deleted = 0
            if counts:
                for is_deleted, n in await conn.execute(
                    sa.select(entities.c.deleted, sa.func.count())
                    .where(entities.c.object_type == object_type)
                    .group_by(entities.c.deleted)
                ):
                    if is_deleted:
                        deleted = int(n)
                    else:
                        live = int(n)
        return ObjectStatus(
            object_type=object_type,
            last_change_seq=int(row.last_change_seq),
            watermark=row.watermark,
            first_full_sync_at=row.first_full_sync_at,
            last_full_sync_at=row.last_full_sync_at,
            last_incremental_sync_at=row.last_incremental_sync_at,
            scan_run_id=row.scan_run_id,
            scan_started_at=row.scan_started_at,
            live=live,
            deleted=deleted,
        )

    def _rows_for(self, object_type: str, budget: int, cap: int, remaining: int | None) -> int:
        """Rows the next batch asks for: about ``budget`` bytes' worth at the bytes per entity
        of the last batch read of this object type (by any pull), within 1..``cap`` and what
        ``limit`` leaves. Only a guess at the row count: the budget itself is enforced while
        reading, so a wrong guess costs the database some rows, never memory."""
        per_row = self._entity_bytes.get(object_type, FEED_GUESS_ENTITY_BYTES)
        rows = max(1, min(cap, math.ceil(budget / per_row)))
        return rows if remaining is None else min(rows, remaining)

    async def feed_json(
        self,
        object_type: str,
        *,
        since: int,
        upto: int,
        limit: int | None = None,
        batch_size: int = FEED_BATCH,
        batch_bytes: int | None = None,
    ) -> AsyncGenerator[list[bytes], None]:
        """Entities with ``since < change_seq <= upto`` in ascending change order, in
        batches, each entity as the feed's JSON (UTF-8 bytes). ``upto`` pins the response to
        what existed when the request began, so a pull of everything ends even while the sync
        keeps writing. Each batch is its own short statement (keyset on change_seq) of at
        most ``batch_size`` rows, ended once it holds ``batch_bytes`` (default: the reader's)
        so it never holds more than that plus one record; the next batch is read while the
        caller sends the current one (one batch ahead at most). The caller gets each batch as
        the only reference to it, so it can free the entities once it has encoded them."""
        budget = self.batch_bytes if batch_bytes is None else batch_bytes

        async def read(after: int, n: int) -> tuple[int, list[bytes]]:
            return await self._feed.read_batch(
                object_type, after=after, upto=upto, rows=n, budget=budget
            )

        remaining = limit
        wanted = self._rows_for(object_type, budget, batch_size, remaining)
        ahead: asyncio.Future[tuple[int, list[bytes]]] | None = asyncio.ensure_future(
            read(since, wanted)
        )
        try:
            while ahead is not None:
                last, batch = await ahead
                ahead = None
                if not batch:
                    break
                size = sum(map(len, batch))
                self._entity_bytes[object_type] = size / len(batch)
                if remaining is not None:
                    remaining -= len(batch)
                # Fewer rows than asked for and under the budget: the range is exhausted. At
                # the budget the cut may have ended the batch, so read on.
                more = len(batch) == wanted or size >= budget
                if more and (remaining is None or remaining > 0):
                    wanted = self._rows_for(object_type, budget, batch_size, remaining)
                    ahead = asyncio.ensure_future(read(last, wanted))
                # Yielded from a temporary list, so this frame keeps no reference to the batch
                # while the caller sends it.
                handover = [batch]
                del batch
                yield handover.pop()
        finally:
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ahead
