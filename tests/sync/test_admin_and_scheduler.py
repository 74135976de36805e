"""Admin routes and the scheduler through the real app."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.api.keys import SCHEDULER
from proxy.app import create_app
from proxy.simulator import HubSpotSimulator
from proxy.simulator import create_app as create_simulator
from tests.conftest import make_settings
from tests.helpers import base_of
from tests.sync.conftest import ADMIN, RigFactory

AUTH = {"Authorization": f"Bearer {ADMIN}"}


async def test_admin_routes_require_the_token(make_rig: RigFactory) -> None:
    rig = await make_rig()
    for method, path in (
        ("POST", "/admin/resync?mode=full"),
        ("GET", "/admin/runs"),
        ("GET", "/admin/runs/1"),
        ("GET", "/admin/status"),
    ):
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": ADMIN}):
            resp = await rig.client.request(method, path, headers=headers)
            assert resp.status == 401, (method, path, headers)
            assert "error" in await resp.json()


async def test_admin_routes_are_forbidden_without_a_configured_token(make_rig: RigFactory) -> None:
    rig = await make_rig(ADMIN_TOKEN=None)
    resp = await rig.client.get("/admin/status", headers=AUTH)
    assert resp.status == 403
    assert "ADMIN_TOKEN" in (await resp.json())["error"]


async def test_resync_and_run_records(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(120)
    rig = await make_rig(sim)
    base = await base_of(rig.store)
    resp = await rig.client.post("/admin/resync?object=contacts&mode=full", headers=AUTH)
    assert resp.status == 202
    run_id = (await resp.json())["run_id"]
    await rig.scheduler.idle()
    body = await (await rig.client.get(f"/admin/runs/{run_id}", headers=AUTH)).json()
    assert body["id"] == run_id and body["object"] == "contacts" and body["mode"] == "full"
    assert body["status"] == "succeeded" and body["created"] == 120 and body["error"] is None
    assert body["requests"] >= 3 and body["started_at"] <= body["finished_at"]
    listing = await (await rig.client.get("/admin/runs", headers=AUTH)).json()
    assert [r["id"] for r in listing["runs"]] == [run_id]
    status = await (await rig.client.get("/admin/status", headers=AUTH)).json()
    contacts = status["objects"]["contacts"]
    assert contacts["ready"] and contacts["live"] == 120 and contacts["last_updated"] == base + 120
    assert contacts["last_full_run"]["id"] == run_id and contacts["watermark"]
    assert status["upstream"]["last_announced"]["max"] > 0


@pytest.mark.parametrize(
    ("query", "status"),
    [("object=deals&mode=full", 400), ("object=contacts&mode=sideways", 400)],
)
async def test_resync_rejects_bad_parameters(make_rig: RigFactory, query: str, status: int) -> None:
    rig = await make_rig()
    resp = await rig.client.post(f"/admin/resync?{query}", headers=AUTH)
    assert resp.status == status and "error" in await resp.json()


async def test_unknown_and_malformed_run_ids(make_rig: RigFactory) -> None:
    rig = await make_rig()
    assert (await rig.client.get("/admin/runs/999", headers=AUTH)).status == 404
    assert (await rig.client.get("/admin/runs/abc", headers=AUTH)).status in (400, 404)


async def test_runs_of_one_object_queue_and_never_overlap(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(500)
    rig = await make_rig(sim)
    first = await rig.client.post("/admin/resync?mode=full", headers=AUTH)
    second = await rig.client.post("/admin/resync?mode=incremental", headers=AUTH)
    third = await rig.client.post("/admin/resync?mode=incremental", headers=AUTH)
    ids = [(await r.json())["run_id"] for r in (first, second, third)]
    assert ids[1] == ids[2]  # a waiting incremental is not queued twice
    await rig.scheduler.idle()
    runs = [await rig.store.runs.get(i) for i in ids[:2]]
    assert all(r is not None and r.status == "succeeded" for r in runs)
    full, incremental = runs
    assert full is not None and incremental is not None
    assert full.finished_at is not None and incremental.started_at is not None
    assert incremental.started_at >= full.finished_at


async def test_an_incremental_without_any_full_sync_runs_as_full(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(30)
    rig = await make_rig(sim)
    run = await rig.sync("incremental")
    assert (run.mode, run.status, run.created) == ("full", "succeeded", 30)
    assert (await rig.client.get("/contacts")).status == 200


async def test_the_scheduler_runs_a_full_sync_at_start(
    aiohttp_client: Any, aiohttp_server: Any, database_url: str
) -> None:

    sim = HubSpotSimulator()
    sim.create_contacts(40)
    server = await aiohttp_server(create_simulator(sim))
    settings = make_settings(
        database_url,
        HUBSPOT_BASE_URL=str(server.make_url("")).rstrip("/"),
        HUBSPOT_ACCESS_TOKEN=sim.token,
        SYNC_INTERVAL_SECONDS="3600",
        FULL_SYNC_CRON="0 3 * * *",
    )
    client = await aiohttp_client(create_app(settings))
    scheduler = client.app[SCHEDULER]
    await scheduler.idle()
    resp = await client.get("/contacts")
    assert resp.status == 200 and len(await resp.json()) == 40
    described = await scheduler.describe("contacts")
    assert described["next_runs"]["full"] and described["next_runs"]["incremental"]


async def test_metrics_count_sync_runs_and_changes(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(42)
    rig = await make_rig(sim)
    run = await rig.sync("full")
    text = await (await rig.client.get("/metrics")).text()
    assert (
        'change_proxy_sync_runs_total{mode="full",object_type="contacts",status="succeeded"} 1.0'
        in text
    )
    assert 'change_proxy_sync_changes_total{kind="created",object_type="contacts"} 42.0' in text
    assert (
        f'change_proxy_upstream_requests_total{{object_type="contacts"}} {run.requests}.0' in text
    )
