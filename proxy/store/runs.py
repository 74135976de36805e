"""The run log: sync runs queued, claimed, alive, and finished.

Runs are queued in the database, so a run requested on any process is executed by whichever
process holds the object type's lease. At most one run per object type and mode waits at a
time (a unique index over queued runs makes the check and the insert one atomic step). A
running run names its owner and keeps a heartbeat; one whose heartbeat went stale was
abandoned by a process that died, and is recorded as interrupted.

A queued run that another run of its object type and mode has made moot by the time it is
claimed is not run but recorded ``coalesced``, its ``scan_run_id`` naming the run that
satisfied it (:meth:`RunLog.claim_next` says when).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa

from proxy.store.database import Database, utcnow
from proxy.store.schema import held_deletions, object_state, sync_runs

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED, INTERRUPTED, COALESCED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "interrupted",
    "coalesced",
)
FINISHED = (SUCCEEDED, FAILED, INTERRUPTED, COALESCED)
STATUSES = (QUEUED, RUNNING, *FINISHED)
SCAN_MODES = ("full", "verify")  # runs that list every record (sync.SCANS)
# Requests whose only aim is that a full sync completes (none has yet, or one was left
# unfinished): any full run that succeeds after they were queued meets it.
FOR_COMPLETION = ("startup", "resume")
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
    progress_at: datetime | None = None


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
        """Queue a run, or return the one of this object type and mode already waiting.
        That one then stands for this request too: its ``queued_at`` moves to now (what
        satisfies it must have started after the latest request), and a request for more
        than completion takes over the trigger of one that asked only for completion
        (``FOR_COMPLETION``), so it is not coalesced with a run already under way."""

        def queue(conn: sa.Connection) -> int | None:
            now = self.db.now(conn)  # the clock started_at is read by
            inserted = conn.execute(
                self.db.insert(sync_runs)
                .values(
                    object_type=object_type,
                    mode=mode,
                    status=QUEUED,
                    trigger=trigger,
                    queued_at=now,
                )
                .on_conflict_do_nothing()
                .returning(sync_runs.c.id)
            ).scalar_one_or_none()
            if inserted is not None:
                return int(inserted)
            waiting = conn.execute(
                sa.select(sync_runs.c.id, sync_runs.c.trigger).where(
                    sync_runs.c.object_type == object_type,
                    sync_runs.c.mode == mode,
                    sync_runs.c.status == QUEUED,
                )
            ).one_or_none()
            if waiting is None:
                return None
            values: dict[str, Any] = {"queued_at": now}
            if waiting.trigger in FOR_COMPLETION and trigger not in FOR_COMPLETION:
                values["trigger"] = trigger
            joined = conn.execute(
                sync_runs.update()
                .where(sync_runs.c.id == waiting.id, sync_runs.c.status == QUEUED)
                .values(**values)
            ).rowcount
            return int(waiting.id) if joined else None

        while True:  # the waiting run may be claimed between our insert and our select
            run_id = await self.db.write(queue)
            if run_id is not None:
                return run_id

    async def claim_next(self, object_type: str, owner: str) -> RunRecord | None:
        """Take the oldest queued run of the object type and mark it running by ``owner``.
        A queued run that another run has satisfied meanwhile (:meth:`_satisfier`) is
        recorded ``coalesced`` instead, and the next one is looked at. (Looked for first
        without the write lock: the holder asks every second, and on SQLite a write
        transaction would take the database's one write lock each time.)"""
        oldest = (
            sa.select(sync_runs)
            .where(sync_runs.c.object_type == object_type, sync_runs.c.status == QUEUED)
            .order_by(sync_runs.c.id)
            .limit(1)
        )
        if await self.db.read(lambda conn: conn.execute(oldest).one_or_none()) is None:
            return None
        coalesced: list[tuple[int, int]] = []

        def claim(conn: sa.Connection) -> RunRecord | None:
            coalesced.clear()  # a retried transaction starts over
            while True:
                row = conn.execute(oldest).one_or_none()
                if row is None:
                    return None
                queued = _record(row)
                now = self.db.now(conn)
                satisfier = self._satisfier(conn, queued)
                values: dict[str, Any] = {"owner": owner, "started_at": now}
                if satisfier is None:
                    values.update(status=RUNNING, heartbeat_at=now)
                else:
                    values.update(status=COALESCED, finished_at=now, scan_run_id=satisfier)
                taken = conn.execute(
                    sync_runs.update()
                    .where(sync_runs.c.id == queued.id, sync_runs.c.status == QUEUED)
                    .values(**values)
                ).rowcount
                if not taken:
                    return None
                if satisfier is None:
                    return _record(
                        conn.execute(sa.select(sync_runs).where(sync_runs.c.id == queued.id)).one()
                    )
                coalesced.append((queued.id, satisfier))

        claimed = await self.db.write(claim)
        for run_id, satisfier in coalesced:
            log.info(
                "run %d (%s) coalesced: run %d already did what it asked for",
                run_id, object_type, satisfier,
            )  # fmt: skip
        return claimed

    def _satisfier(self, conn: sa.Connection, queued: RunRecord) -> int | None:
        """The first run that makes ``queued`` moot, if any: a run of the same object type
        and mode that succeeded and started after ``queued`` was queued (for a full or
        verify run, whose scan began after: one that resumed an older scan listed part of
        the records before). A request for completion only (``FOR_COMPLETION``) is met by
        any run of its mode that succeeded after it was queued. A run that began before the
        request, a failed or interrupted one, and a coalesced one satisfy nothing else."""
        began = sync_runs.alias("began")
        start: sa.ColumnElement[Any] = sync_runs.c.started_at
        if queued.mode in SCAN_MODES:
            scan_start = (
                sa.select(began.c.started_at)
                .where(began.c.id == sync_runs.c.scan_run_id)
                .scalar_subquery()
            )
            start = sa.func.coalesce(scan_start, sync_runs.c.started_at)
        after: sa.ColumnElement[bool] = start >= queued.queued_at
        if queued.trigger in FOR_COMPLETION:
            after = sa.or_(after, sync_runs.c.finished_at >= queued.queued_at)
        query = (
            sa.select(sync_runs.c.id)
            .where(
                sync_runs.c.object_type == queued.object_type,
                sync_runs.c.mode == queued.mode,
                sync_runs.c.status == SUCCEEDED,
                sync_runs.c.id != queued.id,
                after,
            )
            .order_by(sync_runs.c.id)
            .limit(1)
        )
        found = conn.execute(query).scalar_one_or_none()
        return int(found) if found is not None else None

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

    async def mark_progress(self, run_id: int) -> None:
        """The run committed a page just now (health tells a moving run from a hung one)."""

        def mark(conn: sa.Connection) -> None:
            conn.execute(
                sync_runs.update()
                .where(sync_runs.c.id == run_id)
                .values(progress_at=self.db.now(conn))
            )

        await self.db.write(mark)

    async def save_progress(self, run_id: int, counts: RunCounts) -> None:
        await self._update(run_id, **vars(counts))

    async def finish(
        self, run_id: int, counts: RunCounts, *, status: str, error: str | None = None
    ) -> None:
        assert status in FINISHED

        def update(conn: sa.Connection) -> None:
            conn.execute(
                sync_runs.update()
                .where(sync_runs.c.id == run_id)
                .values(
                    status=status,
                    finished_at=self.db.now(conn),  # the clock queued_at is read by
                    error=error,
                    **vars(counts),
                )
            )

        await self.db.write(update)

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
        self,
        object_type: str,
        *,
        mode: str | None = None,
        modes: Sequence[str] | None = None,
        status: str | None = SUCCEEDED,
    ) -> RunRecord | None:
        """The newest run of the object type (of ``mode``, or of any of ``modes``)."""
        query = (
            sa.select(sync_runs)
            .where(sync_runs.c.object_type == object_type)
            .order_by(sync_runs.c.id.desc())
            .limit(1)
        )
        if mode is not None:
            query = query.where(sync_runs.c.mode == mode)
        if modes is not None:
            query = query.where(sync_runs.c.mode.in_(modes))
        if status is not None:
            query = query.where(sync_runs.c.status == status)
        return await self._one(query)

    async def last_outcomes(
        self, object_type: str, modes: Sequence[str], limit: int
    ) -> list[RunRecord]:
        """The newest ``limit`` runs of ``modes`` that succeeded or failed, newest first
        (interrupted runs say nothing of whether syncing works)."""
        query = (
            sa.select(sync_runs)
            .where(
                sync_runs.c.object_type == object_type,
                sync_runs.c.mode.in_(modes),
                sync_runs.c.status.in_((SUCCEEDED, FAILED)),
            )
            .order_by(sync_runs.c.id.desc())
            .limit(limit)
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_record(row) for row in rows]

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
