"""Whether syncing works: a sync that has stopped must say so (``/health``, ``/admin/status``,
``/metrics``), never look healthy.

An object type is unhealthy when this process's worker for it is dead, when its last run
here failed on a setting (a rejected token, an object type HubSpot does not have), when its
last three runs that fetch records failed the same persistent way (a malformed page, a 4xx
other than 429), or when no run that fetches records (full, verify, incremental) has
succeeded for ``stale_after_seconds`` and none is moving right now. Deletion checks fetch
no records and count for nothing here: one that succeeds says nothing of the feed. A run
moves when its process beats (whichever process runs it) and it committed a page within
``stale_after_seconds`` (or began within it): a long nightly scan is not an outage, a run
that hangs while its process lives is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from proxy.config import Settings
from proxy.scheduler import SyncScheduler
from proxy.store import Store
from proxy.store.runs import RUNNING, SUCCEEDED, RunRecord
from proxy.sync import FETCHING, persistent_failure

# The same persistent failure this many times in a row is named at once.
REPEATED_FAILURES = 3


@dataclass
class ObjectHealth:
    object_type: str
    worker_alive: bool
    holds_lease: bool  # this process runs the object type's syncs
    syncing: bool  # a run is running with a fresh heartbeat (any process)
    lease_owner: str | None
    last_success_at: datetime | None
    held_deletions: int
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "worker_alive": self.worker_alive,
            "this_process_syncs": self.holds_lease,
            "syncing": self.syncing,
            "sync_process": self.lease_owner,
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
            "held_deletions": self.held_deletions,
            "problems": self.problems,
        }


@dataclass
class RunLogHealth:
    """What the run log says of an object type's syncing, whichever process runs it."""

    syncing: bool  # a run is running with a fresh heartbeat
    last_success_at: datetime | None  # of a run that fetches records
    problems: list[str]


def stale_after(settings: Settings, scan_interval: float | None) -> int:
    """How long without a successful fetching run makes a feed unhealthy (0: never):
    ``SYNC_STALE_SECONDS`` when set; for a feed scanned every ``scan_interval`` seconds
    (a declared source), three missed scans but at least 15 minutes, and never for one
    scanned only on request; else the HubSpot default (``Settings.stale_after_seconds``)."""
    if settings.sync_stale_seconds is not None or scan_interval is None:
        return settings.stale_after_seconds
    return 0 if scan_interval == 0 else max(int(3 * scan_interval), 900)


async def run_log_health(
    store: Store,
    settings: Settings,
    object_type: str,
    *,
    counting_from: datetime | None,
    scan_interval: float | None = None,
) -> RunLogHealth:
    """Judge the runs of ``object_type`` from the database alone. ``counting_from``: when
    staleness starts to count if no fetching run ever succeeded (the process's start;
    None: not judged then); ``scan_interval``: the feed's own (see :func:`stale_after`)."""
    now = datetime.now(UTC)
    last = await store.runs.last(object_type, modes=FETCHING, status=SUCCEEDED)
    fresh = now - timedelta(seconds=settings.lease_seconds)
    running = [
        r
        for r in await store.runs.waiting(object_type)
        if r.status == RUNNING and r.heartbeat_at is not None and r.heartbeat_at >= fresh
    ]
    health = RunLogHealth(bool(running), last.finished_at if last else None, [])
    repeated = await _repeated_failure(store, object_type)
    if repeated:
        health.problems.append(repeated)
    stale_after_s = stale_after(settings, scan_interval)
    since = health.last_success_at or counting_from
    if stale_after_s and since is not None:
        moving = [r for r in running if r.mode in FETCHING and _moved_within(r, now, stale_after_s)]
        if not moving and (now - since).total_seconds() > stale_after_s:
            what = f"since {since.isoformat()}" if health.last_success_at else "since the start"
            stuck = [r for r in running if r.mode in FETCHING]
            hangs = (
                f"; run {stuck[0].id} ({stuck[0].mode}) is running but has committed no page "
                "for that long"
                if stuck
                else ""
            )
            health.problems.append(
                f"no run that fetches records (full, verify, incremental) has succeeded {what} "
                f"(more than SYNC_STALE_SECONDS={stale_after_s}){hangs}"
            )
    return health


async def object_health(
    store: Store, scheduler: SyncScheduler, settings: Settings, object_type: str
) -> ObjectHealth:
    worker = scheduler.workers.get(object_type)
    lease = await store.leases.holder(object_type)
    held = await store.scans.held(object_type, sample=0)
    feed = scheduler.runner.feeds.get(object_type)
    runs = await run_log_health(
        store,
        settings,
        object_type,
        counting_from=scheduler.started_at,
        scan_interval=feed.scan_interval_seconds if feed is not None else None,
    )
    health = ObjectHealth(
        object_type=object_type,
        worker_alive=bool(worker and worker.alive),
        holds_lease=bool(worker and worker.lease.held),
        syncing=runs.syncing,
        lease_owner=lease.owner if lease else None,
        last_success_at=runs.last_success_at,
        held_deletions=held.count if held else 0,
    )
    if worker is None or not worker.alive:
        health.problems.append("the sync worker of this process is not running")
    if worker is not None and worker.configuration_error:
        health.problems.append(f"the last run failed on a setting: {worker.configuration_error}")
    health.problems.extend(runs.problems)
    return health


def _moved_within(run: RunRecord, now: datetime, seconds: int) -> bool:
    """The run began or committed a page within the last ``seconds``."""
    moved = run.progress_at or run.started_at
    return moved is not None and (now - moved).total_seconds() <= seconds


async def _repeated_failure(store: Store, object_type: str) -> str | None:
    """A problem when the last runs that fetch records all failed the same persistent way:
    retrying will not help, so it is said at once."""
    runs = await store.runs.last_outcomes(object_type, FETCHING, REPEATED_FAILURES)
    if len(runs) < REPEATED_FAILURES:
        return None
    kinds = {persistent_failure(r.error) for r in runs}
    if len(kinds) != 1 or None in kinds:
        return None
    return (
        f"the last {REPEATED_FAILURES} runs that fetch records failed the same way "
        f"(retrying will not help); the last: {runs[0].error}"
    )
