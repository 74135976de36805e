"""A process that takes over the lease of a killed one records the killed one's run as
interrupted, whatever moment of its lease cycle the kill caught.

A run's heartbeat can be younger than its holder's last lease renewal: claiming a run sets
the heartbeat, and the holder renews only every LEASE_SECONDS / 4. A successor takes the
lease as soon as it expires (the last renewal + LEASE_SECONDS), so when it judged dead runs
by their heartbeat (older than LEASE_SECONDS: what this test was written against) such a run
was not stale yet, and nobody looked again: it stayed "running" for good, and
``/admin/status`` named it as the running run while the successor ran others. The kill tests
met that in about one kill in fifteen. A new holder now interrupts every run of another
process (``RunLog.interrupt_others``).

This test makes the case certain rather than likely: after the kill it writes the run's
heartbeat 0.9 s after the lease's last renewal (as a claim that late leaves it when the event
loop stalled meanwhile), more than the successor's retry interval, so the successor's first
try after the expiry falls inside the window.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from proxy.store import Store
from proxy.store.schema import leases, sync_runs
from tests.helpers import wait_until
from tests.processes import ServeProcess, SimulatorProcess
from tests.slow.harness import holds_lease, log_lines, owner_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

LEASE_SECONDS = 2
# More than the successor's retry interval (LEASE_SECONDS / 4), less than LEASE_SECONDS.
HEARTBEAT_LAG = timedelta(seconds=0.9)
ENV = {"SYNC_INTERVAL_SECONDS": "1", "FULL_SYNC_CRON": "", "LEASE_SECONDS": str(LEASE_SECONDS)}


async def test_the_successor_records_a_killed_holders_run_interrupted(
    tmp_path: Path, database_url: str
) -> None:
    sim = await SimulatorProcess(tmp_path, 300).start()
    processes: list[ServeProcess] = []
    store = Store.open(database_url)
    try:
        first = ServeProcess(tmp_path, "serve-1", database_url, sim, **ENV)
        processes.append(first)
        await first.start()
        await wait_until(holds_lease(first), timeout=30, what="serve-1 to hold the lease")

        async def ready() -> bool:
            status = await first.admin("GET", "/admin/status")
            return bool(status["objects"]["contacts"]["ready"])

        await wait_until(ready, timeout=30, what="the first full sync")
        await sim.faults(delay_seconds=0.3)  # each incremental now lasts over half a second
        running: dict[str, Any] = {}

        async def a_run_is_running() -> bool:
            status = await first.admin("GET", "/admin/status")
            running["id"] = status["objects"]["contacts"]["running_run_id"]
            return running["id"] is not None

        await wait_until(a_run_is_running, timeout=30, what="a run of serve-1 under way")
        first.kill()
        await first.wait()

        # Where the killed process left its lease and its run, the run's heartbeat
        # HEARTBEAT_LAG after the lease's last renewal.
        async with store.engine.begin() as conn:
            lease = (await conn.execute(sa.select(leases))).one()
            run = (
                await conn.execute(sa.select(sync_runs).where(sync_runs.c.id == running["id"]))
            ).one()
            assert run.status == "running" and run.owner == lease.owner, (run, lease)
            assert lease.owner.startswith(owner_of(first)), lease
            renewed = lease.expires_at - timedelta(seconds=LEASE_SECONDS)
            await conn.execute(
                sync_runs.update()
                .where(sync_runs.c.id == run.id)
                .values(heartbeat_at=renewed + HEARTBEAT_LAG)
            )

        await sim.faults(delay_seconds=0)
        second = ServeProcess(tmp_path, "serve-2", database_url, sim, **ENV)
        processes.append(second)
        await second.start()
        await wait_until(holds_lease(second), timeout=30, what="serve-2 to take the lease over")
        successor = owner_of(second)
        runs: list[dict[str, Any]] = []

        async def successor_ran_twice() -> bool:
            runs[:] = (await second.admin("GET", "/admin/runs"))["runs"]
            done = [
                r
                for r in runs
                if (r["owner"] or "").startswith(successor) and r["status"] == "succeeded"
            ]
            return len(done) >= 2

        await wait_until(successor_ran_twice, timeout=30, what="two runs of serve-2")
        dead_run = next(r for r in runs if r["id"] == run.id)
        status = (await second.admin("GET", "/admin/status"))["objects"]["contacts"]
        assert dead_run["status"] == "interrupted", (
            f"run {run.id} of the killed process (heartbeat {dead_run['heartbeat_at']}, its "
            f"lease expired {lease.expires_at.isoformat()}) is still {dead_run['status']!r} "
            f"after serve-2 took the lease over and ran two runs; /admin/status says "
            f"running_run_id={status['running_run_id']}; serve-2 log:\n{log_lines(second)}"
        )
    finally:
        await store.close()
        for process in processes:
            await process.stop()
        await sim.stop()
