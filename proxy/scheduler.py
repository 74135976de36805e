"""When syncs run: APScheduler 3 triggers, and one queue per object type so runs of one
object type never overlap.

Every run, scheduled or requested, is first recorded as ``queued`` and then handed to its
object type's worker, which runs them one after another. A request for a mode that is
already waiting in the queue returns that run instead of queueing a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from proxy.config import Settings
from proxy.errors import ConfigError, UnknownObjectType
from proxy.store import Store
from proxy.sync import FULL, INCREMENTAL, MODES, RunOutcome, SyncRunner

log = logging.getLogger(__name__)


class SyncScheduler:
    def __init__(
        self,
        store: Store,
        runner: SyncRunner,
        settings: Settings,
        *,
        on_finished: Callable[[str, RunOutcome], None] | None = None,
    ) -> None:
        self.store = store
        self.on_finished = on_finished
        self.runner = runner
        self.settings = settings
        self._queues: dict[str, asyncio.Queue[tuple[int, str]]] = {
            t: asyncio.Queue() for t in settings.object_types
        }
        self._waiting: dict[tuple[str, str], int] = {}  # (object type, mode) -> queued run id
        self._running: dict[str, int] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._aps = AsyncIOScheduler(timezone=UTC)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, *, schedule: bool = True) -> None:
        """Start one worker per object type; with ``schedule``, the periodic jobs too, and a
        full sync for each object type that has never completed one."""
        interrupted = await self.store.fail_unfinished_runs(
            "interrupted: the service stopped before the run finished"
        )
        if interrupted:
            log.warning("marked %d unfinished run(s) from a previous process failed", interrupted)
        for object_type in self.settings.object_types:
            self._workers.append(
                asyncio.create_task(self._work(object_type), name=f"sync-{object_type}")
            )
        if not schedule:
            return
        # The first full sync goes first in the queue, ahead of the interval job's first run.
        for object_type in self.settings.object_types:
            status = await self.store.reader.object_status(object_type)
            if status is None or not status.ready:
                await self.request(object_type, FULL, "startup")
        self._add_jobs()
        self._aps.start()

    def _add_jobs(self) -> None:
        now = datetime.now(UTC)
        for object_type in self.settings.object_types:
            if self.settings.sync_interval_seconds > 0:
                self._aps.add_job(
                    self.request,
                    IntervalTrigger(seconds=self.settings.sync_interval_seconds, timezone=UTC),
                    args=[object_type, INCREMENTAL, "schedule"],
                    id=f"{object_type}:{INCREMENTAL}",
                    next_run_time=now,
                    coalesce=True,
                    max_instances=1,
                )
            if self.settings.full_sync_cron:
                try:
                    trigger = CronTrigger.from_crontab(self.settings.full_sync_cron, timezone=UTC)
                except ValueError as exc:
                    raise ConfigError(f"FULL_SYNC_CRON: {exc}") from None
                self._aps.add_job(
                    self.request,
                    trigger,
                    args=[object_type, FULL, "schedule"],
                    id=f"{object_type}:{FULL}",
                    coalesce=True,
                    max_instances=1,
                )

    async def stop(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()

    # --- requests -------------------------------------------------------------------------

    async def request(self, object_type: str, mode: str, trigger: str) -> int:
        """Queue a run (or return the one of this mode already waiting) and its id."""
        if object_type not in self._queues:
            raise UnknownObjectType(f"object type {object_type!r} is not configured")
        if mode not in MODES:
            raise ValueError(f"unknown sync mode {mode!r}")
        waiting = self._waiting.get((object_type, mode))
        if waiting is not None:
            return waiting
        run_id = await self.store.queue_run(object_type, mode, trigger)
        self._waiting[(object_type, mode)] = run_id
        self._queues[object_type].put_nowait((run_id, mode))
        return run_id

    async def _work(self, object_type: str) -> None:
        queue = self._queues[object_type]
        while True:
            run_id, mode = await queue.get()
            self._waiting.pop((object_type, mode), None)
            if mode == INCREMENTAL:
                status = await self.store.reader.object_status(object_type)
                if status is None or status.watermark is None:
                    # Nothing to resume from (the first full sync failed or never ran):
                    # the only useful run is a full one.
                    mode = FULL
                    await self.store.set_run_mode(run_id, FULL)
            self._running[object_type] = run_id
            try:
                outcome = await self.runner.run(object_type, mode, run_id=run_id)
                if self.on_finished is not None:
                    self.on_finished(object_type, outcome)
            finally:
                self._running.pop(object_type, None)
                queue.task_done()

    async def idle(self) -> None:
        """Wait until every queued run has finished (for tests and the CLI)."""
        for queue in self._queues.values():
            await queue.join()

    # --- status ---------------------------------------------------------------------------

    def describe(self, object_type: str) -> dict[str, Any]:
        next_runs: dict[str, str | None] = {}
        for mode in MODES:
            job = self._aps.get_job(f"{object_type}:{mode}") if self._aps.running else None
            when = job.next_run_time if job is not None else None
            next_runs[mode] = when.isoformat() if when is not None else None
        return {
            "running_run_id": self._running.get(object_type),
            "queued_run_ids": sorted(
                run_id for (t, _), run_id in self._waiting.items() if t == object_type
            ),
            "next_runs": next_runs,
        }
