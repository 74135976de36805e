"""The request log (``GET /_sim/log``) and per-client counts in ``/_sim/stats``, over HTTP."""

from __future__ import annotations

from typing import Any

from proxy.simulator.requestlog import RequestLog
from proxy.simulator.state import HubSpotSimulator

from .conftest import CONTACTS, SEARCH, Client, FakeMonotonic

A = {"User-Agent": "proxy-A"}
B = {"User-Agent": "proxy-B"}


async def read_log(client: Client, after: int | None = None) -> dict[str, Any]:
    params = {} if after is None else {"after": after}
    response = await client.get("/_sim/log", params=params, headers={"Authorization": ""})
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_every_api_request_is_logged_with_client_route_status_and_time(
    client: Client, sim: HubSpotSimulator, monotonic: FakeMonotonic
) -> None:
    sim.create_contacts(2)
    start = monotonic.now

    await client.get(CONTACTS, headers=A)
    monotonic.advance(1.5)
    await client.get(f"{CONTACTS}/99", headers=B)  # 404
    await client.post(SEARCH, json={}, headers=A)
    monotonic.advance(0.25)
    await client.post(f"{CONTACTS}/batch/read", json={"inputs": [{"id": "1"}]}, headers=B)
    await client.get("/crm/v3/properties/contacts", headers={**A, "Authorization": "nope"})
    await client.get("/crm/v3/no/such/route", headers=B)  # aiohttp's own 404
    sim.faults.rate_limit_next = 1
    await client.get(CONTACTS, headers=A)
    await client.get("/_sim/stats", headers=A)  # the simulator's own routes are not logged
    await client.get(CONTACTS, skip_auto_headers=["User-Agent"])

    log = await read_log(client)

    assert log["next"] == 8
    assert log["entries"] == [
        {"seq": 1, "t": start, "client": "proxy-A", "route": "list", "status": 200},
        {"seq": 2, "t": start + 1.5, "client": "proxy-B", "route": "get", "status": 404},
        {"seq": 3, "t": start + 1.5, "client": "proxy-A", "route": "search", "status": 200},
        {"seq": 4, "t": start + 1.75, "client": "proxy-B", "route": "batch_read", "status": 200},
        {"seq": 5, "t": start + 1.75, "client": "proxy-A", "route": "properties", "status": 401},
        {"seq": 6, "t": start + 1.75, "client": "proxy-B", "route": "other", "status": 404},
        {"seq": 7, "t": start + 1.75, "client": "proxy-A", "route": "list", "status": 429},
        {"seq": 8, "t": start + 1.75, "client": "", "route": "list", "status": 200},
    ]

    stats = await (await client.get("/_sim/stats")).json()
    assert stats["clients"] == {"proxy-A": 4, "proxy-B": 3, "": 1}


async def test_polling_incrementally(client: Client, sim: HubSpotSimulator) -> None:
    empty = await read_log(client)
    assert empty == {"entries": [], "next": 0}

    await client.get(CONTACTS, headers=A)
    await client.get(CONTACTS, headers=A)
    first = await read_log(client, after=empty["next"])
    assert [e["seq"] for e in first["entries"]] == [1, 2]

    await client.get(CONTACTS, headers=B)
    second = await read_log(client, after=first["next"])
    assert [(e["seq"], e["client"]) for e in second["entries"]] == [(3, "proxy-B")]
    assert await read_log(client, after=second["next"]) == {"entries": [], "next": 3}
    # A number from the future (say, of a simulator since restarted) gets the current one.
    assert await read_log(client, after=50) == {"entries": [], "next": 3}

    bad = await client.get("/_sim/log", params={"after": "x"})
    assert bad.status == 400


async def test_only_the_newest_entries_are_kept_but_every_request_is_counted(
    client: Client, sim: HubSpotSimulator
) -> None:
    sim.request_log = RequestLog(max_entries=3)
    for _ in range(5):
        await client.get(CONTACTS, headers=A)

    log = await read_log(client)
    assert [e["seq"] for e in log["entries"]] == [3, 4, 5]
    assert log["next"] == 5
    assert [e["seq"] for e in (await read_log(client, after=1))["entries"]] == [3, 4, 5]
    assert [e["seq"] for e in (await read_log(client, after=4))["entries"]] == [5]
    stats = await (await client.get("/_sim/stats")).json()
    assert stats["clients"] == {"proxy-A": 5}
