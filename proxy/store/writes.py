"""The change index's write API, used by the sync layer (and by tests and benchmarks).

Every write that hands out change numbers runs in one transaction that first locks the object
type's counter row (``SELECT … FOR UPDATE`` on Postgres, ``BEGIN IMMEDIATE`` on SQLite) and
holds it until commit. So numbers are assigned in commit order, and a reader can never see
change N+1 while N is still invisible (DESIGN.md invariant 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.diff import Change, Incoming, Stored, classify
from proxy.errors import StoreError
from proxy.store.engine import (
    SQLITE_BEGIN_IMMEDIATE,
    create_engine,
    create_sqlite_writer,
    is_sqlite,
)
from proxy.store.reads import FeedReader
from proxy.store.schema import entities, object_state, sightings, sync_runs

T = TypeVar("T")

# Python's GIL switch interval while sync runs write to SQLite (see Store.busy_writer).
WRITER_SWITCH_INTERVAL_S = 0.001

# How many ids one statement names. SQLite allows 32766 bound parameters; Postgres 32767.
_ID_CHUNK = 1000
# Sightings of unchanged pages are written in batches of this many ids.
SIGHTINGS_BATCH = 2000
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


def _update_by_id(object_type: str) -> sa.Update:
    """An UPDATE of one entity per parameter set, the id bound as ``b_id`` (executemany)."""
    return entities.update().where(
        entities.c.object_type == object_type, entities.c.entity_id == sa.bindparam("b_id")
    )


class Store:
    """The mirror database. One per process; cheap to share between tasks.

    Reads go through the async engine. Every write is one function of a synchronous
    connection, run as one transaction by :meth:`_write`: on Postgres through
    ``AsyncConnection.run_sync`` (asyncpg underneath), on SQLite in a single writer thread
    with its own connection, which is SQLite's one-writer model made explicit: one thread
    hop per transaction instead of one per statement, and writers of this process queue
    instead of spinning on the busy timeout (``BEGIN IMMEDIATE`` still serialises other
    processes)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = FeedReader(engine)
        self._sqlite = is_sqlite(engine)
        self._sqlite_writer = create_sqlite_writer(engine) if self._sqlite else None
        self._writer_thread = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
            if self._sqlite
            else None
        )
        self._busy_runs = 0
        self._saved_switch_interval = sys.getswitchinterval()

    @classmethod
    def open(cls, url: str, **engine_kwargs: Any) -> Store:
        return cls(create_engine(url, **engine_kwargs))

    async def close(self) -> None:
        if self._writer_thread is not None and self._sqlite_writer is not None:
            await asyncio.get_running_loop().run_in_executor(
                self._writer_thread, self._sqlite_writer.dispose
            )
            self._writer_thread.shutdown(wait=True)
        await self.engine.dispose()

    @contextlib.contextmanager
    def busy_writer(self) -> Iterator[None]:
        """Wrap a sync run. On SQLite the writer thread needs the GIL back after every
        SQLite call while the event loop parses and fingerprints pages; at Python's default
        5 ms switch interval each handover can stall it that long. A 1 ms interval measured
        10.4k -> 14.9k contacts/s on no-change rescans (20,000 contacts) but slows the feed
        server's reads, so it applies only while runs are writing."""
        if not self._sqlite:
            yield
            return
        if self._busy_runs == 0:
            self._saved_switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._saved_switch_interval, WRITER_SWITCH_INTERVAL_S))
        self._busy_runs += 1
        try:
            yield
        finally:
            self._busy_runs -= 1
            if self._busy_runs == 0:
                sys.setswitchinterval(self._saved_switch_interval)

    # --- transactions ---------------------------------------------------------------------

    async def _write(self, fn: Callable[[sa.Connection], T]) -> T:
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

    async def _read(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn`` in a read-only transaction (on SQLite in the writer thread too: one
        thread hop, and no write lock taken)."""
        if self._sqlite_writer is None or self._writer_thread is None:
            async with self.engine.connect() as conn:
                return await conn.run_sync(fn)
        writer = self._sqlite_writer

        def in_thread() -> T:
            with writer.connect() as conn, conn.begin():
                return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self._writer_thread, in_thread)

    def _lock_sequence(self, conn: sa.Connection, object_type: str) -> _Sequence:
        """Lock the object type's counter row until commit and return its value."""
        query = sa.select(object_state.c.last_change_seq).where(
            object_state.c.object_type == object_type
        )
        if not self._sqlite:
            query = query.with_for_update()
        last = conn.execute(query).scalar_one_or_none()
        if last is None:
            raise StoreError(f"object type {object_type!r} is not registered")
        return _Sequence(last=int(last))

    def _save_sequence(self, conn: sa.Connection, object_type: str, seq: _Sequence) -> None:
        if seq.first_given is None:
            return
        conn.execute(
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
        statement = dialect_insert(object_state).on_conflict_do_nothing()
        await self._write(lambda conn: conn.execute(statement, rows))

    # --- the change index -------------------------------------------------------------------

    async def apply_page(
        self, object_type: str, records: Sequence[Incoming], run_id: int | None = None
    ) -> ApplyResult:
        """Write one page of fetched records. Creates and content changes get the next change
        numbers; unchanged records get nothing new. With ``run_id``, every record of the page
        is marked as seen by that run (the evidence a full scan's deletions rest on). The page
        is applied whole or not at all."""
        if not records:
            return ApplyResult()
        return await self._write(
            lambda conn: self._apply_page(conn, object_type, records, run_id, utcnow())
        )

    async def unchanged_page(
        self, object_type: str, records: Sequence[Incoming]
    ) -> ApplyResult | None:
        """The result of applying ``records`` if none of them would change the mirror
        (the common case of a rescan), found without taking the write lock; None when
        something would change, and :meth:`apply_page` must run. Sightings are not
        recorded here (see :meth:`record_sightings`).

        Deciding "unchanged" outside the lock is safe: if another writer changes a record
        meanwhile, skipping our older copy of it is what the locked path should do too."""
        ids = [r.entity_id for r in records]
        stored = await self._read(lambda conn: self._stored(conn, object_type, ids))
        result = ApplyResult()
        for rec in records:
            change = classify(rec, stored.get(rec.entity_id))
            if change is Change.UNCHANGED:
                result.unchanged += 1
            elif change is Change.SKIPPED:
                result.skipped += 1
            else:
                return None
        return result

    async def record_sightings(self, object_type: str, run_id: int, ids: list[str]) -> None:
        """Record that run ``run_id`` fetched these ids (the evidence full scans rest on)."""
        if ids:
            await self._write(lambda conn: self._record_sightings(conn, object_type, run_id, ids))

    def _apply_page(
        self,
        conn: sa.Connection,
        object_type: str,
        records: Sequence[Incoming],
        run_id: int | None,
        now: datetime,
    ) -> ApplyResult:
        result = ApplyResult()
        seq = self._lock_sequence(conn, object_type)
        stored = self._stored(conn, object_type, [r.entity_id for r in records])
        inserts: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
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
                        "changed_by_run_id": run_id,
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
                        "changed_by_run_id": run_id,
                    }
                )
            elif change is Change.UNCHANGED:
                result.unchanged += 1
            else:
                result.skipped += 1
        if inserts:
            conn.execute(entities.insert(), inserts)
        if changes:
            conn.execute(
                _update_by_id(object_type).values(
                    change_seq=sa.bindparam("change_seq"),
                    fingerprint=sa.bindparam("fingerprint"),
                    deleted=sa.bindparam("deleted"),
                    data=sa.bindparam("data"),
                    changed_at=sa.bindparam("changed_at"),
                    changed_by_run_id=sa.bindparam("changed_by_run_id"),
                ),
                changes,
            )
        if run_id is not None:
            self._record_sightings(conn, object_type, run_id, [r.entity_id for r in records])
        self._save_sequence(conn, object_type, seq)
        if seq.first_given is not None:
            result.first_seq, result.last_seq = seq.first_given, seq.last
        return result

    async def mark_deleted(
        self, object_type: str, entity_ids: Iterable[str], run_id: int | None = None
    ) -> ApplyResult:
        """Tombstone the named ids that are live in the mirror (merge evidence). Each gets a
        new change number and keeps its last known data; unknown or already deleted ids are
        left alone."""
        result = ApplyResult()
        ids = sorted(set(entity_ids))
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start : start + _ID_CHUNK]
            tombstone = partial(
                self._tombstone, object_type=object_type, ids=chunk, now=utcnow(), run_id=run_id
            )
            result.add(await self._write(tombstone))
        return result

    def _record_sightings(
        self, conn: sa.Connection, object_type: str, run_id: int, ids: list[str]
    ) -> None:
        dialect_insert = sqlite.insert if self._sqlite else postgresql.insert
        statement = dialect_insert(sightings)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[sightings.c.object_type, sightings.c.entity_id],
                set_={"last_seen_run_id": statement.excluded.last_seen_run_id},
            ),
            [{"object_type": object_type, "entity_id": i, "last_seen_run_id": run_id} for i in ids],
        )

    def _tombstone(
        self,
        conn: sa.Connection,
        object_type: str,
        ids: Sequence[str],
        now: datetime,
        run_id: int | None = None,
    ) -> ApplyResult:
        result = ApplyResult()
        seq = self._lock_sequence(conn, object_type)
        live = (
            conn.execute(
                sa.select(entities.c.entity_id)
                .where(
                    entities.c.object_type == object_type,
                    entities.c.entity_id.in_(ids),
                    entities.c.deleted.is_(False),
                )
                .order_by(entities.c.entity_id)
            )
            .scalars()
            .all()
        )
        if live:
            conn.execute(
                _update_by_id(object_type).values(
                    change_seq=sa.bindparam("change_seq"),
                    deleted=True,
                    changed_at=now,
                    changed_by_run_id=run_id,
                ),
                [{"b_id": entity_id, "change_seq": seq.next()} for entity_id in live],
            )
            self._save_sequence(conn, object_type, seq)
        result.deleted = len(live)
        if seq.first_given is not None:
            result.first_seq, result.last_seq = seq.first_given, seq.last
        return result

    async def complete_full_scan(self, object_type: str, run_id: int) -> ApplyResult:
        """Call only after a full scan fetched every page. Tombstones every live entity that
        the scan did not see, then records that the object type's mirror is complete.

        Entities last seen by a *later* run (a higher run id) are left alone, so a run of
        another process that wrote meanwhile cannot lose records to this scan."""
        seen = sa.select(sightings.c.entity_id).where(
            sightings.c.object_type == object_type,
            sightings.c.entity_id == entities.c.entity_id,
            sightings.c.last_seen_run_id >= run_id,
        )
        unseen = (
            sa.select(entities.c.entity_id)
            .where(
                entities.c.object_type == object_type,
                entities.c.deleted.is_(False),
                ~seen.exists(),
            )
            .order_by(entities.c.entity_id)
            .limit(_ID_CHUNK)
        )

        def tombstone_batch(conn: sa.Connection) -> ApplyResult:
            ids = conn.execute(unseen).scalars().all()
            if not ids:
                return ApplyResult()
            return self._tombstone(conn, object_type, ids, utcnow(), run_id)

        result = ApplyResult()
        while True:  # batches keep each transaction short; any prefix of them is valid
            batch = await self._write(tombstone_batch)
            result.add(batch)
            if batch.deleted == 0:
                break

        def mark_complete(conn: sa.Connection) -> None:
            now = utcnow()
            conn.execute(
                object_state.update()
                .where(object_state.c.object_type == object_type)
                .values(
                    first_full_sync_at=sa.func.coalesce(object_state.c.first_full_sync_at, now),
                    last_full_sync_at=now,
                )
            )

        await self._write(mark_complete)
        return result

    async def _update_state(self, object_type: str, **values: Any) -> None:
        statement = (
            object_state.update().where(object_state.c.object_type == object_type).values(**values)
        )
        await self._write(lambda conn: conn.execute(statement))

    async def set_watermark(self, object_type: str, watermark: datetime) -> None:
        await self._update_state(object_type, watermark=watermark)

    async def mark_incremental_done(self, object_type: str, at: datetime) -> None:
        await self._update_state(object_type, last_incremental_sync_at=at)

    def _stored(self, conn: sa.Connection, object_type: str, ids: list[str]) -> dict[str, Stored]:
        out: dict[str, Stored] = {}
        for start in range(0, len(ids), _ID_CHUNK):
            rows = conn.execute(
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
        statement = (
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
        return await self._write(lambda conn: int(conn.execute(statement).scalar_one()))

    async def _update_run(self, run_id: int, **values: Any) -> int:
        statement = sync_runs.update().where(sync_runs.c.id == run_id).values(**values)
        return await self._write(lambda conn: conn.execute(statement).rowcount)

    async def start_run(self, run_id: int) -> None:
        await self._update_run(run_id, status="running", started_at=utcnow())

    async def set_run_mode(self, run_id: int, mode: str) -> None:
        await self._update_run(run_id, mode=mode)

    async def save_run_progress(self, run_id: int, counts: RunCounts) -> None:
        await self._update_run(run_id, **vars(counts))

    async def finish_run(self, run_id: int, counts: RunCounts, *, error: str | None = None) -> None:
        await self._update_run(
            run_id,
            status="failed" if error is not None else "succeeded",
            finished_at=utcnow(),
            error=error,
            **vars(counts),
        )

    async def fail_unfinished_runs(self, reason: str) -> int:
        """Runs left queued or running by a process that stopped can never finish: mark them
        failed so status pages tell the truth."""
        statement = (
            sync_runs.update()
            .where(sync_runs.c.status.in_(("queued", "running")))
            .values(status="failed", finished_at=utcnow(), error=reason)
        )
        return await self._write(lambda conn: int(conn.execute(statement).rowcount))

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
        self._unrecorded_sightings: list[str] = []

    async def apply_page(self, records: Sequence[Incoming]) -> ApplyResult:
        """Apply a page. A page that changes nothing (most of a rescan) takes no write
        lock: its sightings are buffered and written in bulk, at the latest before the
        scan completes or the run finishes."""
        result = await self.store.unchanged_page(self.object_type, records)
        if result is None:
            result = await self.store.apply_page(self.object_type, records, self.run_id)
        else:
            self._unrecorded_sightings.extend(r.entity_id for r in records)
            if len(self._unrecorded_sightings) >= SIGHTINGS_BATCH:
                await self.flush_sightings()
        self.counts.fetched += len(records)
        self.counts.add_result(result)
        self._pages += 1
        if self._pages in REFRESH_STATISTICS_AT_PAGES:
            await self.store.refresh_statistics()
        if self._pages % PROGRESS_EVERY_PAGES == 0:  # so /admin/runs/{id} shows a long run move
            await self.store.save_run_progress(self.run_id, self.counts)
        return result

    async def mark_deleted(self, entity_ids: Iterable[str]) -> ApplyResult:
        result = await self.store.mark_deleted(self.object_type, entity_ids, self.run_id)
        self.counts.add_result(result)
        return result

    async def flush_sightings(self) -> None:
        ids, self._unrecorded_sightings = self._unrecorded_sightings, []
        await self.store.record_sightings(self.object_type, self.run_id, ids)

    async def complete_full_scan(self) -> ApplyResult:
        await self.flush_sightings()  # the deletions below rest on every sighting
        result = await self.store.complete_full_scan(self.object_type, self.run_id)
        self.counts.add_result(result)
        return result

    async def finish(self, error: str | None = None) -> None:
        if error is None:
            await self.flush_sightings()
        await self.store.finish_run(self.run_id, self.counts, error=error)
