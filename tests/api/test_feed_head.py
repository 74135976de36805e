"""HEAD on the feed through the real app: the status and headers a GET would get, and no
body (aiohttp routes HEAD to the GET handler, which used to stream the array anyway)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient

from proxy.app import create_app
from tests.api.conftest import store_of
from tests.api.test_feed import complete_mirror
from tests.api.test_feed_slots import AiohttpClient, app_client, slots_of
from tests.conftest import make_settings


async def raw_head(client: TestClient, path: str, **headers: str) -> tuple[int, dict, bytes]:
    """HEAD over a plain socket: the status, the headers, and every byte the server sent
    after them until it closed the connection (an HTTP client would hide stray body bytes,
    or read them as the start of the next response)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    lines = [f"HEAD {path} HTTP/1.1", f"Host: {client.host}", "Connection: close"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    raw = await reader.read()  # to EOF
    writer.close()
    await writer.wait_closed()
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    parsed = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), parsed, rest


@pytest.mark.parametrize("path", ["/contacts", "/get_contacts", "/contacts?since=1&limit=1"])
async def test_head_answers_like_get_without_a_body(
    aiohttp_client: AiohttpClient, database_url: str, path: str
) -> None:
    client = await app_client(aiohttp_client, database_url, concurrency=1)
    store = store_of(client)
    # Not ready: 503 with Retry-After, as GET.
    status, headers, rest = await raw_head(client, path)
    assert (status, rest) == (503, b"")
    assert headers["content-type"].startswith("application/json")
    assert int(headers["retry-after"]) > 0
    await complete_mirror(store, 5)
    # Ready: 200 with the JSON content type, and not one byte of the array.
    status, headers, rest = await raw_head(client, path)
    assert (status, rest) == (200, b"")
    assert headers["content-type"] == "application/json"
    # HEAD streams nothing, so it takes no slot: it answers even while every slot is taken.
    async with slots_of(client).slot():
        assert (await raw_head(client, path))[:2] == (status, headers)
    get = await client.get(path)
    assert get.status == 200 and get.headers["Content-Type"] == headers["content-type"]
    # Malformed parameters: 400, as GET.
    status, headers, rest = await raw_head(client, "/contacts?since=x")
    assert (status, rest) == (400, b"")
    assert headers["content-type"].startswith("application/json")


async def test_head_needs_the_feed_token_like_get(
    aiohttp_client: AiohttpClient, database_url: str
) -> None:
    app = create_app(make_settings(database_url, FEED_TOKEN="feed-secret-123"), schedule=False)
    client = await aiohttp_client(app)
    await complete_mirror(store_of(client), 2)
    status, headers, rest = await raw_head(client, "/contacts")
    assert (status, rest) == (401, b"")
    assert headers["www-authenticate"].startswith("Bearer")
    status, _, rest = await raw_head(client, "/contacts", Authorization="Bearer feed-secret-123")
    assert (status, rest) == (200, b"")
