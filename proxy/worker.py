"""The sync worker of one object type: it holds the object type's lease, runs the runs queued
for it (by any process), and never dies of an error.

Every process runs one worker per object type; only the one whose process holds the lease
executes runs, the others wait to take over. A worker whose run fails records the failure
(the runner does) and carries on; one whose database fails backs off and carries on. A full
run that failed or was interrupted is queued again after a backoff, not left for the next
day's schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from proxy.config import Settings
from proxy.store import Store
from proxy.store.runs import FAILED, RunCounts, RunRecord
from proxy.sync import FULL, NEEDS_MIRROR, SCANS, RunOutcome, SyncRunner

log = logging.getLogger(__name__)

# How often a lease holder looks for runs that other processes queued (its own requests wake
# it at once).
POLL_SECONDS = 1.0
# After an unexpected error (the database is down, say) the worker waits this long, doubling
# per failure in a row.
ERROR_BACKOFF_S = (1.0, 300.0)
# A failed or interrupted full sync is queued again after this long, doubling per failure in
# a row.
FULL_RETRY_BACKOFF_S = (30.0, 3600.0)
# SIGTERM: the run in flight gets this long to commit its page and record itself
# interrupted (the process must be gone within 10 s).
STOP_GRACE_S = 6.0


async def wait_for_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait for ``event`` at most ``seconds``; whether it was set. With asyncio.timeout, not
    asyncio.wait_for: in Python 3.11 wait_for can swallow a cancellation that arrives just as
    its timeout fires, and a worker told to stop would then loop on."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        pass
    return event.is_set()


def process_owner() -> str:
    """This process's name in leases and run records: host, pid, and a token that tells a
    restarted process from its predecessor with the same pid (a container's pid 1)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Backoff:
    def __init__(self, first: float, cap: float) -> None:
        self.first, self.cap = first, cap
        self._failures = 0

    def next(self) -> float:
        delay = min(self.cap, self.first * 2.0**self._failures)
        self._failures += 1
        return delay

    def reset(self) -> None:
        self._failures = 0


class LeaseKeeper:
    """Takes and renews one object type's lease, and keeps the heartbeat of the run in
    progress. When the lease is lost (taken over, or not renewable for a whole lease
    lifetime) ``on_lost`` is told why."""

    def __init__(
        self,
        store: Store,
        object_type: str,
        owner: str,
        ttl: timedelta,
        on_lost: Callable[[str], None],
    ) -> None:
        self.store = store
        self.object_type = object_type
        self.owner = owner
        self.ttl = ttl
        self.on_lost = on_lost
        self.held = False
        self.acquired = asyncio.Event()
        self.run_id: int | None = None  # the run whose heartbeat we keep
        self._renewed_at = 0.0

    @property
    def interval(self) -> float:
        return self.ttl.total_seconds() / 4

    async def try_acquire(self) -> bool:
        asked_at = time.monotonic()
        if await self.store.leases.acquire(self.object_type, self.owner, self.ttl):
            if not self.held:
                log.info("%s: this process now runs its syncs (%s)", self.object_type, self.owner)
            self.held = True
            self._renewed_at = asked_at
            self.acquired.set()
        return self.held

    async def keep(self) -> None:
        """Renew (or try to take) the lease every quarter of its lifetime, for ever.

        Each beat's database calls are bounded by that quarter: a call that hangs (a lock
        that is never granted, a connection whose peer went silent) must not keep this
        process believing it holds a lease that expires meanwhile. Not renewed for three
        quarters of the lifetime, the lease is given up here before any other process may
        take it over, so two processes never both say they hold it."""
        while True:
            try:
                async with asyncio.timeout(self.interval):
                    await self._beat()
            except Exception as exc:
                why = (
                    f"no answer within {self.interval:.1f} s"
                    if isinstance(exc, TimeoutError)
                    else str(exc)
                )
                log.warning("%s: lease renewal failed: %s", self.object_type, why)
            if self.held and time.monotonic() - self._renewed_at > self.give_up_after:
                self._lose("its lease could not be renewed (the database did not answer)")
            await asyncio.sleep(self.interval)

    @property
    def give_up_after(self) -> float:
        return self.ttl.total_seconds() - self.interval

    async def _beat(self) -> None:
        if not self.held:
            await self.try_acquire()
            return
        asked_at = time.monotonic()  # the lease runs from no later than this
        if not await self.store.leases.renew(self.object_type, self.owner, self.ttl):
            self._lose("another process took over its lease")
            return
        self._renewed_at = asked_at
        if self.run_id is not None:
            await self.store.runs.heartbeat(self.run_id)

    def _lose(self, reason: str) -> None:
        log.warning("%s: this process no longer runs its syncs: %s", self.object_type, reason)
        self.held = False
        self.acquired.clear()
        self.on_lost(reason)

    async def release(self) -> None:
        if self.held:
            self.held = False
            await self.store.leases.release(self.object_type, self.owner)


class SyncWorker:
    def __init__(
        self,
        object_type: str,
        store: Store,
        runner: SyncRunner,
        settings: Settings,
        *,
        owner: str,
        schedule: bool,
        on_finished: Callable[[str, RunOutcome], None] | None = None,
        on_step: Callable[[], None] | None = None,
    ) -> None:
        self.object_type = object_type
        self.store = store
        self.runner = runner
        self.settings = settings
        self.owner = owner
        self.schedule = schedule
        self.on_finished = on_finished
        self.on_step = on_step
        self.lease = LeaseKeeper(
            store, object_type, owner, timedelta(seconds=settings.lease_seconds), self._lost
        )
        self.started_at = datetime.now(UTC)
        self.last_error: str | None = None
        # The last run failed on a setting (the token, an object type HubSpot does not
        # have): retrying will not help, so health says so at once. Cleared by a success.
        self.configuration_error: str | None = None
        self.running_run_id: int | None = None
        self._wake = asyncio.Event()
        self._set_up = False
        self._full_retry_at: float | None = None
        self._full_backoff = Backoff(*FULL_RETRY_BACKOFF_S)
        self._run_task: asyncio.Task[RunOutcome] | None = None
        self._unrecorded: tuple[int, str] | None = None  # a run whose end could not be saved
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.lease.keep(), name=f"lease-{self.object_type}"),
            asyncio.create_task(self._loop(), name=f"sync-{self.object_type}"),
        ]

    @property
    def alive(self) -> bool:
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Stop for good: the run in flight commits its page and is recorded interrupted,
        then the lease is given up so another process can take over at once."""
        if self._run_task is not None and not self._run_task.done():
            self._run_task.cancel("the service stopped during the run")
            await asyncio.wait({self._run_task}, timeout=STOP_GRACE_S)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        try:
            async with asyncio.timeout(2):
                await self.lease.release()
        except Exception as exc:  # it expires by itself
            log.warning("%s: could not release the lease: %s", self.object_type, exc)

    def _lost(self, reason: str) -> None:
        self._set_up = False
        if self._run_task is not None and not self._run_task.done():
            self._run_task.cancel(f"this process lost the {self.object_type} lease: {reason}")

    # --- the loop ---------------------------------------------------------------------------

    async def _loop(self) -> None:
        backoff = Backoff(*ERROR_BACKOFF_S)
        while True:
            try:
                await self._step()
                backoff.reset()
                self.last_error = None
            except Exception as exc:
                delay = backoff.next()
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("%s: sync worker error; retrying in %.0f s", self.object_type, delay)
                await asyncio.sleep(delay)
            finally:
                if self.on_step is not None:
                    self.on_step()

    async def _wait(self, seconds: float) -> None:
        await wait_for_event(self._wake, seconds)
        self._wake.clear()

    async def _step(self) -> None:
        if not self.lease.held:
            await wait_for_event(self.lease.acquired, self.lease.interval)
            return
        if self._unrecorded is not None:  # the database failed as the run ended: say so now
            run_id, error = self._unrecorded
            await self.store.runs.finish(run_id, RunCounts(), status=FAILED, error=error)
            self._unrecorded = None
        if not self._set_up:
            await self._on_acquired()
            self._set_up = True
        await self._queue_due_retry()
        run = await self.store.runs.claim_next(self.object_type, self.owner)
        if run is None:
            await self._wait(POLL_SECONDS)
            return
        await self._execute(run)

    async def _on_acquired(self) -> None:
        """First steps of a new lease holder: record the runs an earlier holder left running
        as interrupted, bring stored fingerprints in line with the settings, and queue a full
        sync if none has completed or one was left unfinished."""
        interrupted = await self.store.runs.interrupt_others(self.object_type, self.owner)
        if interrupted:
            log.warning(
                "%s: %d run(s) of a stopped process recorded interrupted",
                self.object_type,
                interrupted,
            )
        await self.runner.prepare_fingerprints(self.object_type)
        await self.queue_unfinished_full()

    async def queue_unfinished_full(self) -> None:
        """With scheduling on, queue a full sync if none has completed yet or one was left
        unfinished (safe from any process: a run already waiting is not queued twice)."""
        if not self.schedule:
            return
        status = await self.store.reader.object_status(self.object_type)
        if status is not None and status.scan_run_id is not None:
            await self.store.runs.request(self.object_type, FULL, "resume")
        elif status is None or not status.ready:
            await self.store.runs.request(self.object_type, FULL, "startup")

    async def _queue_due_retry(self) -> None:
        if self._full_retry_at is not None and time.monotonic() >= self._full_retry_at:
            self._full_retry_at = None
            await self.store.runs.request(self.object_type, FULL, "retry")

    async def _execute(self, run: RunRecord) -> None:
        """Run a claimed run. Whatever goes wrong, the run does not stay "running": an
        error the runner could not record is recorded (as soon as the database lets us)."""
        try:
            mode, outcome = await self._run(run)
        except Exception as exc:
            self._unrecorded = (run.id, f"internal error: {type(exc).__name__}: {exc}")
            raise
        if outcome is not None:
            if outcome.configuration_error:
                self.configuration_error = outcome.error
            elif outcome.succeeded:
                self.configuration_error = None
            if self.on_finished is not None:
                self.on_finished(self.object_type, outcome)
        if mode not in SCANS:
            return
        if outcome is not None and outcome.succeeded:
            self._full_backoff.reset()
            self._full_retry_at = None
        elif self.schedule and outcome is not None:
            # A cancelled run (None: the service stops, or another process took the lease
            # over) is resumed by whichever process holds the lease next (queue_unfinished_full).
            delay = self._full_backoff.next()
            self._full_retry_at = time.monotonic() + delay
            log.warning(
                "%s: the full sync did not finish; trying again in %.0f s", self.object_type, delay
            )

    async def _run(self, run: RunRecord) -> tuple[str, RunOutcome | None]:
        """The run's mode and outcome (None when it was cancelled: interrupted)."""
        mode = run.mode
        if mode in NEEDS_MIRROR:
            status = await self.store.reader.object_status(self.object_type)
            if status is None or status.watermark is None:
                # Nothing to resume from (the first full sync failed or never ran): the only
                # useful run is a full one.
                mode = FULL
                await self.store.runs.set_mode(run.id, FULL)
        self.running_run_id = self.lease.run_id = run.id
        self._run_task = asyncio.create_task(
            self.runner.run(self.object_type, mode, run_id=run.id, owner=self.owner)
        )
        try:
            # asyncio.wait, not await: stopping the worker must not cancel the run without
            # saying why (stop() cancels it with its reason first).
            await asyncio.wait({self._run_task})
        finally:
            self.running_run_id = self.lease.run_id = None
        task, self._run_task = self._run_task, None
        if task.cancelled():
            return mode, None
        if task.exception() is not None:
            raise RuntimeError(f"could not record the run's end: {task.exception()!r}")
        return mode, task.result()
