"""The REST simulator's controls over HTTP (mutations, faults, stats), and Link headers."""

from __future__ import annotations

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
