"""The run log: sync runs queued, claimed, alive, and finished.

Runs are queued in the database, so a run requested on any process is executed by whichever
process holds the object type's lease. At most one run per object type and mode waits at a
time (a unique index over queued runs makes the check and the insert one atomic step). A
running run names its owner and keeps a heartbeat; one whose heartbeat went stale was
abandoned by a process that died, and is recorded as interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa

from proxy.store.database import Database, utcnow
from proxy.store.schema import held_deletions, object_state, sync_runs

QUEUED, RUNNING, SUCCEEDED, FAILED, INTERRUPTED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "interrupted",
)
FINISHED = (SUCCEEDED, FAILED, INTERRUPTED)
# Run ids RunLog.prune looks at per transaction: SQLite's write lock is let go between
# them, so syncs and the feed's writers are never held up for long.
PRUNE_BATCH = 5000


@dataclass(frozen=True)
class RunRecord:
    id: int
    object_type: str
    mode: str
    status: str
    trigger: str
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    fetched: int
    created: int
    updated: int
    deleted: int
    unchanged: int
    requests: int
    error: str | None
    owner: str | None
    heartbeat_at: datetime | None
    scan_run_id: int | None
    held: int


@dataclass
class RunCounts:
    """Counters kept on a sync run's row."""

    fetched: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    requests: int = 0
    held: int = 0


def _record(row: Any) -> RunRecord:
    return RunRecord(**row._asdict())


class RunLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- queue ------------------------------------------------------------------------------

    async def request(self, object_type: str, mode: str, trigger: str) -> int:
        """Queue a run, or return the one of this object type and mode already waiting."""

        def queue(conn: sa.Connection) -> int | None:
            inserted = conn.execute(
                self.db.insert(sync_runs)
                .values(
                    object_type=object_type,
                    mode=mode,
                    status=QUEUED,
                    trigger=trigger,
                    queued_at=utcnow(),
                )
                .on_conflict_do_nothing()
                .returning(sync_runs.c.id)
            ).scalar_one_or_none()
            if inserted is not None:
                return int(inserted)
            waiting = conn.execute(
                sa.select(sync_runs.c.id).where(
                    sync_runs.c.object_type == object_type,
                    sync_runs.c.mode == mode,
                    sync_runs.c.status == QUEUED,
                )
            ).scalar_one_or_none()
            return int(waiting) if waiting is not None else None

        while True:  # the waiting run may be claimed between our insert and our select
            run_id = await self.db.write(queue)
            if run_id is not None:
                return run_id

    async def claim_next(self, object_type: str, owner: str) -> RunRecord | None:
        """Take the oldest queued run of the object type and mark it running by ``owner``.
        (Looked for first without the write lock: the holder asks every second, and on
        SQLite a write transaction would take the database's one write lock each time.)"""
        oldest = (
            sa.select(sync_runs.c.id)
            .where(sync_runs.c.object_type == object_type, sync_runs.c.status == QUEUED)
            .order_by(sync_runs.c.id)
            .limit(1)
        )
        if await self.db.read(lambda conn: conn.execute(oldest).scalar_one_or_none()) is None:
            return None

        def claim(conn: sa.Connection) -> RunRecord | None:
            run_id = conn.execute(oldest).scalar_one_or_none()
            if run_id is None:
                return None
            now = self.db.now(conn)
            taken = conn.execute(
                sync_runs.update()
                .where(sync_runs.c.id == run_id, sync_runs.c.status == QUEUED)
                .values(status=RUNNING, owner=owner, started_at=now, heartbeat_at=now)
            ).rowcount
            if not taken:
                return None
            return _record(conn.execute(sa.select(sync_runs).where(sync_runs.c.id == run_id)).one())

        return await self.db.write(claim)

    async def start(self, object_type: str, mode: str, trigger: str, owner: str | None) -> int:
        """Record a run that starts at once (the foreground ``change-proxy sync``)."""

        def insert(conn: sa.Connection) -> int:
            now = self.db.now(conn)
            statement = (
                sync_runs.insert()
                .values(
                    object_type=object_type,
                    mode=mode,
                    status=RUNNING,
                    trigger=trigger,
                    queued_at=now,
                    started_at=now,
                    owner=owner,
                    heartbeat_at=now,
                )
                .returning(sync_runs.c.id)
            )
            return int(conn.execute(statement).scalar_one())

        return await self.db.write(insert)

    # --- a running run ------------------------------------------------------------------------

    async def _update(self, run_id: int, **values: Any) -> None:
        statement = sync_runs.update().where(sync_runs.c.id == run_id).values(**values)
        await self.db.write(lambda conn: conn.execute(statement))

    async def heartbeat(self, run_id: int) -> None:
        def beat(conn: sa.Connection) -> None:
            conn.execute(
                sync_runs.update()
                .where(sync_runs.c.id == run_id, sync_runs.c.status == RUNNING)
                .values(heartbeat_at=self.db.now(conn))
            )

        await self.db.write(beat)

    async def set_mode(self, run_id: int, mode: str) -> None:
        await self._update(run_id, mode=mode)

    async def set_scan(self, run_id: int, scan_id: int) -> None:
        await self._update(run_id, scan_run_id=scan_id)

    async def save_progress(self, run_id: int, counts: RunCounts) -> None:
        await self._update(run_id, **vars(counts))

    async def finish(
        self, run_id: int, counts: RunCounts, *, status: str, error: str | None = None
    ) -> None:
        assert status in FINISHED
        await self._update(run_id, status=status, finished_at=utcnow(), error=error, **vars(counts))

    async def interrupt_abandoned(self, stale_after: timedelta) -> int:
        """Record runs whose owner stopped beating (it died, or lost the database for longer
        than a lease) as interrupted. Runs of live processes are left alone."""

        def interrupt(conn: sa.Connection) -> int:
            cutoff = self.db.now(conn) - stale_after
            stale = sa.or_(sync_runs.c.heartbeat_at.is_(None), sync_runs.c.heartbeat_at < cutoff)
            return self._interrupt(conn, stale, "its process stopped beating (killed, or "
                                   "cut off from the database)")  # fmt: skip

        return await self.db.write(interrupt)

    async def interrupt_others(self, object_type: str, owner: str) -> int:
        """Called by a new lease holder: any run of the object type still marked running by
        another process can no longer write (the lease fences it), so it is over."""

        def interrupt(conn: sa.Connection) -> int:
            others = sa.and_(
                sync_runs.c.object_type == object_type,
                sa.or_(sync_runs.c.owner.is_(None), sync_runs.c.owner != owner),
            )
            return self._interrupt(conn, others, "its process lost the lease (it died or stalled)")

        return await self.db.write(interrupt)

    def _interrupt(self, conn: sa.Connection, which: sa.ColumnElement[bool], why: str) -> int:
        statement = (
            sync_runs.update()
            .where(sync_runs.c.status == RUNNING, which)
            .values(status=INTERRUPTED, finished_at=utcnow(), error=f"interrupted: {why}")
        )
        return int(conn.execute(statement).rowcount)

    # --- reads --------------------------------------------------------------------------------

    async def _one(self, query: sa.Select[Any]) -> RunRecord | None:
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).one_or_none()
        return _record(row) if row is not None else None

    async def get(self, run_id: int) -> RunRecord | None:
        return await self._one(sa.select(sync_runs).where(sync_runs.c.id == run_id))

    async def recent(self, *, object_type: str | None = None, limit: int = 50) -> list[RunRecord]:
        query = sa.select(sync_runs).order_by(sync_runs.c.id.desc()).limit(limit)
        if object_type is not None:
            query = query.where(sync_runs.c.object_type == object_type)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_record(row) for row in rows]

    async def last(
        self, object_type: str, *, mode: str | None = None, status: str | None = SUCCEEDED
    ) -> RunRecord | None:
        query = (
            sa.select(sync_runs)
            .where(sync_runs.c.object_type == object_type)
            .order_by(sync_runs.c.id.desc())
            .limit(1)
        )
        if mode is not None:
            query = query.where(sync_runs.c.mode == mode)
        if status is not None:
            query = query.where(sync_runs.c.status == status)
        return await self._one(query)

    async def waiting(self, object_type: str) -> list[RunRecord]:
        """The object type's queued and running runs, oldest first."""
        # Sorted here, not by the database: asked to order by id, SQLite's planner walks
        # the (object_type, id) index through every run the type ever had rather than seek
        # the few waiting ones by (object_type, status, id); there are a handful at most.
        query = sa.select(sync_runs).where(
            sync_runs.c.object_type == object_type,
            sync_runs.c.status.in_((QUEUED, RUNNING)),
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return sorted((_record(row) for row in rows), key=lambda run: run.id)

    # --- retention ----------------------------------------------------------------------------

    async def prune(self, older_than: timedelta, *, batch: int = PRUNE_BATCH) -> int:
        """Delete the runs that finished more than ``older_than`` ago, ``batch`` ids per
        transaction, and how many. Kept whatever their age: the last successful run of
        each object type and mode (health and status read them), the run that began a
        scan still in progress and the runs that carried it on, and runs whose deletions
        are held for an operator."""
        # The newest success of each object type and mode, found once: a run that succeeds
        # meanwhile is newer than any cutoff. (Asked per row instead, as a correlated
        # EXISTS, Postgres walked the table for each: 1 s per 5,000 runs.)
        last_successes = (
            sa.select(sa.func.max(sync_runs.c.id))
            .where(sync_runs.c.status == SUCCEEDED)
            .group_by(sync_runs.c.object_type, sync_runs.c.mode)
        )
        keep = await self.db.read(lambda conn: list(conn.execute(last_successes).scalars()))
        live_scans = sa.select(object_state.c.scan_run_id).where(
            object_state.c.scan_run_id.is_not(None)
        )

        def prune_window(conn: sa.Connection, after: int) -> tuple[int, int | None]:
            """Delete among the next ``batch`` ids after ``after``; (deleted, the window's
            end, None past the last run). A window of ids is one range of the primary key,
            whatever was deleted before it."""
            first = conn.execute(
                sa.select(sa.func.min(sync_runs.c.id)).where(sync_runs.c.id > after)
            ).scalar_one_or_none()
            if first is None:
                return 0, None
            last = int(first) + batch - 1
            doomed = sync_runs.delete().where(
                sync_runs.c.id.between(first, last),
                sync_runs.c.status.in_(FINISHED),
                sync_runs.c.finished_at < cutoff,
                sync_runs.c.id.not_in(keep),
                sync_runs.c.id.not_in(live_scans),
                sa.or_(
                    sync_runs.c.scan_run_id.is_(None),
                    sync_runs.c.scan_run_id.not_in(live_scans),
                ),
                sync_runs.c.id.not_in(sa.select(held_deletions.c.run_id)),
            )
            return int(conn.execute(doomed).rowcount), last

        cutoff = utcnow() - older_than
        deleted, after = 0, 0
        while True:
            done, end = await self.db.write(partial(prune_window, after=after))
            deleted += done
            if end is None:
                return deleted
            after = end
