"""Whether syncing works: a sync that has stopped must say so (``/health``, ``/admin/status``,
``/metrics``), never look healthy.

An object type is unhealthy when this process's worker for it is dead, when its last run
here failed on a setting (a rejected token, an object type HubSpot does not have), or when
no run of it has succeeded for ``stale_after_seconds`` and none is running right now (a
running run has a fresh heartbeat, whichever process runs it; a long first sync is not a
stopped sync, and RUN_TIMEOUT_SECONDS bounds a run that hangs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from proxy.config import Settings
from proxy.scheduler import SyncScheduler
from proxy.store import Store
from proxy.store.runs import RUNNING, SUCCEEDED


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


async def object_health(
    store: Store, scheduler: SyncScheduler, settings: Settings, object_type: str
) -> ObjectHealth:
    now = datetime.now(UTC)
    worker = scheduler.workers.get(object_type)
    lease = await store.leases.holder(object_type)
    last = await store.runs.last(object_type, status=SUCCEEDED)
    running = [r for r in await store.runs.waiting(object_type) if r.status == RUNNING]
    fresh = now - timedelta(seconds=settings.lease_seconds)
    syncing = any(r.heartbeat_at is not None and r.heartbeat_at >= fresh for r in running)
    held = await store.scans.held(object_type, sample=0)
    health = ObjectHealth(
        object_type=object_type,
        worker_alive=bool(worker and worker.alive),
        holds_lease=bool(worker and worker.lease.held),
        syncing=syncing,
        lease_owner=lease.owner if lease else None,
        last_success_at=last.finished_at if last else None,
        held_deletions=held.count if held else 0,
    )
    if worker is None or not worker.alive:
        health.problems.append("the sync worker of this process is not running")
    if worker is not None and worker.configuration_error:
        health.problems.append(f"the last run failed on a setting: {worker.configuration_error}")
    stale_after = settings.stale_after_seconds
    since = health.last_success_at or scheduler.started_at
    if stale_after and not syncing and (now - since).total_seconds() > stale_after:
        what = f"since {since.isoformat()}" if health.last_success_at else "since the start"
        health.problems.append(
            f"no sync run has succeeded {what} (more than SYNC_STALE_SECONDS={stale_after})"
        )
    return health
