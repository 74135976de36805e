"""Admin routes (``Authorization: Bearer $ADMIN_TOKEN``): resync, runs, status, and the
deletions a full scan held for an operator."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from proxy.activity import hourly
from proxy.api.auth import ADMIN_TOKEN_HEADER, check_token
from proxy.api.console import PUBLIC_PATHS
from proxy.api.errors import Handler, json_error
from proxy.api.keys import SCHEDULER, SETTINGS, SOURCES, STORE
from proxy.api.params import parse_int, parse_run_id
from proxy.errors import BadRequest
from proxy.sources.configured import feed_names
from proxy.sources.ratelimit import RollingWindowLimiter
from proxy.store.database import utcnow
from proxy.store.held import ConfirmRefused
from proxy.store.runs import RunRecord
from proxy.store.scans import HeldDeletions
from proxy.sync import MODES
from proxy.sync_health import object_health

# How many held ids /admin/deletions lists (the count is always complete).
HELD_SAMPLE = 100
# /admin/activity reads at most this many of a feed's latest runs: a day of runs at the
# shortest intervals (incremental every 60 s, deletion checks every 5 min) is ~1,700.
ACTIVITY_RUNS = 5000
# ... and charts the requests of this many.
CHARTED_RUNS = 30


@web.middleware
async def admin_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 while no ADMIN_TOKEN is configured; 401 for a missing or wrong token."""
    if not request.path.startswith("/admin/") or request.path in PUBLIC_PATHS:
        return await handler(request)
    token = request.app[SETTINGS].admin_token
    if not token:
        return json_error(403, "admin routes are disabled: ADMIN_TOKEN is not set")
    denied = check_token(request, token, extra_header=ADMIN_TOKEN_HEADER)
    return denied if denied is not None else await handler(request)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def run_json(run: RunRecord) -> dict[str, Any]:
    out = asdict(run)
    out["object"] = out.pop("object_type")
    for key in ("queued_at", "started_at", "finished_at", "heartbeat_at", "progress_at"):
        out[key] = _iso(out[key])
    return out


def held_json(held: HeldDeletions | None) -> dict[str, Any] | None:
    if held is None:
        return None
    return {
        "run_id": held.run_id,
        "count": held.count,
        "held_at": _iso(held.held_at),
        "ids": held.sample,
        "why": "the run confirmed more deletions than MASS_DELETE_PERCENT allows; "
        "POST /admin/deletions/confirm or /admin/deletions/discard with this run_id",
    }


def _object_param(request: web.Request) -> str:
    object_types = feed_names(request.app[SETTINGS])
    raw = request.query.get("object")
    if raw is None and len(object_types) == 1:
        return object_types[0]
    if raw not in object_types:
        raise BadRequest(f"object must be one of {', '.join(object_types)}; got {raw!r}")
    return raw


async def resync(request: web.Request) -> web.Response:
    object_type = _object_param(request)
    mode = request.query.get("mode")
    if mode not in MODES:
        raise BadRequest(f"mode is required: one of {', '.join(MODES)}; got {mode!r}")
    run_id = await request.app[SCHEDULER].request(object_type, mode, "admin")
    return web.json_response({"run_id": run_id}, status=202)


async def get_run(request: web.Request) -> web.Response:
    run_id = parse_run_id(request.match_info["run_id"])
    run = await request.app[STORE].runs.get(run_id)
    if run is None:
        return json_error(404, f"no run {run_id}")
    return web.json_response(run_json(run))


async def list_runs(request: web.Request) -> web.Response:
    object_type = _object_param(request) if "object" in request.query else None
    limit = parse_int("limit", request.query.get("limit", "50"), minimum=1, maximum=1000)
    runs = await request.app[STORE].runs.recent(object_type=object_type, limit=limit)
    return web.json_response({"runs": [run_json(r) for r in runs]})


async def status(request: web.Request) -> web.Response:
    store = request.app[STORE]
    scheduler = request.app[SCHEDULER]
    settings = request.app[SETTINGS]
    objects: dict[str, Any] = {}
    feeds = request.app[SOURCES].feeds
    for object_type in feed_names(settings):
        st = await store.reader.object_status(object_type, counts=True)
        feed = feeds.get(object_type)
        last = {mode: await store.runs.last(object_type, mode=mode) for mode in MODES}
        health = await object_health(store, scheduler, settings, object_type)
        objects[object_type] = {
            # The modes POST /admin/resync takes for it, in MODES order.
            "modes": [m for m in MODES if feed is not None and m in feed.modes],
            "ready": bool(st and st.ready),
            "live": st.live if st else 0,
            "deleted": st.deleted if st else 0,
            "last_updated": st.last_change_seq if st else 0,
            "watermark": _iso(st.watermark) if st else None,
            "scan_in_progress": (
                {"run_id": st.scan_run_id, "started_at": _iso(st.scan_started_at)}
                if st and st.scan_run_id is not None
                else None
            ),
            **{f"last_{mode}_run": run_json(run) if run else None for mode, run in last.items()},
            "held_deletions": held_json(await store.scans.held(object_type)),
            "health": health.as_json(),
            # The request budget it draws on (HubSpot's is the portal's, shared by every
            # object type); null when its requests are not paced.
            "upstream": (
                budget_json(feed.limiter) if feed is not None and feed.limiter is not None else None
            ),
            **await scheduler.describe(object_type),
        }
    return web.json_response(
        {"objects": objects, "upstream": budget_json(request.app[SOURCES].limiter)}
    )


