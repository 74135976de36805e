"""The REST simulator's controls over HTTP (mutations, faults, stats), and Link headers."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

import aiohttp
import orjson

from proxy.simulator.rest import RestSimulator
from proxy.sources.rest.paging import next_from_link_header

from .conftest import N_RECORDS, STYLES, Upstream, collect, ids_of


async def test_mutations_over_http_reach_the_listing(upstream: Upstream) -> None:
    session, base = upstream.session, upstream.base

    async def mutate(**body: object) -> int:
        async with session.post(f"{base}/_sim/mutate", json=body) as resp:
            return resp.status

    assert await mutate(op="create", name="new") == 200
    assert await mutate(op="update", id=2, name="renamed") == 200
    assert await mutate(op="delete", id=3) == 200
    assert await mutate(op="soft_delete", id=4) == 200
    assert await mutate(op="delete", id=999) == 404
    assert await mutate(op="explode", id=1) == 400
    source = upstream.source(
        {**STYLES["cursor"], "deleted": {"path": "status", "equals": "cancelled"}}
    )
    pages, _ = await collect(source)
    records = {r.id: r for p in pages for r in p.records}
    assert set(records) == {str(i) for i in range(1, N_RECORDS + 2)} - {"3"}
    assert records["4"].deleted and b"renamed" in records["2"].data
    async with session.get(f"{base}/_sim/stats") as resp:
        stats = await resp.json()
    assert stats["records"] == N_RECORDS and stats["pages"] == len(pages)


async def test_faults_over_http(upstream: Upstream) -> None:
    async with upstream.session.post(
        f"{upstream.base}/_sim/faults", json={"fail_on_request": [1], "delay_s": 0}
    ) as resp:
        assert resp.status == 200
    pages, _ = await collect(upstream.source(STYLES["none"]))
    assert len(ids_of(pages)) == N_RECORDS and upstream.sim.counters.requests == 2
    async with upstream.session.post(f"{upstream.base}/_sim/faults", json={"nope": 1}) as resp:
        assert resp.status == 400


def test_link_header_parsing() -> None:
    header = (
        '<https://x.test/a?page=1>; rel="prev first", '
        '<https://x.test/a?page=3&q=a,b>; rel="next last"; title="x"'
    )
    assert next_from_link_header(header) == "https://x.test/a?page=3&q=a,b"
    assert next_from_link_header("<https://x.test/b>; rel=next") == "https://x.test/b"
    assert next_from_link_header('<https://x.test/a>; rel="prev"') is None
    assert next_from_link_header(None) is None


async def test_padding_makes_records_of_a_chosen_size_that_differ() -> None:
    sim = RestSimulator(3, padding=900)
    notes = [r["notes"] for r in sim.ordered()]
    assert [len(n) for n in notes] == [900, 900, 900] and len(set(notes)) == 3
    assert 950 < len(orjson.dumps(sim.records[2])) < 1100
    assert "notes" not in RestSimulator(1).records[1]


async def test_the_ordered_view_follows_creates_and_deletes() -> None:
    sim = RestSimulator(5)
    assert [r["id"] for r in sim.after(2, 2)] == [3, 4]
    sim.delete(3)
    sim.insert_front()
    assert [r["id"] for r in sim.after(None)] == [0, 1, 2, 4, 5]
    assert [r["id"] for r in sim.after(2, 2)] == [4, 5]
    assert sim.after(5) == []


@contextlib.asynccontextmanager
async def rest_simulator_process(*args: str) -> AsyncIterator[str]:
    """``python -m proxy.simulator.rest`` on a free port; yields its base URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy.simulator.rest", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode()
        assert line.startswith("rest simulator listening on http://127.0.0.1:")
        yield line.split()[-1]
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0


async def test_a_process_serves_padded_records_and_conditional_requests_on_request() -> None:
    args = ("--records", "12", "--padding", "100", "--no-conditional")
    async with rest_simulator_process(*args) as base, aiohttp.ClientSession(base) as session:
        url = "/cursor/orders?limit=5"
        async with session.get(url) as resp:
            page = await resp.json()
            assert resp.status == 200 and "ETag" not in resp.headers
        assert [r["id"] for r in page["data"]] == [1, 2, 3, 4, 5] and page["has_more"]
        assert all(len(r["notes"]) == 100 for r in page["data"])
        async with session.post("/_sim/conditional", json={"on": "yes"}) as resp:
            assert resp.status == 400
        async with session.post("/_sim/conditional", json={"on": True}) as resp:
            assert resp.status == 200
        async with session.get(url) as resp:
            etag = resp.headers["ETag"]
        async with session.get(url, headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304
        async with session.get("/_sim/stats") as resp:
            stats = await resp.json()
        assert (stats["pages"], stats["not_modified"], stats["conditional"]) == (2, 1, True)
