"""The one JSON error middleware: every error a client sees is ``{"error": …}`` JSON."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from proxy.api.keys import STREAM_STARTED
from proxy.errors import BadRequest, NotReady

log = logging.getLogger(__name__)

# Seconds a client is told to wait while an object type's first full sync runs.
NOT_READY_RETRY_AFTER = 30

# The largest request body accepted (413 beyond): no route takes a body today, and admin
# routes take their parameters in the query string.
MAX_REQUEST_BODY = 64 * 1024

# Headers of aiohttp's own HTTP errors that still mean something on the JSON version.
_KEPT_HEADERS = ("www-authenticate", "allow", "retry-after")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadRequest as exc:
        return json_error(400, str(exc))
    except NotReady as exc:
        return json_error(503, str(exc), **{"Retry-After": str(NOT_READY_RETRY_AFTER)})
    except web.HTTPException as exc:
        if exc.empty_body or exc.status < 400:
            raise
        kept = {k: v for k, v in exc.headers.items() if k.lower() in _KEPT_HEADERS}
        return json_error(exc.status, exc.reason, **kept)
    except Exception:
        if request.get(STREAM_STARTED):
            # Headers and part of the array are on the wire: re-raising makes aiohttp drop
            # the connection without the closing chunk, so the client sees invalid JSON
            # rather than a shorter array it could mistake for the whole truth.
            raise
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal error; see the service log")


@web.middleware
async def bounded_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read any request body before the handler: aiohttp enforces the app's
    ``client_max_size`` only when a handler reads the body, and none does, so without this
    an oversized body would be accepted (and drained) instead of answered with 413. The
    413 aiohttp raises becomes JSON in :func:`error_middleware`, which runs outside this."""
    if request.can_read_body:
        await request.read()
    return await handler(request)
