"""The change index's write API, used by the sync layer (and by tests and benchmarks).

Every write that hands out change numbers runs in one transaction that first locks the object
type's counter row (``SELECT … FOR UPDATE`` on Postgres, ``BEGIN IMMEDIATE`` on SQLite) and
holds it until commit. So numbers are assigned in commit order, and a reader can never see
change N+1 while N is still invisible (DESIGN.md invariant 1).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from proxy.diff import Change, Incoming, Stored, classify
from proxy.errors import StoreError
from proxy.store.engine import SQLITE_BEGIN_IMMEDIATE, create_engine, is_sqlite
from proxy.store.reads import FeedReader
from proxy.store.schema import entities, object_state, sync_runs

# How many ids one statement names. SQLite allows 32766 bound parameters; Postgres 32767.
_ID_CHUNK = 1000
# A run's counters are saved this often while it runs, not only at its end.
PROGRESS_EVERY_PAGES = 20
# While a first sync grows the table from nothing, Postgres plans with statistics of an
# empty table (and picks the wrong index, ~25x slower) until autovacuum catches up; a run
# refreshes them itself after this many pages.
REFRESH_STATISTICS_AT_PAGES = frozenset({10, 100, 1000})


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ApplyResult:
    """What one write did to the change index."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: int = 0  # archived upstream, never mirrored: nothing to tell anyone
    first_seq: int | None = None  # first change number handed out, if any
    last_seq: int | None = None

    def add(self, other: ApplyResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.deleted += other.deleted
        self.unchanged += other.unchanged
        self.skipped += other.skipped
        if other.first_seq is not None and self.first_seq is None:
            self.first_seq = other.first_seq
        if other.last_seq is not None:
            self.last_seq = other.last_seq

    @property
    def changes(self) -> int:
        return self.created + self.updated + self.deleted


@dataclass
class RunCounts:
    """Counters kept on a sync run's row."""

    fetched: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    requests: int = 0

    def add_result(self, result: ApplyResult) -> None:
        self.created += result.created
        self.updated += result.updated
        self.deleted += result.deleted
        self.unchanged += result.unchanged + result.skipped


@dataclass
class _Sequence:
    """Change numbers handed out inside one locked transaction."""

    last: int
    first_given: int | None = field(default=None)

    def next(self) -> int:
        self.last += 1
        if self.first_given is None:
            self.first_given = self.last
        return self.last


class Store:
    """The mirror database. One per process; cheap to share between tasks."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = FeedReader(engine)
        self._sqlite = is_sqlite(engine)
        # SQLite has one writer per database; queueing writers of this process here avoids
        # spinning on the busy timeout. BEGIN IMMEDIATE still serialises other processes.
        self._sqlite_writer = asyncio.Lock() if self._sqlite else None

    @classmethod
    def open(cls, url: str, **engine_kwargs: Any) -> Store:
        return cls(create_engine(url, **engine_kwargs))

    async def close(self) -> None:
        await self.engine.dispose()

    # --- transactions ---------------------------------------------------------------------

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: commits on success, rolls back on any exception."""
        if self._sqlite_writer is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._sqlite_writer, self.engine.connect() as conn:
            conn = await conn.execution_options(**{SQLITE_BEGIN_IMMEDIATE: True})
            async with conn.begin():
                yield conn

    async def _lock_sequence(self, conn: AsyncConnection, object_type: str) -> _Sequence:
        """Lock the object type's counter row until commit and return its value."""
        query = sa.select(object_state.c.last_change_seq).where(
            object_state.c.object_type == object_type
        )
        if not self._sqlite:
            query = query.with_for_update()
        last = (await conn.execute(query)).scalar_one_or_none()
        if last is None:
            raise StoreError(f"object type {object_type!r} is not registered")
        return _Sequence(last=int(last))

    async def _save_sequence(self, conn: AsyncConnection, object_type: str, seq: _Sequence) -> None:
        if seq.first_given is None:
            return
        await conn.execute(
            object_state.update()
            .where(object_state.c.object_type == object_type)
            .values(last_change_seq=seq.last)
        )

    async def refresh_statistics(self) -> None:
        """Let the query planner see the table as it is now (Postgres only: SQLite's planner
        uses the primary key without statistics)."""
        if self._sqlite:
            return
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("ANALYZE entities"))
            await conn.commit()

    # --- object types -----------------------------------------------------------------------

    async def register_object_types(self, object_types: Iterable[str]) -> None:
        """Make sure each object type has its state row (idempotent, safe when two processes
        start at once)."""
        rows = [{"object_type": t} for t in object_types]
        if not rows:
            return
        dialect_insert = sqlite.insert if self._sqlite else postgresql.insert
        async with self.write() as conn:
            await conn.execute(dialect_insert(object_state).on_conflict_do_nothing(), rows)

    # --- the change index -------------------------------------------------------------------

    async def apply_page(
        self, object_type: str, records: Sequence[Incoming], run_id: int | None = None
    ) -> ApplyResult:
        """Write one page of fetched records. Creates and content changes get the next change
        numbers; unchanged records get nothing new. With ``run_id``, every record of the page
        is marked as seen by that run (the evidence a full scan's deletions rest on). The page
        is applied whole or not at all."""
        result = ApplyResult()
        if not records:
            return result
        now = utcnow()
        async with self.write() as conn:
            seq = await self._lock_sequence(conn, object_type)
            stored = await self._stored(conn, object_type, [r.entity_id for r in records])
            inserts: list[dict[str, Any]] = []
            changes: list[dict[str, Any]] = []
            seen_only: list[str] = []
            for rec in records:
                change = classify(rec, stored.get(rec.entity_id))
                if change is Change.CREATED:
                    result.created += 1
                    inserts.append(
                        {
                            "object_type": object_type,
                            "entity_id": rec.entity_id,
                            "change_seq": seq.next(),
                            "fingerprint": rec.fingerprint,
                            "deleted": False,
                            "data": rec.data,
                            "first_seen_at": now,
                            "changed_at": now,
                            "last_seen_run_id": run_id,
                        }
                    )
                elif change in (Change.UPDATED, Change.DELETED):
                    if change is Change.UPDATED:
                        result.updated += 1
                    else:
                        result.deleted += 1
                    changes.append(
                        {
                            "b_id": rec.entity_id,
                            "change_seq": seq.next(),
                            "fingerprint": rec.fingerprint,
                            "deleted": rec.deleted,
                            "data": rec.data,
                            "changed_at": now,
                            "last_seen_run_id": run_id,
                        }
                    )
                elif change is Change.UNCHANGED:
                    result.unchanged += 1
                    seen_only.append(rec.entity_id)
                else:
                    result.skipped += 1
            if inserts:
                await conn.execute(entities.insert(), inserts)
            if changes:
                await conn.execute(
                    entities.update()
                    .where(
                        entities.c.object_type == object_type,
                        entities.c.entity_id == sa.bindparam("b_id"),
                    )
                    .values(
                        change_seq=sa.bindparam("change_seq"),
                        fingerprint=sa.bindparam("fingerprint"),
                        deleted=sa.bindparam("deleted"),
                        data=sa.bindparam("data"),
                        changed_at=sa.bindparam("changed_at"),
                        last_seen_run_id=sa.bindparam("last_seen_run_id"),
                    ),
                    changes,
                )
            if run_id is not None and seen_only:
                await conn.execute(
                    entities.update()
                    .where(
                        entities.c.object_type == object_type,
                        entities.c.entity_id.in_(seen_only),
                    )
                    .values(last_seen_run_id=run_id)
                )
            await self._save_sequence(conn, object_type, seq)
        if seq.first_given is not None:
            result.first_seq, result.last_seq = seq.first_given, seq.last
        return result

    async def mark_deleted(self, object_type: str, entity_ids: Iterable[str]) -> ApplyResult:
        """Tombstone the named ids that are live in the mirror (merge evidence). Each gets a
        new change number and keeps its last known data; unknown or already deleted ids are
        left alone."""
        result = ApplyResult()
        ids = sorted(set(entity_ids))
        for start in range(0, len(ids), _ID_CHUNK):
            result.add(await self._tombstone(object_type, ids[start : start + _ID_CHUNK]))
        return result

    async def _tombstone(self, object_type: str, ids: Sequence[str]) -> ApplyResult:
        result = ApplyResult()
        now = utcnow()
        async with self.write() as conn:
            seq = await self._lock_sequence(conn, object_type)
            live = (
                (
                    await conn.execute(
                        sa.select(entities.c.entity_id)
                        .where(
                            entities.c.object_type == object_type,
                            entities.c.entity_id.in_(ids),
                            entities.c.deleted.is_(False),
                        )
                        .order_by(entities.c.entity_id)
                    )
                )
                .scalars()
                .all()
            )
            if live:
                await conn.execute(
                    entities.update()
                    .where(
                        entities.c.object_type == object_type,
                        entities.c.entity_id == sa.bindparam("b_id"),
                    )
                    .values(
                        change_seq=sa.bindparam("change_seq"),
                        deleted=True,
                        changed_at=now,
                    ),
                    [{"b_id": entity_id, "change_seq": seq.next()} for entity_id in live],
                )
                await self._save_sequence(conn, object_type, seq)
        result.deleted = len(live)
        if seq.first_given is not None:
            result.first_seq, result.last_seq = seq.first_given, seq.last
        return result

    async def complete_full_scan(self, object_type: str, run_id: int) -> ApplyResult:
        """Call only after a full scan fetched every page. Tombstones every live entity that
        the scan did not see, then records that the object type's mirror is complete.

        Entities last seen by a *later* run (a higher run id) are left alone, so a run of
        another process that wrote meanwhile cannot lose records to this scan."""
        result = ApplyResult()
        while True:
            async with self.engine.connect() as conn:
                ids = (
                    (
                        await conn.execute(
                            sa.select(entities.c.entity_id)
                            .where(
                                entities.c.object_type == object_type,
                                entities.c.deleted.is_(False),
                                sa.or_(
                                    entities.c.last_seen_run_id.is_(None),
                                    entities.c.last_seen_run_id < run_id,
                                ),
                            )
                            .order_by(entities.c.entity_id)
                            .limit(_ID_CHUNK)
                        )
                    )
                    .scalars()
                    .all()
                )
            if not ids:
                break
            batch = await self._tombstone(object_type, ids)
            result.add(batch)
            if batch.deleted == 0:  # pragma: no cover - only if another writer raced us
                break
        now = utcnow()
        async with self.write() as conn:
            await conn.execute(
                object_state.update()
                .where(object_state.c.object_type == object_type)
                .values(
                    first_full_sync_at=sa.func.coalesce(object_state.c.first_full_sync_at, now),
                    last_full_sync_at=now,
                )
            )
        return result

    async def set_watermark(self, object_type: str, watermark: datetime) -> None:
        async with self.write() as conn:
            await conn.execute(
                object_state.update()
                .where(object_state.c.object_type == object_type)
                .values(watermark=watermark)
            )

    async def mark_incremental_done(self, object_type: str, at: datetime) -> None:
        async with self.write() as conn:
            await conn.execute(
                object_state.update()
                .where(object_state.c.object_type == object_type)
                .values(last_incremental_sync_at=at)
            )

    async def _stored(
        self, conn: AsyncConnection, object_type: str, ids: list[str]
    ) -> dict[str, Stored]:
        out: dict[str, Stored] = {}
        for start in range(0, len(ids), _ID_CHUNK):
            rows = await conn.execute(
                sa.select(entities.c.entity_id, entities.c.fingerprint, entities.c.deleted).where(
                    entities.c.object_type == object_type,
                    entities.c.entity_id.in_(ids[start : start + _ID_CHUNK]),
                )
            )
            for entity_id, fingerprint, deleted in rows:
                out[entity_id] = Stored(fingerprint=fingerprint, deleted=bool(deleted))
        return out

    # --- sync runs ----------------------------------------------------------------------------

    async def queue_run(self, object_type: str, mode: str, trigger: str) -> int:
        async with self.write() as conn:
            result = await conn.execute(
                sync_runs.insert()
                .values(
                    object_type=object_type,
                    mode=mode,
                    status="queued",
                    trigger=trigger,
                    queued_at=utcnow(),
                )
                .returning(sync_runs.c.id)
            )
            return int(result.scalar_one())

    async def start_run(self, run_id: int) -> None:
        async with self.write() as conn:
            await conn.execute(
                sync_runs.update()
                .where(sync_runs.c.id == run_id)
                .values(status="running", started_at=utcnow())
            )

    async def set_run_mode(self, run_id: int, mode: str) -> None:
        async with self.write() as conn:
            await conn.execute(sync_runs.update().where(sync_runs.c.id == run_id).values(mode=mode))

    async def save_run_progress(self, run_id: int, counts: RunCounts) -> None:
        async with self.write() as conn:
            await conn.execute(
                sync_runs.update().where(sync_runs.c.id == run_id).values(**vars(counts))
            )

    async def finish_run(self, run_id: int, counts: RunCounts, *, error: str | None = None) -> None:
        async with self.write() as conn:
            await conn.execute(
                sync_runs.update()
                .where(sync_runs.c.id == run_id)
                .values(
                    status="failed" if error is not None else "succeeded",
                    finished_at=utcnow(),
                    error=error,
                    **vars(counts),
                )
            )

    async def fail_unfinished_runs(self, reason: str) -> int:
        """Runs left queued or running by a process that stopped can never finish: mark them
        failed so status pages tell the truth."""
        async with self.write() as conn:
            result = await conn.execute(
                sync_runs.update()
                .where(sync_runs.c.status.in_(("queued", "running")))
                .values(status="failed", finished_at=utcnow(), error=reason)
            )
            return int(result.rowcount)

    async def begin_scan(
        self, object_type: str, mode: str = "full", trigger: str = "cli"
    ) -> ScanWriter:
        """Start a run and return the writer that applies its pages."""
        run_id = await self.queue_run(object_type, mode, trigger)
        await self.start_run(run_id)
        return ScanWriter(self, object_type, run_id)


