"""The simulator's own routes under ``/_sim/``: no authentication, no rate limits, no faults,
and not in the request log.

They let a test (or a benchmark) that runs the simulator as a separate process read its
counters and log, switch its faults, change its contacts and read them all back.
"""

from __future__ import annotations

import dataclasses

import orjson
from aiohttp import web

from . import mutate
from .app_keys import SIMULATOR
from .error_responses import json_response
from .faults import Faults, fault_value
from .query_params import invalid


async def stats(request: web.Request) -> web.Response:
    """Request counters and sizes, for benchmarks that run the simulator as a process;
    ``clients`` counts API requests by ``User-Agent``."""
    sim = request.app[SIMULATOR]
    return json_response(
        {
            "requests": dict(sim.requests),
            "live": len(sim.live_ids()),
            "archived": len(sim.archived_ids()),
            "faults": dataclasses.asdict(sim.faults),
            "clients": dict(sim.request_log.clients),
        }
    )


async def request_log(request: web.Request) -> web.Response:
    """``GET /_sim/log?after=N``: ``{"entries": [...], "next": M}`` with the API requests
    numbered above N (default 0: every kept one), each ``{"seq", "t", "client", "route",
    "status"}``; M is the newest number so far, the ``after`` of the next poll."""
    log = request.app[SIMULATOR].request_log
    raw = request.query.get("after", "0")
    try:
        after = int(raw)
    except ValueError:
        raise invalid(f"after must be an integer, got {raw!r}") from None
    entries = [entry.as_json() for entry in log.after(after)]
    return json_response({"entries": entries, "next": log.last_seq})


async def set_faults(request: web.Request) -> web.Response:
    """``POST /_sim/faults`` with ``{"field": value, ...}`` flips faults of a remote simulator."""
    sim = request.app[SIMULATOR]
    try:
        changes = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise invalid("body must be JSON") from None
    if not isinstance(changes, dict):
        raise invalid("body must be a JSON object of Faults fields")
    known = {field.name for field in dataclasses.fields(Faults)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise invalid(f"unknown fault fields: {unknown}")
    try:
        values = {name: fault_value(name, value) for name, value in changes.items()}
    except ValueError as error:
        raise invalid(str(error)) from None
    for name, value in values.items():  # all or nothing
        setattr(sim.faults, name, value)
    return json_response(dataclasses.asdict(sim.faults))


async def apply_mutation(request: web.Request) -> web.Response:
    """``POST /_sim/mutate``: one change to the account (operations in ``mutate.py``).

    Answers the operation's JSON result, or 400 ``{"error": message}`` for a body that is
    not JSON, an unknown operation, missing or malformed fields, or an id the operation
    cannot apply to (the simulator's own ``KeyError``/``ValueError``)."""
    sim = request.app[SIMULATOR]
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return json_response({"error": "body must be JSON"}, status=400)
    try:
        result = mutate.apply(sim, body)
    except KeyError as error:  # str() of a KeyError quotes its message
        return json_response(
            {"error": str(error.args[0]) if error.args else "no such id"}, status=400
        )
    except ValueError as error:
        return json_response({"error": str(error)}, status=400)
    return json_response(result)


async def snapshot(request: web.Request) -> web.Response:
    """``GET /_sim/snapshot``: ``{"live": {id: record}, "archived": [ids]}``, every record
    with every property as GET returns it, to compare a mirror with."""
    return json_response(request.app[SIMULATOR].snapshot())
