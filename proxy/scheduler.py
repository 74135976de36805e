"""When syncs run: APScheduler 3 triggers, requests, and one worker per object type.

Every run, scheduled or requested, is first queued in the database (at most one waiting per
object type and mode: a request while one waits returns that one), then executed by the
worker of the process that holds the object type's lease. So runs of one object type never
overlap, across every process on one database. Every process schedules, but only the lease
holder's schedule queues runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from proxy.config import Settings, cron_trigger
from proxy.errors import UnknownObjectType, UnsupportedMode
from proxy.store import Store
from proxy.sync import DELETIONS, FULL, INCREMENTAL, MODES, VERIFY, RunOutcome, SyncRunner
from proxy.worker import SyncWorker, process_owner, wait_for_event

log = logging.getLogger(__name__)

# A scheduled full sync whose time passed while the process was busy (an event loop stalled,
# a machine suspended) still runs if it is at most this late; missed runs coalesce into one.
FULL_MISFIRE_GRACE_S = 6 * 3600
# Runs older than RUN_RETENTION_DAYS are deleted this often (and once at start).
PRUNE_INTERVAL_S = 3600


class SyncScheduler:
    def __init__(
        self,
        store: Store,
        runner: SyncRunner,
        settings: Settings,
        *,
        owner: str | None = None,
        on_finished: Callable[[str, RunOutcome], None] | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.settings = settings
        self.owner = owner or process_owner()
        self.started_at = datetime.now(UTC)
        self.schedule = False
        self._stepped = asyncio.Event()
        self.workers: dict[str, SyncWorker] = {}
        self._on_finished = on_finished
        self._aps = AsyncIOScheduler(timezone=UTC)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, *, schedule: bool = True) -> None:
        """Start one worker per object type; with ``schedule``, the periodic jobs too (and
        each worker, once it holds its lease, queues a full sync where none has completed
        or one was left unfinished)."""
        self.schedule = schedule
        for setting, cron in self._crons():
            if schedule and cron:
                cron_trigger(cron, setting)  # a bad expression fails the start
        interrupted = await self.store.runs.interrupt_abandoned(
            timedelta(seconds=self.settings.lease_seconds)
        )
        if interrupted:
            log.warning("recorded %d run(s) of stopped processes as interrupted", interrupted)
        for object_type in self.runner.feeds:
            worker = SyncWorker(
                object_type,
                self.store,
                self.runner,
                self.settings,
                owner=self.owner,
                schedule=schedule,
                on_finished=self._on_finished,
                on_step=self._stepped.set,
            )
            self.workers[object_type] = worker
            # Queued before the worker starts, so a caller of idle() finds it waiting.
            await worker.queue_unfinished_full()
            worker.start()
        if schedule:
            self._add_jobs()
            self._aps.start()

    def _add_jobs(self) -> None:
        now = datetime.now(UTC)
        if self.settings.run_retention_days > 0:
            self._aps.add_job(
                self.prune_runs,
                IntervalTrigger(seconds=PRUNE_INTERVAL_S, timezone=UTC),
                id="prune-runs",
                next_run_time=now,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=PRUNE_INTERVAL_S,
            )
        for object_type, feed in self.runner.feeds.items():
            incremental_every = feed.incremental_interval_seconds
            if incremental_every is None:
                incremental_every = self.settings.sync_interval_seconds
            if incremental_every > 0 and INCREMENTAL in feed.modes:
                self._every(object_type, INCREMENTAL, incremental_every, first_run=now)
            if self.settings.delete_check_seconds > 0 and DELETIONS in feed.modes:
                self._every(object_type, DELETIONS, self.settings.delete_check_seconds)
            scan_every = feed.scan_interval_seconds
            if scan_every:  # a feed that says how often it is scanned (a declared source)
                self._every(object_type, FULL, scan_every)
            for (setting, cron), mode in zip(self._crons(), (FULL, VERIFY), strict=True):
                if mode == FULL and scan_every is not None:
                    continue
                if cron and mode in feed.modes:
                    self._aps.add_job(
                        self._scheduled,
                        cron_trigger(cron, setting),
                        args=[object_type, mode],
                        id=f"{object_type}:{mode}",
                        coalesce=True,
                        max_instances=1,
                        misfire_grace_time=FULL_MISFIRE_GRACE_S,
                    )

    def _every(
        self, object_type: str, mode: str, seconds: float, first_run: datetime | None = None
    ) -> None:
        """Request a run of ``mode`` every ``seconds`` (missed ones coalesce into one), the
        first at ``first_run`` or one interval from now."""
        # APScheduler reads next_run_time=None as "paused": leave it out instead.
        first = {"next_run_time": first_run} if first_run is not None else {}
        self._aps.add_job(
            self._scheduled,
            IntervalTrigger(seconds=seconds, timezone=UTC),
            args=[object_type, mode],
            id=f"{object_type}:{mode}",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(seconds)),
            **first,
        )

    def _crons(self) -> tuple[tuple[str, str], tuple[str, str]]:
        return (
            ("FULL_SYNC_CRON", self.settings.full_sync_cron),
            ("VERIFY_SYNC_CRON", self.settings.verify_sync_cron),
        )

    async def stop(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)
        await asyncio.gather(*(w.stop() for w in self.workers.values()))

    # --- requests -------------------------------------------------------------------------

    async def request(self, object_type: str, mode: str, trigger: str) -> int:
        """Queue a run (or return the one of this mode already waiting) and its id."""
        if object_type not in self.runner.feeds:
            raise UnknownObjectType(f"object type {object_type!r} is not configured")
        if mode not in MODES:
            raise ValueError(f"unknown sync mode {mode!r}")
        if mode not in self.runner.feeds[object_type].modes:
            raise UnsupportedMode(f"{object_type} has no {mode} sync")
        run_id = await self.store.runs.request(object_type, mode, trigger)
        self.workers[object_type].wake()
        return run_id

    async def _scheduled(self, object_type: str, mode: str) -> None:
        worker = self.workers[object_type]
        if not worker.lease.held:
            return  # the lease holder's own schedule queues this object type's runs
        try:
            await self.request(object_type, mode, "schedule")
        except Exception as exc:  # the next tick tries again; /health shows if it keeps failing
            log.warning("%s: could not queue the scheduled %s sync: %s", object_type, mode, exc)

    async def prune_runs(self) -> int:
        """Delete the runs older than RUN_RETENTION_DAYS (see RunLog.prune for those kept).
        Any process may: deleting what another process deleted deletes nothing."""
        days = self.settings.run_retention_days
        try:
            deleted = await self.store.runs.prune(timedelta(days=days))
        except Exception as exc:  # the next hour tries again
            log.warning("could not delete old sync runs: %s", exc)
            return 0
        if deleted:
            log.info("deleted %d sync runs finished more than %d days ago", deleted, days)
        return deleted

    async def idle(self) -> None:
        """Wait until no run of any configured object type is queued or running (for tests
        and the CLI). Re-checks the database after every step of a worker."""
        while True:
            self._stepped.clear()
            busy = False
            for object_type in self.runner.feeds:
                if await self.store.runs.waiting(object_type):
                    busy = True
                    break
            if not busy:
                return
            await wait_for_event(self._stepped, 1.0)

    # --- status ---------------------------------------------------------------------------

    def next_runs(self, object_type: str) -> dict[str, str | None]:
        next_runs: dict[str, str | None] = {}
        for mode in MODES:
            job = self._aps.get_job(f"{object_type}:{mode}") if self._aps.running else None
            when = job.next_run_time if job is not None else None
            next_runs[mode] = when.isoformat() if when is not None else None
        return next_runs

    async def describe(self, object_type: str) -> dict[str, Any]:
        waiting = await self.store.runs.waiting(object_type)
        worker = self.workers.get(object_type)
        return {
            "running_run_id": next((r.id for r in waiting if r.status == "running"), None),
            "queued_run_ids": [r.id for r in waiting if r.status == "queued"],
            "next_runs": self.next_runs(object_type),
            "worker": {
                "alive": bool(worker and worker.alive),
                "holds_lease": bool(worker and worker.lease.held),
                "last_error": worker.last_error if worker else None,
            },
        }
