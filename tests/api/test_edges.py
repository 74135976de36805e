"""Hostile or odd requests get clear 4xx answers, never a 500: numbers in paths and query
strings, headers that are not UTF-8, oversized bodies."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient

from tests.api.conftest import ClientFactory

ADMIN = {"Authorization": "Bearer admin-token-for-edge-tests"}


@pytest.fixture
async def admin_client(make_client: ClientFactory) -> TestClient:
    return await make_client(ADMIN_TOKEN="admin-token-for-edge-tests")


@pytest.mark.parametrize(
    "path",
    [
        "/admin/runs/²",  # a digit to str.isdigit, not to int
        "/admin/runs/%D9%A3",  # an Arabic-Indic digit
        "/admin/runs/0",
        "/admin/runs/99999999999",  # past a Postgres INTEGER
        "/admin/runs/-1",
        "/admin/runs?limit=²",
        "/admin/runs?limit=0",
        "/admin/runs?limit=1001",
        "/admin/runs?limit=-1",
        "/admin/deletions/confirm?run_id=²",
    ],
)
async def test_malformed_numbers_are_400_with_the_same_wording(
    admin_client: TestClient, path: str
) -> None:
    method = "POST" if "confirm" in path else "GET"
    resp = await admin_client.request(method, path, headers=ADMIN)
    body = await resp.json()
    assert resp.status == 400, body
    assert "must be an integer from" in body["error"]


async def test_a_missing_run_is_404(admin_client: TestClient) -> None:
    resp = await admin_client.get("/admin/runs/2147483647", headers=ADMIN)
    assert resp.status == 404 and "error" in await resp.json()


async def _raw_request(client: TestClient, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()


@pytest.mark.parametrize("path", [b"/admin/status", b"/contacts"])
async def test_an_authorization_header_that_is_not_utf8_is_401(
    make_client: ClientFactory, path: bytes
) -> None:
    client = await make_client(ADMIN_TOKEN="admin-token-for-edge-tests", FEED_TOKEN="feed-tok")
    answer = await _raw_request(
        client,
        b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\xfd\r\n"
        b"Connection: close\r\n\r\n",
    )
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 401"), answer[:300]
    assert b'"error"' in answer


async def test_resync_without_a_mode_is_400(admin_client: TestClient) -> None:
    resp = await admin_client.post("/admin/resync", headers=ADMIN)
    body = await resp.json()
    assert resp.status == 400 and "mode is required" in body["error"]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_commits_are_durable_before_they_return(database_url: str) -> None:
    """synchronous=FULL: after a power cut no committed change number comes back to be
    handed out again (NORMAL may lose the last commits of a WAL database)."""
    from proxy.store import Store

    store = Store.open(database_url)
    try:

        def read(conn: object) -> int:
            return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())  # type: ignore[attr-defined]

        assert await store.db.read(read) == 2  # FULL
        async with store.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar_one() == 2
    finally:
        await store.close()


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_tokens_come_as_bearer_basic_password_or_the_admin_header(
    make_client: ClientFactory,
) -> None:
    """Sesam's microservice system authenticates with Basic only, and a request through a
    Sesam node's system proxy carries the node's JWT in Authorization."""
    from tests.api.conftest import store_of
    from tests.api.test_feed import complete_mirror

    client = await make_client(ADMIN_TOKEN="admin-secret-1", FEED_TOKEN="feed-secret-1")
    await complete_mirror(store_of(client), 2)
    for headers in (
        {"Authorization": "Bearer feed-secret-1"},
        {"Authorization": _basic("sesam", "feed-secret-1")},
        {"Authorization": _basic("", "feed-secret-1")},
    ):
        assert (await client.get("/contacts", headers=headers)).status == 200, headers
    for headers in (
        {},
        {"Authorization": _basic("feed-secret-1", "wrong")},  # the user name is no token
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": _basic("sesam", "")},
        {"X-Admin-Token": "feed-secret-1"},  # the feed takes no header token
    ):
        resp = await client.get("/contacts", headers=headers)
        assert resp.status == 401, headers
        assert resp.headers["WWW-Authenticate"].startswith("Bearer, Basic")
    for headers in (
        {"Authorization": "Bearer admin-secret-1"},
        {"Authorization": _basic("operator", "admin-secret-1")},
        {"Authorization": "Bearer the-sesam-node-jwt", "X-Admin-Token": "admin-secret-1"},
    ):
        assert (await client.get("/admin/status", headers=headers)).status == 200, headers
    assert (await client.get("/admin/status", headers={"X-Admin-Token": "no"})).status == 401
