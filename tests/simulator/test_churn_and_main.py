"""The demo's background churn, and the standalone process."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from proxy.simulator.churn import churn, churn_step
from proxy.simulator.seeding import associate_all
from proxy.simulator.state import HubSpotSimulator, ManualClock

from .conftest import START_MS


def run_steps(seed: int, steps: int) -> HubSpotSimulator:
    clock = ManualClock(START_MS)
    sim = HubSpotSimulator(clock=clock)
    sim.create_contacts(50)
    rng = random.Random(seed)
    for _ in range(steps):
        clock.advance(1000)
        churn_step(sim, rng)
    return sim


def test_churn_makes_every_kind_of_change_deterministically() -> None:
    sim = run_steps(seed=3, steps=300)
    again = run_steps(seed=3, steps=300)

    assert sim.live_ids() == again.live_ids()
    assert sim.archived_ids() == again.archived_ids()
    live = [sim.contact(i) for i in sim.live_ids()]
    assert sum(r["updatedAt"] != r["createdAt"] for r in live) > 40  # updates
    assert int(sim.live_ids()[-1]) > 50  # creations or merges
    assert sim.archived_ids()  # archives
    assert any(r["properties"]["hs_merged_object_ids"] for r in live)  # merges


async def test_churn_loop_ticks_until_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(20)
    ticked = asyncio.Event()
    real_update = sim.update

    def update_and_signal(*args: Any, **kwargs: Any) -> None:
        real_update(*args, **kwargs)
        ticked.set()

    monkeypatch.setattr(sim, "update", update_and_signal)
    stop = asyncio.Event()
    task = asyncio.create_task(churn(sim, interval_s=0.001, rng=random.Random(1), stop=stop))
    await asyncio.wait_for(ticked.wait(), timeout=5)
    stop.set()
    await asyncio.wait_for(task, timeout=5)


@contextlib.asynccontextmanager
async def simulator_process(*args: str) -> AsyncIterator[str]:
    """``python -m proxy.simulator`` on a free port; yields its base URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy.simulator", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode()
        assert line.startswith("simulator listening on http://127.0.0.1:")
        yield line.split()[-1]
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0


async def test_standalone_process_serves_and_announces_itself() -> None:
    args = ("--contacts", "25", "--token", "t0k", "--rate-limit-per-10s", "7")
    async with (
        simulator_process(*args) as base_url,
        aiohttp.ClientSession(headers={"Authorization": "Bearer t0k"}) as session,
        session.get(f"{base_url}/crm/v3/objects/contacts", params={"limit": 100}) as response,
    ):
        assert response.status == 200
        assert response.headers["X-HubSpot-RateLimit-Max"] == "7"
        assert len((await response.json())["results"]) == 25


