"""/health judges the runs that bring records to the feed (full, verify, incremental): a
deletion check that succeeds keeps nothing green, the same persistent failure three times
in a row is named at once, and a fetching run counts as alive only while it commits pages."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from proxy.simulator import HubSpotSimulator
from proxy.simulator.pause import ListPause
from proxy.store.schema import sync_runs
from tests.helpers import age_runs, wait_until
from tests.sync.conftest import Rig, RigFactory


async def problems(rig: Rig) -> tuple[int, list[str]]:
    resp = await rig.client.get("/health")
    body: dict[str, Any] = await resp.json()
    return resp.status, body["objects"]["contacts"]["problems"]


async def test_a_deletion_check_that_succeeds_does_not_hide_failing_fetches(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(20)
    rig = await make_rig(sim, SYNC_STALE_SECONDS="600")
    assert (await rig.sync("full")).status == "succeeded"
    await age_runs(rig.store, hours=1)
    sim.create_contacts(2)
    sim.faults.malformed_batch_read_next = 1  # the incremental run's batch read is rejected
    failed = await rig.sync("incremental")
    assert failed.status == "failed" and "BadPage" in (failed.error or "")
    checked = await rig.sync("deletions")  # lists the recycle bin: no batch read, succeeds
    assert (checked.mode, checked.status) == ("deletions", "succeeded")

    status, found = await problems(rig)
    assert status == 503
    assert any("no run that fetches records" in p and "SYNC_STALE_SECONDS=600" in p for p in found)
    metrics = await (await rig.client.get("/metrics")).text()
    assert 'change_proxy_sync_healthy{object_type="contacts"} 0.0' in metrics

    assert (await rig.sync("incremental")).status == "succeeded"
    assert (await rig.client.get("/health")).status == 200


async def test_three_runs_failing_the_same_persistent_way_are_named_at_once(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(20)
    rig = await make_rig(sim)  # the default SYNC_STALE_SECONDS: 15 minutes
    assert (await rig.sync("full")).status == "succeeded"
    sim.create_contacts(2)
    sim.faults.malformed_batch_read_next = 100
    for n in range(3):
        assert (await rig.client.get("/health")).status == 200, f"unhealthy after {n} failures"
        run = await rig.sync("incremental")
        assert run.status == "failed" and (run.error or "").startswith("BadPage")
        assert (await rig.sync("deletions")).status == "succeeded"  # interleaved: no reset

    status, found = await problems(rig)
    assert status == 503
    assert any("last 3 runs that fetch records failed the same way" in p for p in found), found
    assert any("BadPage" in p for p in found)
    admin = await rig.admin("GET", "/admin/status")
    assert admin["objects"]["contacts"]["health"]["healthy"] is False

    sim.faults.malformed_batch_read_next = 0
    assert (await rig.sync("incremental")).status == "succeeded"
    assert (await rig.client.get("/health")).status == 200


async def test_transient_failures_are_not_named_before_the_stale_time(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(10)
    rig = await make_rig(sim, HUBSPOT_MAX_TRIES="1")
    assert (await rig.sync("full")).status == "succeeded"
    for _ in range(3):
        sim.faults.fail_next = 1  # a 502: the next run may well succeed
        assert (await rig.sync("incremental")).status == "failed"
    assert (await rig.client.get("/health")).status == 200


async def _set_run_times(rig: Rig, run_id: int, **hours_ago: int) -> None:
    def write(conn: sa.Connection) -> None:
        now = rig.store.db.now(conn)
        conn.execute(
            sync_runs.update()
            .where(sync_runs.c.id == run_id)
            .values(**{column: now - timedelta(hours=h) for column, h in hours_ago.items()})
        )

    await rig.store.db.write(write)


async def test_a_running_scan_is_alive_while_it_commits_pages_and_not_when_it_hangs(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(20)
    rig = await make_rig(sim, SYNC_STALE_SECONDS="600")
    assert (await rig.sync("full")).status == "succeeded"
    await age_runs(rig.store, hours=2)
    sim.create_contacts(600)  # new records: the next full scan writes page after page
    # The listing's third page waits until released (the scan reads a page ahead).
    sim.list_pause = pause = ListPause(after_pages=2)
    run_id = await rig.request("full")

    async def committed_a_page() -> bool:
        run = await rig.store.runs.get(run_id)
        return run is not None and run.progress_at is not None

    await wait_until(committed_a_page, what="the scan's first committed page")
    await asyncio.wait_for(pause.reached.wait(), timeout=30)  # HubSpot stops answering
    try:
        # Began two hours ago, but committed a page just now: a long scan, not an outage.
        await _set_run_times(rig, run_id, started_at=2)
        status, found = await problems(rig)
        assert (status, found) == (200, [])

        # Nothing committed for an hour while its process beats: the sync has stopped.
        await _set_run_times(rig, run_id, started_at=2, progress_at=1)
        status, found = await problems(rig)
        assert status == 503
        assert any(f"run {run_id} (full) is running but has committed no page" in p for p in found)
        run = await rig.store.runs.get(run_id)
        assert run is not None and run.status == "running"
    finally:
        pause.release()
    await rig.scheduler.idle()
    assert (await rig.store.runs.get(run_id)).status == "succeeded"  # type: ignore[union-attr]
    assert (await rig.client.get("/health")).status == 200