def budget_json(limiter: RollingWindowLimiter) -> dict[str, Any]:
    budget = limiter.last_budget
    return {
        "requests_in_window": limiter.in_window(),
        "window_seconds": limiter.window_s,
        "allowed_per_window": limiter.limit,
        "last_announced": asdict(budget) if budget is not None else None,
    }


async def record(request: web.Request) -> web.Response:
    """One record as the feed serves it, and when and by which run it last changed."""
    object_type = _object_param(request)
    entity_id = request.query.get("id")
    if not entity_id:
        raise BadRequest("id is required: the record's _id")
    # No stored id holds a NUL (Postgres text cannot): not asked, rather than an error.
    found = (
        None
        if "\x00" in entity_id
        else await request.app[STORE].reader.entity_details(object_type, entity_id)
    )
    if found is None:
        return json_error(404, f"{object_type} has no record {entity_id!r} in the mirror")
    return web.json_response(
        {
            "object": object_type,
            "id": entity_id,
            "entity": orjson.loads(found.entity),
            "updated": found.updated,
            "deleted": found.deleted,
            "changed_at": _iso(found.changed_at),
            "first_seen_at": _iso(found.first_seen_at),
            "changed_by_run_id": found.changed_by_run_id,
        }
    )


async def activity(request: web.Request) -> web.Response:
    """The feed's last 24 hours by the hour (changes, runs, requests: what its runs
    counted), and its last runs' requests (the console's charts)."""
    object_type = _object_param(request)
    runs = await request.app[STORE].runs.recent(object_type=object_type, limit=ACTIVITY_RUNS)
    hours = hourly(runs, utcnow())
    return web.json_response(
        {
            "object": object_type,
            "hours": [{**asdict(h), "start": _iso(h.start)} for h in hours],
            "runs": [
                {
                    "id": r.id,
                    "mode": r.mode,
                    "status": r.status,
                    "requests": r.requests,
                    "started_at": _iso(r.started_at),
                }
                for r in runs[:CHARTED_RUNS]
            ],
        }
    )


async def changes(request: web.Request) -> web.Response:
    """The feed's latest changes, newest first."""
    object_type = _object_param(request)
    limit = parse_int("limit", request.query.get("limit", "50"), minimum=1, maximum=1000)
    found = await request.app[STORE].reader.last_changes(object_type, limit)
    return web.json_response(
        {
            "object": object_type,
            "changes": [{**asdict(c), "changed_at": _iso(c.changed_at)} for c in found],
        }
    )


async def held_deletions(request: web.Request) -> web.Response:
    object_type = _object_param(request)
    held = await request.app[STORE].scans.held(object_type, sample=HELD_SAMPLE)
    return web.json_response({"object": object_type, "held": held_json(held)})


def _held_run(request: web.Request) -> tuple[str, int]:
    object_type = _object_param(request)
    raw = request.query.get("run_id")
    if raw is None:
        raise BadRequest("run_id is required: the run whose held deletions you reviewed")
    return object_type, parse_run_id(raw)


async def confirm_deletions(request: web.Request) -> web.Response:
    """Tombstone what the run held, except records seen or changed since (reported as
    ``skipped``); 409 while a run or a scan of the object type is under way."""
    object_type, run_id = _held_run(request)
    outcome = await request.app[STORE].apply_held_deletions(object_type, run_id)
    if outcome is None:
        return json_error(404, f"run {run_id} holds no deletions of {object_type}")
    if isinstance(outcome, ConfirmRefused):
        running = outcome.running
        body = {
            "error": outcome.reason,
            "running_run": (
                {"id": running.run_id, "mode": running.mode, "started_at": _iso(running.started_at)}
                if running is not None
                else None
            ),
            "scan_in_progress": (
                {"run_id": outcome.scan_run_id, "started_at": _iso(outcome.scan_started_at)}
                if outcome.scan_run_id is not None
                else None
            ),
        }
        return web.json_response(body, status=409)
    return web.json_response(
        {
            "object": object_type,
            "run_id": run_id,
            "deleted": outcome.deleted,
            "already_deleted": outcome.already_deleted,
            "skipped": {
                "count": len(outcome.skipped),
                "ids": outcome.skipped[:HELD_SAMPLE],
                "why": "seen by a run, or changed, since they were held: kept live",
            },
        }
    )


async def discard_deletions(request: web.Request) -> web.Response:
    object_type, run_id = _held_run(request)
    discarded = await request.app[STORE].scans.release_held(object_type, run_id)
    if not discarded:
        return json_error(404, f"run {run_id} holds no deletions of {object_type}")
    return web.json_response({"object": object_type, "run_id": run_id, "discarded": discarded})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/admin/resync", resync)
    app.router.add_get("/admin/runs", list_runs)
    app.router.add_get("/admin/runs/{run_id}", get_run)
    app.router.add_get("/admin/status", status)
    app.router.add_get("/admin/record", record)
    app.router.add_get("/admin/activity", activity)
    app.router.add_get("/admin/changes", changes)
    app.router.add_get("/admin/deletions", held_deletions)
    app.router.add_post("/admin/deletions/confirm", confirm_deletions)
    app.router.add_post("/admin/deletions/discard", discard_deletions)