async def test_a_simulator_process_is_changed_and_read_back_over_http() -> None:
    async with (
        simulator_process("--contacts", "3", "--token", "t0k") as base_url,
        aiohttp.ClientSession(base_url) as session,
    ):

        async def call(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
            async with session.request(method, path, **kwargs) as response:
                return response.status, await response.json()

        assert await call("POST", "/_sim/mutate", json={"op": "create", "n": 2}) == (
            200,
            {"ids": ["4", "5"]},
        )
        merge = {"op": "merge", "primary": "1", "other": "2"}
        assert await call("POST", "/_sim/mutate", json=merge) == (200, {"id": "6"})
        assert (await call("POST", "/_sim/mutate", json={"op": "archive", "id": "3"}))[0] == 200
        status, state = await call("GET", "/_sim/snapshot")
        assert status == 200
        assert list(state["live"]) == ["4", "5", "6"]
        assert state["archived"] == ["3"]

        faults = {"list_cut_after": 0, "list_cut_mode": "empty"}
        assert (await call("POST", "/_sim/faults", json=faults))[0] == 200
        headers = {"Authorization": "Bearer t0k", "User-Agent": "proxy-run-1"}
        assert await call("GET", "/crm/v3/objects/contacts", headers=headers) == (
            200,
            {"results": []},
        )
        status, log = await call("GET", "/_sim/log")
        assert [(e["client"], e["route"], e["status"]) for e in log["entries"]] == [
            ("proxy-run-1", "list", 200)
        ]
        assert isinstance(log["entries"][0]["t"], float)


def test_churn_touches_every_seeded_type_and_their_links() -> None:
    clock = ManualClock(START_MS)
    sim = HubSpotSimulator(clock=clock)
    sim.create_contacts(30)
    for name in ("companies", "deals", "tickets", "products", "line_items"):
        sim.objects(name).create(20)
    associate_all(sim, random.Random(0))
    links_before = sim.associations_snapshot("deals")
    rng = random.Random(5)
    for _ in range(300):
        clock.advance(1000)
        churn_step(sim, rng)

    for name in ("companies", "deals", "tickets", "products", "line_items"):
        store = sim.objects(name)
        records = [store.record(i) for i in store.live_ids()]
        assert sum(r["updatedAt"] != r["createdAt"] for r in records) > 5, name
        assert int(store.live_ids()[-1]) > 20, name  # creations (or merges)
    companies = sim.objects("companies")
    assert any(
        companies.record(i)["properties"]["hs_merged_object_ids"] for i in companies.live_ids()
    )
    assert sim.associations_snapshot("deals") != links_before  # links came and went


def test_associate_all_links_what_was_seeded() -> None:
    sim = HubSpotSimulator(clock=ManualClock(START_MS))
    sim.create_contacts(10)
    sim.objects("companies").create(3)
    sim.objects("deals").create(4)
    sim.define_custom_object("pets", ["pet_name"])
    sim.objects("pets").create(2)

    made = associate_all(sim, random.Random(1))

    assert made == 10 + 4 + 4 + 2  # no tickets or line items: nothing to link them with
    for contact in sim.live_ids():
        [(_, types)] = sim.associations("contacts", contact, "companies")
        assert [t.label for t in types] == [None, "Primary"]
    for deal in sim.objects("deals").live_ids():
        assert len(sim.associations("deals", deal, "contacts")) == 1
        assert len(sim.associations("deals", deal, "companies")) == 1
    assert len(sim.associations("pets", "1", "contacts")) == 1


async def test_a_process_seeds_several_types_custom_objects_and_links() -> None:
    args = (
        "--contacts", "30", "--companies", "5", "--deals", "8", "--line-items", "3",
        "--custom-object", "pets=pet_name,species:4", "--associate", "--extra-properties", "2",
        "--custom-properties", "586", "--token", "t0k",
    )  # fmt: skip
    async with (
        simulator_process(*args) as base_url,
        aiohttp.ClientSession(base_url, headers={"Authorization": "Bearer t0k"}) as session,
    ):

        async def call(method: str, path: str, **kwargs: Any) -> Any:
            async with session.request(method, path, **kwargs) as response:
                assert response.status == 200, await response.text()
                return await response.json()

        stats = await call("GET", "/_sim/stats", params={"object_type": "deals"})
        assert stats["live"] == 8
        assert {name: t["live"] for name, t in stats["types"].items()} == {
            "contacts": 30, "companies": 5, "deals": 8, "tickets": 0, "products": 0,
            "line_items": 3, "pets": 4,
        }  # fmt: skip
        schemas = await call("GET", "/crm-object-schemas/v3/schemas")
        assert [s["name"] for s in schemas["results"]] == ["pets"]
        props = await call("GET", "/crm/v3/properties/contacts")
        assert len(props["results"]) == 600
        props = await call("GET", "/crm/v3/properties/companies")
        assert len([p for p in props["results"] if not p["hubspotDefined"]]) == 2
        links = await call(
            "POST",
            "/crm/v4/associations/deals/companies/batch/read",
            json={"inputs": [{"id": str(i)} for i in range(1, 9)]},
        )
        assert len(links["results"]) == 8
        snapshot = await call("GET", "/_sim/snapshot", params={"object_type": "line_items"})
        assert len(snapshot["associations"]["deals"]) == 3
