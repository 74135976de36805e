"""Admin routes (``Authorization: Bearer $ADMIN_TOKEN``): resync, runs, status."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from aiohttp import web

from proxy.api.auth import check_bearer
from proxy.api.errors import Handler, json_error
from proxy.api.keys import CLIENT, SCHEDULER, SETTINGS, STORE
from proxy.errors import BadRequest
from proxy.store.reads import RunRecord
from proxy.sync import MODES


@web.middleware
async def admin_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 while no ADMIN_TOKEN is configured; 401 for a missing or wrong token."""
    if not request.path.startswith("/admin/"):
        return await handler(request)
    token = request.app[SETTINGS].admin_token
    if not token:
        return json_error(403, "admin routes are disabled: ADMIN_TOKEN is not set")
    denied = check_bearer(request, token)
    return denied if denied is not None else await handler(request)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def run_json(run: RunRecord) -> dict[str, Any]:
    out = asdict(run)
    out["object"] = out.pop("object_type")
    for key in ("queued_at", "started_at", "finished_at"):
        out[key] = _iso(out[key])
    return out


def _object_param(request: web.Request, raw: str | None) -> str:
    object_types = request.app[SETTINGS].object_types
    if raw is None and len(object_types) == 1:
        return object_types[0]
    if raw not in object_types:
        raise BadRequest(f"object must be one of {', '.join(object_types)}; got {raw!r}")
    return raw


async def resync(request: web.Request) -> web.Response:
    object_type = _object_param(request, request.query.get("object"))
    mode = request.query.get("mode", "incremental")
    if mode not in MODES:
        raise BadRequest(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    run_id = await request.app[SCHEDULER].request(object_type, mode, "admin")
    return web.json_response({"run_id": run_id}, status=202)


async def get_run(request: web.Request) -> web.Response:
    raw = request.match_info["run_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise BadRequest(f"run id must be an integer; got {raw[:40]!r}")
    run = await request.app[STORE].reader.get_run(int(raw))
    if run is None:
        return json_error(404, f"no run {raw}")
    return web.json_response(run_json(run))


async def list_runs(request: web.Request) -> web.Response:
    raw_object = request.query.get("object")
    object_type = _object_param(request, raw_object) if raw_object is not None else None
    raw_limit = request.query.get("limit", "50")
    if not raw_limit.isdigit() or not 0 < int(raw_limit) <= 1000:
        raise BadRequest("limit must be an integer from 1 to 1000")
    runs = await request.app[STORE].reader.list_runs(object_type=object_type, limit=int(raw_limit))
    return web.json_response({"runs": [run_json(r) for r in runs]})


async def status(request: web.Request) -> web.Response:
    reader = request.app[STORE].reader
    scheduler = request.app[SCHEDULER]
    objects: dict[str, Any] = {}
    for object_type in request.app[SETTINGS].object_types:
        st = await reader.object_status(object_type, counts=True)
        last_full = await reader.last_run(object_type, "full")
        last_incremental = await reader.last_run(object_type, "incremental")
        objects[object_type] = {
            "ready": bool(st and st.ready),
            "live": st.live if st else 0,
            "deleted": st.deleted if st else 0,
            "last_updated": st.last_change_seq if st else 0,
            "watermark": _iso(st.watermark) if st else None,
            "last_full_run": run_json(last_full) if last_full else None,
            "last_incremental_run": run_json(last_incremental) if last_incremental else None,
            **scheduler.describe(object_type),
        }
    limiter = request.app[CLIENT].http.limiter
    budget = limiter.last_budget
    upstream = {
        "requests_in_window": limiter.in_window(),
        "window_seconds": limiter.window_s,
        "allowed_per_window": limiter.limit,
        "last_announced": asdict(budget) if budget is not None else None,
    }
    return web.json_response({"objects": objects, "upstream": upstream})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/admin/resync", resync)
    app.router.add_get("/admin/runs", list_runs)
    app.router.add_get("/admin/runs/{run_id}", get_run)
    app.router.add_get("/admin/status", status)
