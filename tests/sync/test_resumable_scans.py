"""Resumable full scans: a scan cut short by a failure, a time limit or SIGTERM carries on
where it was, as the same scan (what it saw before still counts), and deletes only after a
complete pass."""

from __future__ import annotations

from pathlib import Path

import orjson
import sqlalchemy as sa

from proxy.simulator import HubSpotSimulator
from proxy.store import Store
from proxy.store.schema import object_state
from tests.helpers import wait_until
from tests.processes import ServeProcess, SimulatorProcess
from tests.sync.conftest import RigFactory


async def test_a_failed_full_scan_resumes_where_it_stopped(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(1000)
    rig = await make_rig(sim, HUBSPOT_MAX_TRIES="1")
    await rig.sync("full")
    sim.gdpr_delete(ids[10])  # seen gone only by a complete scan
    # Four listings go through (nothing changed: nothing is fetched, the catalogue is not
    # asked for), then HubSpot breaks.
    sim.faults.fail_after = 4
    sim.faults.fail_next = 1000
    first = await rig.sync("full")
    assert (first.status, first.fetched, first.deleted) == ("failed", 400, 0)
    sim.faults.fail_next = 0
    lists_before = sim.requests["list"]
    second = await rig.sync("full")
    assert (second.status, second.scan_run_id) == ("succeeded", first.id)
    assert second.fetched == 599  # the pages after the last one committed, not all of them
    assert sim.requests["list"] - lists_before == 6 + 1  # six live pages, one archived
    assert second.deleted == 1  # the absence, confirmed once the pass was complete
    entities = {e["_id"]: e["_deleted"] for e in await rig.feed()}
    assert entities[ids[10]] is True and sum(not d for d in entities.values()) == 999


async def test_an_interrupted_first_full_sync_resumes_and_then_serves(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(700)
    rig = await make_rig(sim, HUBSPOT_MAX_TRIES="1")
    # Properties, three pages (a listing and a batch read each) and the fourth listing page
    # go through; the fifth listing page, asked for while the fourth page's records are
    # read, fails: four pages applied.
    sim.faults.fail_after = 8
    sim.faults.fail_next = 1
    first = await rig.sync("full")
    assert first.status == "failed" and first.created == 400
    assert (await rig.client.get("/contacts")).status == 503  # not complete yet
    second = await rig.sync("full")
    assert (second.status, second.scan_run_id, second.created) == ("succeeded", first.id, 300)
    assert len(await rig.feed()) == 700


async def test_sigterm_commits_the_page_records_the_run_interrupted_and_exits(
    tmp_path: Path, database_url: str
) -> None:
    sim = await SimulatorProcess(tmp_path, 3000).start()
    serve: ServeProcess | None = None
    try:
        await sim.faults(delay_seconds=0.15)  # about 30 list pages: several seconds
        env = {"SYNC_INTERVAL_SECONDS": "0", "FULL_SYNC_CRON": "", "LEASE_SECONDS": "3"}
        serve = await ServeProcess(tmp_path, "serve-1", database_url, sim, **env).start()

        async def scanning() -> bool:
            stats = await sim.call("GET", "/_sim/stats")
            return int(stats["requests"].get("list", 0)) >= 5

        await wait_until(scanning, what="the first full sync to be under way")
        serve.terminate()
        loop = __import__("asyncio").get_running_loop()
        started = loop.time()
        code = await serve.wait()
        assert loop.time() - started < 10, "SIGTERM took longer than 10 s"
        assert code == 0, serve.log()

        store = Store.open(database_url)
        try:
            first = (await store.runs.recent(limit=1))[0]
            assert first.status == "interrupted", first
            assert "service stopped" in (first.error or "")
            position = await store.db.read(
                lambda conn: conn.execute(sa.select(object_state.c.scan_position)).scalar_one()
            )
            saved = orjson.loads(position)
            assert saved["phase"] == "live" and saved["after"], saved
            assert await store.leases.holder("contacts") is None  # handed over at once
        finally:
            await store.close()

        await sim.faults(delay_seconds=0)
        serve = await ServeProcess(tmp_path, "serve-2", database_url, sim, **env).start()

        async def ready() -> bool:
            runs = await serve.admin("GET", "/admin/runs")  # type: ignore[union-attr]
            return any(r["status"] == "succeeded" for r in runs["runs"])

        await wait_until(ready, timeout=60, what="the resumed full sync")
        runs = (await serve.admin("GET", "/admin/runs"))["runs"]
        resumed = next(r for r in runs if r["status"] == "succeeded")
        assert (resumed["trigger"], resumed["scan_run_id"]) == ("resume", first.id)
        assert first.fetched + resumed["fetched"] <= 3000 + 100  # at most the page in flight twice
        status = await serve.admin("GET", "/admin/status")
        assert status["objects"]["contacts"]["live"] == 3000
    finally:
        if serve is not None:
            await serve.stop()
        await sim.stop()
