"""Concurrent pulls through the real app: at most the configured number of feed responses
stream at once, the others wait their turn and then complete, and one that waits too long
gets a 503 it can retry."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from proxy.api.keys import FEED_SLOTS
from proxy.api.slots import FeedSlots
from proxy.app import create_app
from tests.api.conftest import store_of
from tests.api.test_feed import complete_mirror
from tests.conftest import make_settings

AiohttpClient = Callable[[web.Application], Awaitable[TestClient]]


async def app_client(
    aiohttp_client: AiohttpClient, database_url: str, concurrency: int, wait_s: float = 60.0
) -> TestClient:
    app = create_app(
        make_settings(database_url),
        schedule=False,
        feed_concurrency=concurrency,
        feed_slot_wait_s=wait_s,
    )
    return await aiohttp_client(app)


def slots_of(client: TestClient) -> FeedSlots:
    return client.app[FEED_SLOTS]  # type: ignore[index]


async def pull(client: TestClient, query: str) -> list[dict]:
    resp = await client.get("/contacts" + query)
    body = await resp.read()
    assert resp.status == 200, body
    entities = orjson.loads(body)
    assert isinstance(entities, list)
    return entities


async def test_pulls_beyond_the_limit_wait_for_a_slot_then_complete(
    aiohttp_client: AiohttpClient, database_url: str
) -> None:
    client = await app_client(aiohttp_client, database_url, concurrency=1)
    base = await complete_mirror(store_of(client), 300)
    slots = slots_of(client)
    queries = ["", f"?since={base + 100}", f"?limit=50&since={base + 250}"]
    # The one slot is taken, as a pull in progress would take it.
    async with slots.slot():
        pulls = [asyncio.create_task(pull(client, q)) for q in queries]
        await slots.wait_until(lambda s: s.waiting == len(queries))
        assert slots.streaming == 1
        assert not any(p.done() for p in pulls), "a pull streamed without a slot"
    results = await asyncio.gather(*pulls)
    assert [[e["_updated"] - base for e in r] for r in results] == [
        list(range(1, 301)),
        list(range(101, 301)),
        list(range(251, 301)),
    ]
    assert (slots.streaming, slots.waiting) == (0, 0)


async def test_many_concurrent_pulls_all_complete_within_two_slots(
    aiohttp_client: AiohttpClient, database_url: str
) -> None:
    client = await app_client(aiohttp_client, database_url, concurrency=2)
    base = await complete_mirror(store_of(client), 400)
    # (since relative to the mirror's first number, limit); None: not sent
    asks: list[tuple[int | None, int | None]] = [
        (since, limit) for since in (0, 90, 333) for limit in (1, 7, 1000)
    ]
    asks += [(None, None), (None, None), (399, None)]
    queries = [
        "?"
        + "&".join(
            ([f"since={base + since}"] if since is not None else [])
            + ([f"limit={limit}"] if limit is not None else [])
        )
        for since, limit in asks
    ]
    results = await asyncio.gather(*(pull(client, q) for q in queries))
    for (since, limit), query, entities in zip(asks, queries, results, strict=True):
        start, cap = since or 0, limit or 10**9
        expected = list(range(start + 1, min(400, start + cap) + 1))
        assert [e["_updated"] - base for e in entities] == expected, query
        assert len({e["_id"] for e in entities}) == len(expected)
    assert (slots_of(client).streaming, slots_of(client).waiting) == (0, 0)


async def test_a_pull_that_waits_too_long_gets_503_with_retry_after(
    aiohttp_client: AiohttpClient, database_url: str
) -> None:
    client = await app_client(aiohttp_client, database_url, concurrency=1, wait_s=0.05)
    await complete_mirror(store_of(client), 3)
    async with slots_of(client).slot():  # taken for the whole wait
        resp = await client.get("/contacts")
        assert resp.status == 503
        assert resp.headers["Content-Type"].startswith("application/json")
        assert int(resp.headers["Retry-After"]) > 0
        assert "try again later" in (await resp.json())["error"]
    assert len(await pull(client, "")) == 3  # and once a slot is free, it is served
    metrics = await (await client.get("/metrics")).text()
    assert 'change_proxy_feed_requests_total{object_type="contacts",status="503"} 1.0' in metrics
