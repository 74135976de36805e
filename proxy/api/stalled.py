"""Writes to a client that may have stopped reading.

aiohttp has no write timeout: a response's ``write`` waits for the socket to drain for as
long as the client keeps the connection open without reading. A feed response holds one of
a few slots while it streams, so four such readers would shut the feed for everyone. Here a
write that cannot send a single byte for ``idle_s`` seconds drops the connection.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

# How often a pending write looks whether the socket took bytes since the last look.
CHECK_EVERY_S = 1.0


async def write_or_drop(
    request: web.Request, response: web.StreamResponse, data: bytes, idle_s: float
) -> bool:
    """``response.write(data)``; False when the socket accepted no byte for ``idle_s``
    seconds and the connection was dropped instead. Progress is the transport's write
    buffer shrinking: while a write waits to drain, nothing else adds to it."""
    write = asyncio.ensure_future(response.write(data))
    loop = asyncio.get_running_loop()
    transport = request.transport
    last_size = transport.get_write_buffer_size() if transport is not None else 0
    moved_at = loop.time()
    while True:
        done, _ = await asyncio.wait({write}, timeout=min(CHECK_EVERY_S, idle_s))
        if done:
            write.result()  # the connection's own error, if it failed
            return True
        transport = request.transport
        if transport is None or transport.is_closing():
            continue  # the write ends by itself with the connection's error
        size = transport.get_write_buffer_size()
        if size < last_size:
            moved_at = loop.time()
        last_size = size
        if loop.time() - moved_at >= idle_s:
            transport.abort()
            # The write fails with the closed connection's error in its own time; nobody
            # waits for it (awaiting here could take a cancellation meant for the handler).
            write.add_done_callback(_retrieve)
            write.cancel()
            return False


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()
