"""The simulator's own routes under ``/_sim/``: no authentication, no rate limits, no faults,
and not in the request log.

They let a test (or a benchmark) that runs the simulator as a separate process read its
counters and log, switch its faults, change its records of any type and read them all
back. ``stats`` and ``snapshot`` take ``?object_type=`` (any name a path takes; default
contacts); an unknown one answers HubSpot's 400 JSON error ("Unable to infer object type
from: …").
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from . import mutate
from .app_keys import SIMULATOR
from .error_responses import ApiError, json_response
from .faults import Faults, fault_value
from .query_params import invalid

if TYPE_CHECKING:
    from .store import ObjectStore


def _requested_store(request: web.Request) -> ObjectStore:
    try:
        return request.app[SIMULATOR].objects(request.query.get("object_type", "contacts"))
    except KeyError as error:
        raise ApiError(400, str(error.args[0]), "VALIDATION_ERROR") from None


async def stats(request: web.Request) -> web.Response:
    """Request counters and sizes, for benchmarks that run the simulator as a process:
    ``live`` and ``archived`` count the records of ``object_type``, ``types`` those of every
    type (``{name: {"live", "archived"}}``); ``requests`` counts answered requests by route
    (all types together) and ``clients`` API requests by ``User-Agent``."""
    sim = request.app[SIMULATOR]
    store = _requested_store(request)
    return json_response(
        {
            "object_type": store.name,
            "requests": dict(sim.requests),
            "live": len(store.live_ids()),
            "archived": len(store.archived_ids()),
            "types": {
                each.name: {"live": len(each.live_ids()), "archived": len(each.archived_ids())}
                for each in sim.stores()
            },
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
    """``GET /_sim/snapshot?object_type=…``: ``{"live": {id: record}, "archived": [ids],
    "associations": {to_type: {from_id: [{"toObjectId", "associationTypes"}]}}}``, every
    live record of the type with every property as GET returns it, and every link from
    them the v4 API would show, to compare a mirror with."""
    store = _requested_store(request)
    body = store.snapshot()
    body["associations"] = request.app[SIMULATOR].associations_snapshot(store.name)
    return json_response(body)
