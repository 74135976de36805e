"""The Sesam JSON-pull feed through the real app on a real database."""

from __future__ import annotations

import json

import orjson
import pytest
from aiohttp.test_utils import TestClient

from proxy.store import Store
from tests.api.conftest import ClientFactory, store_of
from tests.helpers import archived, base_of, complete_scan, contact, incoming


async def complete_mirror(store: Store, n: int) -> int:
    """``n`` contacts in a complete mirror; returns the number the feed's ``_updated``
    values start after (the mirror's sequence base)."""
    base = await base_of(store)
    scan = await store.begin_run("contacts")
    for start in range(1, n + 1, 100):
        await scan.apply_page(
            incoming(*(contact(i) for i in range(start, min(start + 100, n + 1))))
        )
    await complete_scan(store, scan)
    await scan.finish("succeeded")
    return base


async def get_json(client: TestClient, path: str, status: int = 200) -> object:
    resp = await client.get(path)
    body = await resp.read()
    assert resp.status == status, body
    assert resp.headers["Content-Type"].startswith("application/json")
    return orjson.loads(body)


async def test_503_with_retry_after_until_the_first_full_sync_completes(client: TestClient) -> None:
    store = store_of(client)
    scan = await store.begin_run("contacts")
    await scan.apply_page(incoming(contact(1)))
    for path in ("/contacts", "/get_contacts", "/contacts?since=0"):
        resp = await client.get(path)
        assert resp.status == 503
        assert int(resp.headers["Retry-After"]) > 0
        assert "first full sync" in (await resp.json())["error"]
    await complete_scan(store, scan)
    assert len(await get_json(client, "/contacts")) == 1  # type: ignore[arg-type]


async def test_full_pull_returns_every_entity_in_order_with_sesam_fields(
    client: TestClient,
) -> None:
    base = await complete_mirror(store_of(client), 250)
    entities = await get_json(client, "/contacts")
    assert isinstance(entities, list) and len(entities) == 250
    assert [e["_updated"] for e in entities] == list(range(base + 1, base + 251))
    first = entities[0]
    assert first["_id"] == first["id"] == "1" and first["_deleted"] is False
    original = contact(1)
    assert {k: v for k, v in first.items() if not k.startswith("_")} == original
    assert await get_json(client, "/get_contacts") == entities


async def test_since_returns_only_later_changes(client: TestClient) -> None:
    store = store_of(client)
    base = await complete_mirror(store, 10)
    await store.changes.apply_page("contacts", incoming(contact(3, version=1)))
    await store.changes.mark_deleted("contacts", ["5"])
    entities = await get_json(client, f"/contacts?since={base + 10}")
    assert [(e["_id"], e["_updated"] - base, e["_deleted"]) for e in entities] == [  # type: ignore[union-attr]
        ("3", 11, False),
        ("5", 12, True),
    ]
    assert entities[1]["properties"]["email"] == contact(5)["properties"]["email"]  # type: ignore[index]
    assert await get_json(client, f"/contacts?since={base + 12}") == []
    full = await get_json(client, "/contacts")
    assert [e["_id"] for e in full].count("3") == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("page", [1, 7, 100, 1000])
async def test_limit_paging_yields_every_entity_exactly_once(client: TestClient, page: int) -> None:
    store = store_of(client)
    await complete_mirror(store, 120)
    await store.changes.apply_page(
        "contacts", incoming(archived(contact(4)), contact(7, version=3))
    )
    since, seen = None, []
    while True:
        query = f"?limit={page}" + (f"&since={since}" if since is not None else "")
        batch = await get_json(client, "/contacts" + query)
        assert isinstance(batch, list) and len(batch) <= page
        if not batch:
            break
        seen.extend(batch)
        since = batch[-1]["_updated"]
    assert len(seen) == 120 and len({e["_id"] for e in seen}) == 120
    assert [e["_updated"] for e in seen] == sorted(e["_updated"] for e in seen)
    assert next(e for e in seen if e["_id"] == "4")["_deleted"] is True


@pytest.mark.parametrize(
    "query",
    [
        "since=abc",
        "since=-1",
        "since=1.5",
        "since=1e3",
        "since=",
        "since=%00%ff",
        "since=%D9%A3",  # an Arabic-Indic digit: decimal to Python, not to us
        "since=99999999999999999999999999",
        "since=9223372036854775808",
        "limit=0",
        "limit=-5",
        "limit=ten",
        "limit=",
        "limit=123456789012345678901234567890",
        "since=2024-13-01T00:00:00Z",  # a timestamp that is no time
        "since=2024-01-01T25:00",
    ],
)
async def test_malformed_parameters_get_400_with_json_error(client: TestClient, query: str) -> None:
    await complete_mirror(store_of(client), 3)
    body = await get_json(client, "/contacts?" + query, status=400)
    assert isinstance(body, dict) and isinstance(body["error"], str) and body["error"]


