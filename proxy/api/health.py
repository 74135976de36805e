"""``GET /health`` (no auth) and ``GET /metrics`` (Prometheus text)."""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from proxy.api.keys import METRICS, SETTINGS, STORE

log = logging.getLogger(__name__)


async def health(request: web.Request) -> web.Response:
    """200 while the database answers, with each object type's readiness; 503 when the
    database does not (the error class only: messages may carry connection details)."""
    reader = request.app[STORE].reader
    objects: dict[str, dict[str, object]] = {}
    try:
        await reader.ping()
        for object_type in request.app[SETTINGS].object_types:
            status = await reader.object_status(object_type)
            objects[object_type] = {
                "ready": bool(status and status.ready),
                "last_updated": status.last_change_seq if status else 0,
            }
    except Exception as exc:
        log.warning("health check: database unreachable: %s", type(exc).__name__)
        return web.json_response(
            {"status": "error", "database": f"unreachable ({type(exc).__name__})"}, status=503
        )
    return web.json_response({"status": "ok", "database": "ok", "objects": objects})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
