"""Thin HTTP handlers: read the request, call state/search, shape HubSpot's JSON.

Authentication, rate limits and injected faults happen before these run (``gate.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

import orjson
from aiohttp import web

from .app_keys import PROPERTIES_BODY, SIMULATOR
from .error_responses import ApiError, json_response
from .faults import Faults, corrupt_page
from .query_params import (
    decode_list_cursor,
    encode_list_cursor,
    invalid,
    parse_bool,
    parse_limit,
    requested_properties,
)
from .search import SearchValidationError, parse_search_request, run_search
from .state import HubSpotSimulator

LIST_DEFAULT_LIMIT: Final = 10
LIST_MAX_LIMIT: Final = 100


async def list_contacts(request: web.Request) -> web.Response:
    """``GET /crm/v3/objects/contacts``: keyset pages in ascending id order."""
    sim = request.app[SIMULATOR]
    query = request.query
    limit = parse_limit(query.get("limit"), default=LIST_DEFAULT_LIMIT, maximum=LIST_MAX_LIMIT)
    after = decode_list_cursor(query.get("after"))
    names = sim.select_properties(requested_properties(query))
    page, more = sim.list_page(after=after, limit=limit, archived=parse_bool(query.get("archived")))
    payload: dict[str, Any] = {"results": [contact.as_record(names) for contact in page]}
    if more:
        cursor = encode_list_cursor(page[-1].id)
        link = str(request.url.update_query(after=cursor))
        payload["paging"] = {"next": {"after": cursor, "link": link}}
    return json_response(_maybe_malformed(sim, payload))


async def get_contact(request: web.Request) -> web.Response:
    """``GET /crm/v3/objects/contacts/{id}``; a merged-away id answers with the survivor."""
    sim = request.app[SIMULATOR]
    contact_id = request.match_info["contact_id"]
    contact = sim.find(contact_id, archived=parse_bool(request.query.get("archived")))
    if contact is None:
        raise ApiError(404, "resource not found", "OBJECT_NOT_FOUND")
    names = sim.select_properties(requested_properties(request.query))
    return json_response(contact.as_record(names))


async def search_contacts(request: web.Request) -> web.Response:
    """``POST /crm/v3/objects/contacts/search``; semantics in ``search.py``."""
    sim = request.app[SIMULATOR]
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise invalid("Invalid input JSON on line 1.") from None
    try:
        search = parse_search_request(body)
        page = run_search(
            sim.searchable(),
            search,
            property_types=sim.property_types,
            result_cap=sim.faults.search_result_cap,
        )
    except SearchValidationError as error:
        raise invalid(str(error)) from None
    names = sim.select_properties(search.properties)
    payload: dict[str, Any] = {
        "total": page.total,
        "results": [contact.as_record(names) for contact in page.results],
    }
    if page.next_after is not None:
        payload["paging"] = {"next": {"after": str(page.next_after)}}
    return json_response(_maybe_malformed(sim, payload))


async def list_properties(request: web.Request) -> web.Response:
    """``GET /crm/v3/properties/contacts``: the catalogue, serialised once at startup."""
    return web.Response(body=request.app[PROPERTIES_BODY], content_type="application/json")


def properties_body(sim: HubSpotSimulator) -> bytes:
    return orjson.dumps({"results": [p.as_json(i) for i, p in enumerate(sim.catalogue)]})


def _maybe_malformed(sim: HubSpotSimulator, payload: dict[str, Any]) -> dict[str, Any]:
    if sim.faults.malformed_next <= 0:
        return payload
    sim.faults.malformed_next -= 1
    broken = corrupt_page(payload, sim.malformed_served)
    sim.malformed_served += 1
    return broken


# ----------------------------------------------------------------------- /_sim (no auth)


async def stats(request: web.Request) -> web.Response:
    """Request counters and sizes, for benchmarks that run the simulator as a process."""
    sim = request.app[SIMULATOR]
    return json_response(
        {
            "requests": dict(sim.requests),
            "live": len(sim.live_ids()),
            "archived": len(sim.archived_ids()),
            "faults": dataclasses.asdict(sim.faults),
        }
    )


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
    for name, value in changes.items():
        setattr(sim.faults, name, value)
    return json_response(dataclasses.asdict(sim.faults))
