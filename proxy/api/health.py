"""``GET /health`` (no auth) and ``GET /metrics`` (Prometheus text)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from proxy.api.keys import METRICS, SCHEDULER, SETTINGS, STORE
from proxy.sources.configured import feed_names
from proxy.sync_health import ObjectHealth, object_health

log = logging.getLogger(__name__)


async def _object_healths(app: web.Application) -> list[tuple[ObjectHealth, dict[str, Any]]]:
    store, scheduler, settings = app[STORE], app[SCHEDULER], app[SETTINGS]
    out = []
    for object_type in feed_names(settings):
        status = await store.reader.object_status(object_type)
        health = await object_health(store, scheduler, settings, object_type)
        extra = {
            "ready": bool(status and status.ready),
            "last_updated": status.last_change_seq if status else 0,
        }
        out.append((health, extra))
    return out


async def health(request: web.Request) -> web.Response:
    """200 while the database answers and every object type's sync works; 503 otherwise,
    saying what is wrong (the error class only for the database: its messages may carry
    connection details)."""
    try:
        await request.app[STORE].reader.ping()
        healths = await _object_healths(request.app)
    except Exception as exc:
        log.warning("health check: database unreachable: %s", type(exc).__name__)
        return web.json_response(
            {"status": "error", "database": f"unreachable ({type(exc).__name__})"}, status=503
        )
    objects = {h.object_type: {**extra, **h.as_json()} for h, extra in healths}
    ok = all(h.healthy for h, _ in healths)
    return web.json_response(
        {"status": "ok" if ok else "error", "database": "ok", "objects": objects},
        status=200 if ok else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS]
    scheduler = request.app[SCHEDULER]
    try:
        for health, _ in await _object_healths(request.app):
            registry.observe_health(health)
    except Exception as exc:  # the database is down: the worker gauges still tell something
        log.warning("metrics: sync health unavailable: %s", type(exc).__name__)
        for object_type, worker in scheduler.workers.items():
            registry.observe_worker(object_type, alive=worker.alive, holds_lease=worker.lease.held)
        for object_type in scheduler.workers:
            registry.sync_healthy.labels(object_type).set(0)
    response = web.Response(body=generate_latest(registry.registry))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
