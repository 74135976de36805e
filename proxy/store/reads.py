"""Reads: the feed's keyset scan and object state."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.store.schema import entities, object_state

# Rows fetched per feed query. Each batch is its own short statement (keyset on change_seq),
# so a slow client never holds a read transaction open and writers are never blocked.
# 5,000 (~5 MB of JSON) measured 85k -> 107k entities/s over 2,000 on SQLite; the server's
# peak RSS grows by ~18 MB for it (two batches in memory: one sent, one read ahead).
FEED_BATCH = 5000


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


class FeedReader:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

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

    def _entity_json(self) -> sa.ColumnElement[bytes]:
        """The feed entity as JSON text, built by SQLite: ``{"_id":…,"_updated":…,
        "_deleted":…,`` spliced onto the stored object. Doing it in SQL keeps per-row Python
        work out of the feed's hot loop (on Postgres, :func:`splice` in Python is faster:
        measured 130k vs 100k entities/s)."""
        quoted_id = sa.func.json_quote(entities.c.entity_id)
        head = (
            sa.literal('{"_id":')
            + quoted_id
            + sa.literal(',"_updated":')
            + sa.cast(entities.c.change_seq, sa.Text)
            + sa.literal(',"_deleted":')
            + sa.case((entities.c.deleted, sa.literal("true")), else_=sa.literal("false"))
        )
        # The stored object minus its opening brace; "{}" alone would leave a dangling comma.
        tail = sa.case(
            (entities.c.data == "{}", sa.literal("}")),
            else_=sa.literal(",") + sa.func.substr(entities.c.data, 2),
        )
        # As a BLOB, the row arrives as the UTF-8 bytes that go on the wire: no decode into a
        # str and re-encode per batch (measured 1.4 s -> ~1.0 s per 100,000-entity pull).
        return sa.cast(head + tail, sa.LargeBinary).label("entity")

    async def feed_json(
        self,
        object_type: str,
        *,
        since: int,
        upto: int,
        limit: int | None = None,
        batch_size: int = FEED_BATCH,
    ) -> AsyncGenerator[list[bytes], None]:
        """Entities with ``since < change_seq <= upto`` in ascending change order, in
        batches, each entity as the feed's JSON (UTF-8 bytes). ``upto`` pins the response to what
        existed when the request began, so a pull of everything ends even while the sync
        keeps writing. Each batch is its own short statement (keyset on change_seq), and the
        next one is read while the caller sends the current one (one batch ahead at most)."""
        if self.engine.dialect.name == "sqlite":
            columns: tuple[sa.ColumnElement[Any], ...] = (
                entities.c.change_seq,
                self._entity_json(),
            )
        else:
            columns = (
                entities.c.change_seq,
                entities.c.entity_id,
                entities.c.deleted,
                entities.c.data,
            )

        async def read(after: int, n: int) -> list[Any]:
            async with self.engine.connect() as conn:
                result = await conn.execute(
                    sa.select(*columns)
                    .where(
                        entities.c.object_type == object_type,
                        entities.c.change_seq > after,
                        entities.c.change_seq <= upto,
                    )
                    .order_by(entities.c.change_seq)
                    .limit(n)
                )
                return list(result.all())

        remaining = limit
        wanted = batch_size if remaining is None else min(batch_size, remaining)
        ahead: asyncio.Task[list[Any]] | None = asyncio.ensure_future(read(since, wanted))
        try:
            while ahead is not None:
                rows = await ahead
                ahead = None
                if remaining is not None:
                    remaining -= len(rows)
                if len(rows) == wanted and (remaining is None or remaining > 0):
                    wanted = batch_size if remaining is None else min(batch_size, remaining)
                    ahead = asyncio.ensure_future(read(rows[-1][0], wanted))
                if rows:
                    yield [row[1] for row in rows] if len(columns) == 2 else splice(rows)
        finally:
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ahead
