"""A reader that stops reading cannot hold the feed: a response that could not send a byte
for FEED_WRITE_TIMEOUT_SECONDS is dropped and its slot freed, so the next pull is served."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import aiohttp
import orjson
from aiohttp import web

from proxy.api.keys import FEED_SLOTS, STORE
from proxy.app import create_app
from proxy.store import Store
from tests.conftest import make_settings
from tests.helpers import base_of, complete_scan, contact, incoming
from tests.processes import free_port

RECORDS = 600
NOTE = "n" * 20_000  # 600 records of ~20 KB: a 12 MB array, far beyond the socket buffers


async def big_mirror(store: Store) -> None:
    await base_of(store)
    scan = await store.begin_run("contacts")
    for start in range(1, RECORDS + 1, 100):
        page = (contact(i, notes=NOTE) for i in range(start, min(start + 100, RECORDS + 1)))
        await scan.apply_page(incoming(*page))
    await complete_scan(store, scan)
    await scan.finish("succeeded")


async def stalled_reader(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client that asks for the whole feed, reads the status line, and reads no more
    (with a small receive buffer, so the server's writes block soon)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
    writer.write(b"GET /contacts HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    return reader, writer


async def test_readers_that_stop_reading_are_dropped_and_free_their_slots(
    database_url: str,
) -> None:
    settings = make_settings(database_url, FEED_WRITE_TIMEOUT_SECONDS="1")
    # The slot wait is longer than the write timeout: only dropping the stalled readers
    # can serve the fifth pull before it would get 503.
    app = create_app(settings, schedule=False, feed_concurrency=4, feed_slot_wait_s=20)
    # Served as `serve` serves it (web.run_app's runner: handlers are not cancelled when
    # their client goes away, unlike aiohttp's test server).
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await big_mirror(app[STORE])
        slots = app[FEED_SLOTS]
        stalled = [await stalled_reader(port) for _ in range(4)]
        await slots.wait_until(lambda s: s.streaming == 4)

        async with aiohttp.ClientSession() as session:
            # Waits for a slot, then streams the whole array.
            async with session.get(f"http://127.0.0.1:{port}/contacts") as resp:
                body = await resp.read()
                assert resp.status == 200, body
            entities = orjson.loads(body)
            assert len(entities) == RECORDS
            assert all(e["properties"]["notes"] == NOTE for e in entities)

            for reader, writer in stalled:
                # The connection was closed without the end of the chunked body: the client
                # cannot take what it got for a whole (shorter) array.
                rest = b""
                with contextlib.suppress(ConnectionResetError):
                    while chunk := await reader.read(1 << 20):
                        rest += chunk
                assert not rest.endswith(b"0\r\n\r\n")
                writer.close()
            await slots.wait_until(lambda s: s.streaming == 0)
            async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                metrics = await resp.text()
        dropped = 'change_proxy_feed_requests_total{object_type="contacts",status="dropped"} 4.0'
        assert dropped in metrics.splitlines()
    finally:
        await runner.cleanup()
