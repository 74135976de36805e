"""``POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read``: the records of
one type linked to each of a batch of records of another (``reference/hubspot-api.md``
Part C). The links themselves are in ``associations.py``.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any, Final

from aiohttp import web

from .app_keys import SIMULATOR
from .clock import iso_from_ms
from .error_responses import json_response
from .handlers import json_body, store_for
from .query_params import decode_list_cursor, encode_list_cursor, invalid

MAX_INPUTS: Final = 1000
"""HubSpot's limit since 2025-02-10 (changelog "Bug Fix: Batch Read Limit for HubSpot
Associations API"); more answer 400."""
PAGE_SIZE: Final = 500
"""Associated records per result; a record with more is paged."""
NO_ASSOCIATIONS: Final = "crm.associations.NO_ASSOCIATIONS_FOUND"


async def batch_read(request: web.Request) -> web.Response:
    """Body ``{"inputs": [{"id": "…", "after": optional cursor}]}``, at most 1,000 inputs.

    Each input gives one result, in input order: ``{"from": {"id"}, "to": [{"toObjectId",
    "associationTypes": [{"category", "typeId", "label"}]}]}`` with the live records of the
    to type linked to it, by ascending id, at most 500; a result that has more carries
    ``"paging": {"next": {"after": cursor}}``, and the caller asks again with that cursor
    beside the same id (results without more have no ``paging``). ``toObjectId`` is a
    number, or a string under ``Faults.association_ids_as_strings``.

    An input with no linked records (an unknown, archived, merged-away or malformed id
    too: HubSpot shows no links of archived records, and a merge moved the links to the
    new record) gives no result but an error, one per such input, as community reports of
    HubSpot show them::

        {"status": "error", "category": "OBJECT_NOT_FOUND",
         "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
         "message": "No company is associated with contact 17.",
         "context": {"fromObjectId": ["17"]}}

    Answer: 200 ``{"status": "COMPLETE", "results", "startedAt", "completedAt"}``, or 207
    with ``numErrors`` (the number of such inputs) and ``errors`` too. An ``after`` that
    is not a cursor of this route answers 400; one past the last link gives ``"to": []``.
    """
    sim = request.app[SIMULATOR]
    source, target = store_for(request, "from_object_type"), store_for(request, "to_object_type")
    started_ms = sim.clock.now_ms()
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise invalid("Request body must be a JSON object with an 'inputs' list.")
    inputs = [_parse_input(item) for item in body["inputs"]]
    if len(inputs) > MAX_INPUTS:
        raise invalid(f"Too many inputs: {len(inputs)}; at most {MAX_INPUTS} are allowed.")
    as_string = sim.faults.association_ids_as_strings

    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for from_id, after in inputs:
        linked = sim.associations(source.name, from_id, target.name)
        if not linked:
            errors.append(
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "subCategory": NO_ASSOCIATIONS,
                    "message": f"No {target.object_type.singular} is associated with "
                    f"{source.object_type.singular} {from_id}.",
                    "context": {"fromObjectId": [from_id]},
                }
            )
            continue
        start = 0 if after is None else bisect_right([i for i, _ in linked], after)
        page = linked[start : start + PAGE_SIZE]
        result: dict[str, Any] = {
            "from": {"id": from_id},
            "to": [
                {
                    "toObjectId": str(to_id) if as_string else to_id,
                    "associationTypes": [t.as_json() for t in types],
                }
                for to_id, types in page
            ],
        }
        if start + PAGE_SIZE < len(linked):
            result["paging"] = {"next": {"after": encode_list_cursor(page[-1][0])}}
        results.append(result)

    payload: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso_from_ms(started_ms),
        "completedAt": iso_from_ms(sim.clock.now_ms()),
    }
    if not errors:
        return json_response(payload)
    payload["numErrors"] = len(errors)
    payload["errors"] = errors
    return json_response(payload, status=207)


def _parse_input(item: object) -> tuple[str, int | None]:
    """An input's id (a string; a bare number is taken too) and the id its cursor points
    after, if it has one."""
    if not isinstance(item, dict):
        raise invalid("Each input must be an object with an 'id' string.")
    record_id = item.get("id")
    if isinstance(record_id, int) and not isinstance(record_id, bool):
        record_id = str(record_id)
    if not isinstance(record_id, str):
        raise invalid("Each input must be an object with an 'id' string.")
    after = item.get("after")
    if after is not None and not isinstance(after, str):
        raise invalid("An input's 'after' must be a paging cursor string.")
    return record_id, decode_list_cursor(after)
