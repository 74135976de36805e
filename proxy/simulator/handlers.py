"""Thin HTTP handlers of the object routes: read the request, call the type's store and
search, shape HubSpot's JSON.

Every route takes ``{object_type}`` as any name HubSpot accepts (``contacts``, ``contact``,
``0-1``, a custom object's name, objectTypeId or fullyQualifiedName); a name that is no
type answers 400 ``Unable to infer object type from: …`` (``VALIDATION_ERROR``).
Authentication, rate limits and injected faults happen before these run (``gate.py``).
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from aiohttp import web

from .app_keys import PROPERTIES_BODIES, SIMULATOR
from .clock import iso_from_ms
from .error_responses import ApiError, json_response
from .faults import corrupt_batch_read, corrupt_page
from .object_types import UnknownObjectType
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
from .store import ObjectStore, StoredRecord

LIST_DEFAULT_LIMIT: Final = 10
LIST_MAX_LIMIT: Final = 100
BATCH_READ_MAX_INPUTS: Final = 100


def batch_not_found_message(store: ObjectStore) -> str:
    return (
        f"Could not get some {store.object_type.label} objects, they may be deleted or not "
        "exist. Check that ids are valid."
    )


def store_for(request: web.Request, key: str = "object_type") -> ObjectStore:
    """The store of the type the path names in ``key``; 400 when there is none."""
    try:
        return request.app[SIMULATOR].objects(request.match_info[key])
    except UnknownObjectType as error:
        raise invalid(str(error.args[0])) from None


async def list_objects(request: web.Request) -> web.Response:
    """``GET /crm/v3/objects/{type}``: keyset pages in ascending id order.

    ``Faults.list_cut_after`` may end the listing early (see ``faults.py``); it counts the
    pages of every type together. ``sim.list_pause`` may hold the request first."""
    sim = request.app[SIMULATOR]
    if sim.list_pause is not None:
        await sim.list_pause.passing()
    store = store_for(request)
    query = request.query
    limit = parse_limit(query.get("limit"), default=LIST_DEFAULT_LIMIT, maximum=LIST_MAX_LIMIT)
    after = decode_list_cursor(query.get("after"))
    archived = parse_bool(query.get("archived"))
    names = store.select_properties(requested_properties(query))
    page, more = store.list_page(after=after, limit=limit, archived=archived)
    cursor = encode_list_cursor(page[-1].id) if more else None
    cut = sim.faults.list_cut(after=after, archived=archived)
    if cut == "blank_after":
        cursor = ""
    elif cut is not None:  # "no_paging" and "empty" end the listing here
        cursor = None
    results = [] if cut == "empty" else [record.as_record(names) for record in page]
    payload: dict[str, Any] = {"results": results}
    if cursor is not None:
        link = str(request.url.update_query(after=cursor))
        payload["paging"] = {"next": {"after": cursor, "link": link}}
    return json_response(_maybe_malformed(sim, payload))


async def get_object(request: web.Request) -> web.Response:
    """``GET /crm/v3/objects/{type}/{id}``; a merged-away id answers with the survivor."""
    store = store_for(request)
    record_id = request.match_info["object_id"]
    record = store.find(record_id, archived=parse_bool(request.query.get("archived")))
    if record is None:
        raise ApiError(404, "resource not found", "OBJECT_NOT_FOUND")
    names = store.select_properties(requested_properties(request.query))
    return json_response(record.as_record(names))


async def batch_read(request: web.Request) -> web.Response:
    """``POST /crm/v3/objects/{type}/batch/read``: up to 100 records by id in one request.

    Body ``{"inputs": [{"id": ...}], "properties": [...], "propertiesWithHistory": [...],
    "idProperty": ...}``; query ``archived=true`` looks among archived records only. Each id
    is looked up like GET by id (merged-away ids answer with the survivor, under its own id,
    sent once however many inputs resolve to it). Properties travel in the body, so there is
    no URL limit; they are chosen as for GET (none named: the defaults).

    All found: 200 ``{"status": "COMPLETE", "results", "startedAt", "completedAt"}``. Some
    not found: 207 with ``numErrors`` and one ``OBJECT_NOT_FOUND`` error ("Could not get
    some COMPANY objects…", the type named) whose ``context.ids`` lists every missing id;
    HubSpot groups them, so ``numErrors`` counts error entries (1), not ids. Not modelled:
    ``propertiesWithHistory`` (ignored) and ``idProperty`` other than ``hs_object_id`` (400
    rather than silently reading by id).
    """
    sim = request.app[SIMULATOR]
    store = store_for(request)
    started_ms = sim.clock.now_ms()
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise invalid("Request body must be a JSON object with an 'inputs' list.")
    inputs: list[Any] = body["inputs"]
    if len(inputs) > BATCH_READ_MAX_INPUTS:
        raise invalid(
            f"Too many inputs: {len(inputs)}; at most {BATCH_READ_MAX_INPUTS} are allowed."
        )
    if body.get("idProperty") not in (None, "hs_object_id"):
        raise invalid("idProperty other than hs_object_id is not supported by the simulator.")
    ids = [_input_id(item) for item in inputs]
    names = store.select_properties(_body_properties(body) or None)
    found, missing = store.find_many(ids, archived=parse_bool(request.query.get("archived")))
    payload: dict[str, Any] = {
        "status": "COMPLETE",
        "results": [record.as_record(names) for record in found],
        "startedAt": iso_from_ms(started_ms),
        "completedAt": iso_from_ms(sim.clock.now_ms()),
    }
    if sim.faults.malformed_batch_read_next > 0:
        sim.faults.malformed_batch_read_next -= 1
        payload = corrupt_batch_read(payload, sim.malformed_batch_reads_served)
        sim.malformed_batch_reads_served += 1
    if not missing:
        return json_response(payload)
    payload["numErrors"] = 1
    payload["errors"] = [
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": batch_not_found_message(store),
            "context": {"ids": missing},
        }
    ]
    return json_response(payload, status=207)


def _input_id(item: object) -> str:
    record_id = item.get("id") if isinstance(item, dict) else None
    # Ids are strings in HubSpot's JSON; a bare number is taken too, as its string.
    if isinstance(record_id, int) and not isinstance(record_id, bool):
        return str(record_id)
    if not isinstance(record_id, str):
        raise invalid("Each input must be an object with an 'id' string.")
    return record_id


def _body_properties(body: dict[str, Any]) -> list[str] | None:
    properties = body.get("properties")
    if properties is not None and (
        not isinstance(properties, list) or not all(isinstance(p, str) for p in properties)
    ):
        raise invalid("properties must be a list of strings.")
    return properties


async def json_body(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise invalid("Invalid input JSON on line 1.") from None


async def search_objects(request: web.Request) -> web.Response:
    """``POST /crm/v3/objects/{type}/search``; semantics in ``search.py``, filtering on the
    type's own modification property."""
    sim = request.app[SIMULATOR]
    store = store_for(request)
    body = await json_body(request)
    try:
        search = parse_search_request(body)
        page = run_search(
            store.searchable(),
            search,
            property_types=store.property_types,
            result_cap=sim.faults.search_result_cap,
            modified_property=store.object_type.modified_property,
        )
    except SearchValidationError as error:
        raise invalid(str(error)) from None
    names = store.select_properties(search.properties)
    payload: dict[str, Any] = {
        "total": page.total,
        "results": [record.as_record(names) for record in page.results],
    }
    if page.next_after is not None:
        next_after = sim.faults.search_next_after(requested=search.after, honest=page.next_after)
        payload["paging"] = {"next": {"after": next_after}}
        _edit_after_page(sim, store, page.results)
    return json_response(_maybe_malformed(sim, payload))


def _edit_after_page(sim: HubSpotSimulator, store: ObjectStore, served: list[StoredRecord]) -> None:
    """``Faults.search_edit_property``: edit the first record of a page just served (its
    JSON is already built, so the page shows it as it was)."""
    name = sim.faults.search_edit_property
    if name is None or not served:
        return
    record_id = str(served[0].id)
    try:
        store.update(record_id, {name: f"edited after search page {len(sim.search_edits) + 1}"})
    except ValueError as error:
        raise invalid(f"Faults.search_edit_property: {error}") from None
    sim.search_edits.append(record_id)


async def list_properties(request: web.Request) -> web.Response:
    """``GET /crm/v3/properties/{type}``: the type's catalogue, serialised again only after
    it changed (``ObjectStore.add_property``)."""
    store = store_for(request)
    cached = request.app[PROPERTIES_BODIES].of(store.name)
    if cached.catalogue is not store.catalogue:
        cached.catalogue, cached.body = store.catalogue, properties_body(store)
    return web.Response(body=cached.body, content_type="application/json")


def properties_body(store: ObjectStore) -> bytes:
    return orjson.dumps({"results": [p.as_json(i) for i, p in enumerate(store.catalogue)]})


def _maybe_malformed(sim: HubSpotSimulator, payload: dict[str, Any]) -> dict[str, Any]:
    if sim.faults.malformed_next <= 0:
        return payload
    sim.faults.malformed_next -= 1
    broken = corrupt_page(payload, sim.malformed_served)
    sim.malformed_served += 1
    return broken


async def list_schemas(request: web.Request) -> web.Response:
    """``GET /crm-object-schemas/v3/schemas`` (also ``/crm/v3/schemas``): every custom
    object, ``{"results": [schema]}`` (``schemas.py``), its properties as they are now."""
    sim = request.app[SIMULATOR]
    return json_response(
        {
            "results": [
                schema.as_json(sim.objects(name).catalogue)
                for name, schema in sim.custom_objects.items()
            ]
        }
    )


async def get_schema(request: web.Request) -> web.Response:
    """``GET /crm-object-schemas/v3/schemas/{type}``: one custom object's schema, by its
    name, objectTypeId or fullyQualifiedName; 404 for anything else."""
    sim = request.app[SIMULATOR]
    try:
        schema = sim.schema(request.match_info["object_type"])
    except KeyError:
        raise ApiError(404, "Unable to find object schema", "OBJECT_NOT_FOUND") from None
    return json_response(schema.as_json(sim.objects(schema.name).catalogue))
