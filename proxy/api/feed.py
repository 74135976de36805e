"""The Sesam JSON-pull feed: ``GET /<object_type>`` and ``GET /get_<object_type>`` (and
``HEAD``: the same answer without a body).

The stored JSON of each record is spliced, not re-parsed: ``{"_id":…,"_updated":…,
"_deleted":…,`` + the stored object without its opening brace (the store builds that text;
see ``FeedReader.feed_json``). At most a few responses stream at once (``FeedSlots``): each
holds a few batches of memory, and the others wait their turn.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable
from datetime import datetime

from aiohttp import hdrs, web

from proxy.api.auth import check_token
from proxy.api.errors import Handler
from proxy.api.keys import FEED_SLOTS, METRICS, SETTINGS, STORE, STREAM_STARTED
from proxy.api.params import parse_limit, parse_since
from proxy.api.stalled import write_or_drop
from proxy.errors import BadRequest, FeedBusy, NotReady

log = logging.getLogger(__name__)


def encode_chunk(entities: list[bytes], *, first: bool) -> bytes:
    """One chunk of the JSON array: the entities (JSON built by the store), comma-separated,
    with a leading comma unless this is the first chunk (joined in one pass: batches are
    megabytes, and every extra copy shows in the feed's throughput)."""
    return b",".join(entities) if first else b",".join([b"", *entities])


async def serve_feed(request: web.Request, object_type: str) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    metrics = request.app[METRICS]
    if settings.feed_token:
        denied = check_token(request, settings.feed_token)
        if denied is not None:
            metrics.feed_requests.labels(object_type, "401").inc()
            return denied
    try:
        since = parse_since(request.query.get("since"))
        limit = parse_limit(request.query.get("limit"))
        reader = request.app[STORE].reader
        head = await reader.feed_head(object_type)
        if head is None or not head.ready:
            raise NotReady(
                f"the {object_type} mirror is not complete yet: its first full sync has not "
                "finished; try again later"
            )
        if isinstance(since, datetime):  # a pipe switching over from the tutorial service
            since = await reader.since_for_time(object_type, since, head.last_change_seq)
        elif since > head.last_change_seq:
            raise BadRequest(
                f"since={since} is ahead of this feed (last _updated is "
                f"{head.last_change_seq}); the mirror database was replaced, so reset the pipe"
            )
    except (BadRequest, NotReady) as exc:
        metrics.feed_requests.labels(
            object_type, "400" if isinstance(exc, BadRequest) else "503"
        ).inc()
        raise

    if request.method == hdrs.METH_HEAD:
        # aiohttp answers HEAD with the GET handler: the same checks, the same status and
        # headers, and no body. Nothing is read or streamed, so no slot is taken.
        metrics.feed_requests.labels(object_type, "200").inc()
        return web.Response(headers={"Content-Type": "application/json"})
    try:
        async with request.app[FEED_SLOTS].slot():
            return await _stream(
                request, object_type, since=since, upto=head.last_change_seq, limit=limit
            )
    except FeedBusy:
        metrics.feed_requests.labels(object_type, "503").inc()
        raise


async def _stream(
    request: web.Request, object_type: str, *, since: int, upto: int, limit: int | None
) -> web.StreamResponse:
    metrics = request.app[METRICS]
    idle_s = request.app[SETTINGS].feed_write_timeout_seconds
    started = time.perf_counter()
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    request[STREAM_STARTED] = True
    await response.write(b"[")
    first, sent = True, 0
    batches = request.app[STORE].reader.feed_json(object_type, since=since, upto=upto, limit=limit)
    async with contextlib.aclosing(batches):  # a client that hangs up stops the reads at once
        async for rows in batches:
            chunk = encode_chunk(rows, first=first)
            first = False
            sent += len(rows)
            # A pull's memory is a few batches' worth: drop each as soon as it is no longer
            # needed (these are the only references; see feed_json), not at the next batch.
            del rows
            if not await write_or_drop(request, response, chunk, idle_s):
                # The connection is gone without the array's end (the client sees invalid
                # JSON, never a shorter array); returning frees the slot.
                log.warning(
                    "%s: a reader took no byte for %g s (FEED_WRITE_TIMEOUT_SECONDS); its "
                    "response was dropped after %d entities",
                    object_type, idle_s, sent,
                )  # fmt: skip
                metrics.feed_requests.labels(object_type, "dropped").inc()
                return response
            del chunk
    await response.write(b"]")
    await response.write_eof()
    metrics.feed_requests.labels(object_type, "200").inc()
    metrics.feed_entities.labels(object_type).inc(sent)
    metrics.feed_seconds.labels(object_type).observe(time.perf_counter() - started)
    return response


def add_routes(app: web.Application, object_types: Iterable[str]) -> None:
    """``/<type>`` for each object type, plus ``/get_<type>`` (the URL Sesam's HubSpot
    tutorial uses, so existing pipes can switch by changing only the system)."""
    for object_type in object_types:
        handler = _handler_for(object_type)
        app.router.add_get(f"/{object_type}", handler)
        app.router.add_get(f"/get_{object_type}", handler)


def _handler_for(object_type: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await serve_feed(request, object_type)

    return handler