async def test_since_ahead_of_the_feed_is_refused_not_silently_empty(client: TestClient) -> None:
    base = await complete_mirror(store_of(client), 3)
    body = await get_json(client, f"/contacts?since={base + 4}", status=400)
    assert "reset the pipe" in body["error"]  # type: ignore[index]


async def test_unknown_parameters_are_ignored(client: TestClient) -> None:
    await complete_mirror(store_of(client), 3)
    assert len(await get_json(client, "/contacts?subset=x&foo=bar&limit=2")) == 2  # type: ignore[arg-type]


async def test_unknown_path_is_a_json_404(client: TestClient) -> None:
    body = await get_json(client, "/deals", status=404)
    assert "error" in body  # type: ignore[operator]


async def test_feed_token_is_required_when_configured(make_client: ClientFactory) -> None:
    client = await make_client(FEED_TOKEN="feed-secret-123")
    await complete_mirror(store_of(client), 2)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        resp = await client.get("/contacts", headers=headers)
        assert resp.status == 401 and "error" in await resp.json()
        assert "feed-secret-123" not in await resp.text()
    resp = await client.get("/contacts", headers={"Authorization": "Bearer feed-secret-123"})
    assert resp.status == 200 and len(await resp.json()) == 2


async def test_response_is_streamed_chunked(client: TestClient) -> None:
    await complete_mirror(store_of(client), 5000)
    resp = await client.get("/contacts")
    assert resp.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in resp.headers
    assert len(json.loads(await resp.read())) == 5000


async def test_a_failure_after_streaming_began_leaves_the_json_invalid(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_of(client)
    await complete_mirror(store, 5000)
    real_feed = store.reader.feed_json

    async def failing_feed(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        async for rows in real_feed(*args, **kwargs):  # type: ignore[arg-type]
            yield rows
            raise ConnectionError("database went away mid-stream")

    monkeypatch.setattr(store.reader, "feed_json", failing_feed)
    resp = await client.get("/contacts")
    assert resp.status == 200  # the status line was already sent
    with pytest.raises(Exception) as err:  # noqa: PT011 - any failure to read a whole array
        json.loads(await resp.read())
    assert not isinstance(err.value, AssertionError)


async def test_health_reports_database_and_readiness(client: TestClient) -> None:
    body = await get_json(client, "/health")
    assert isinstance(body, dict)
    assert (body["status"], body["database"]) == ("ok", "ok")
    contacts = body["objects"]["contacts"]
    base = await base_of(store_of(client))
    assert (contacts["ready"], contacts["last_updated"], contacts["healthy"]) == (False, base, True)
    assert contacts["worker_alive"] and contacts["problems"] == []
    await complete_mirror(store_of(client), 4)
    body = await get_json(client, "/health")
    assert isinstance(body, dict)
    contacts = body["objects"]["contacts"]
    assert (contacts["ready"], contacts["last_updated"]) == (True, base + 4)


async def test_metrics_count_feed_requests(client: TestClient) -> None:
    await complete_mirror(store_of(client), 4)
    await (await client.get("/contacts")).read()
    await (await client.get("/contacts?since=x")).read()
    text = await (await client.get("/metrics")).text()
    assert 'change_proxy_feed_requests_total{object_type="contacts",status="200"} 1.0' in text
    assert 'change_proxy_feed_requests_total{object_type="contacts",status="400"} 1.0' in text
    assert 'change_proxy_feed_entities_total{object_type="contacts"} 4.0' in text


async def test_an_iso_since_from_the_tutorial_service_switches_over_without_a_reset(
    client: TestClient,
) -> None:
    """The tutorial's service emitted HubSpot's modification time as ``_updated``: a pipe
    holding one gets every entity changed at or after it, under this feed's own numbers,
    and continues from those."""
    from datetime import UTC, datetime, timedelta

    from proxy.diff import Fingerprinter, prepare

    store = store_of(client)
    base = await complete_mirror(store, 10)
    switched = datetime.now(UTC)
    await store.changes.apply_page("contacts", incoming(contact(3, version=1)))
    await store.changes.mark_deleted("contacts", ["5"])
    # Modified in HubSpot after that time, though the mirror changed it before (clock skew).
    later_ms = int((switched + timedelta(seconds=5)).timestamp() * 1000)
    await store.changes.apply_page(
        "contacts", prepare([contact(11)], Fingerprinter(), lambda _: later_ms)
    )
    stamp = switched.isoformat(timespec="microseconds").replace("+00:00", "Z")
    for since in (stamp, "~t" + stamp, stamp.removesuffix("Z")):
        for path in ("/get_contacts", "/contacts"):
            entities = await get_json(client, f"{path}?since={since}")
            assert [(e["_id"], e["_updated"] - base) for e in entities] == [  # type: ignore[union-attr]
                ("3", 11),
                ("5", 12),
                ("11", 13),
            ], (path, since)
    # The pipe goes on from the integers it now holds.
    assert await get_json(client, f"/contacts?since={base + 13}") == []
    future = (switched + timedelta(days=1)).isoformat()
    assert await get_json(client, f"/contacts?since={future.replace('+', '%2B')}") == []