class ScanWriter:
    """The write side of one sync run: apply pages, tombstone ids, complete a full scan.
    Counts what it did, for the run record."""

    def __init__(self, store: Store, object_type: str, run_id: int) -> None:
        self.store = store
        self.object_type = object_type
        self.run_id = run_id
        self.counts = RunCounts()
        self._pages = 0

    async def apply_page(self, records: Sequence[Incoming]) -> ApplyResult:
        result = await self.store.apply_page(self.object_type, records, self.run_id)
        self.counts.fetched += len(records)
        self.counts.add_result(result)
        self._pages += 1
        if self._pages in REFRESH_STATISTICS_AT_PAGES:
            await self.store.refresh_statistics()
        if self._pages % PROGRESS_EVERY_PAGES == 0:  # so /admin/runs/{id} shows a long run move
            await self.store.save_run_progress(self.run_id, self.counts)
        return result

    async def mark_deleted(self, entity_ids: Iterable[str]) -> ApplyResult:
        result = await self.store.mark_deleted(self.object_type, entity_ids)
        self.counts.add_result(result)
        return result

    async def complete_full_scan(self) -> ApplyResult:
        result = await self.store.complete_full_scan(self.object_type, self.run_id)
        self.counts.add_result(result)
        return result

    async def finish(self, error: str | None = None) -> None:
        await self.store.finish_run(self.run_id, self.counts, error=error)
