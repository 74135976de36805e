"""The operations of ``POST /_sim/mutate``: "someone changed HubSpot", from another process.

A test that runs the simulator as a process (and the proxy as another) posts one operation
per request; each maps onto the :class:`HubSpotSimulator` method a test in the same process
would call, stamped with the simulator's clock::

    {"op": "create", "n": 5}                                  -> {"ids": [...]}
    {"op": "update", "id": "7", "properties": {"firstname": "X"}}   -> {"ok": true}
    {"op": "update", "ids": ["7", "8"], "properties": {...}}  -> {"ok": true}
    {"op": "archive" | "restore" | "gdpr_delete", "id": "7"}  -> {"ok": true}
    {"op": "merge", "primary": "3", "other": "4"}             -> {"id": new_id}
    {"op": "add_property", "name": "new_field", "type": "string"}   -> {"ok": true}

``create`` and ``update`` also take ``"timestamp_ms"`` (epoch milliseconds) to stamp the
records with instead of now; an ``update`` of many ids gives them all the same
``lastmodifieddate``, as HubSpot's bulk jobs do. A missing or malformed field, or an id
the operation cannot apply to, raises ``KeyError``/``ValueError``; the handler answers 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .state import HubSpotSimulator

OK: Final = {"ok": True}


def apply(sim: HubSpotSimulator, body: object) -> dict[str, Any]:
    """Run the operation ``body`` names on ``sim`` and return its JSON result."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object naming an op")
    op = body.get("op")
    operation = _OPERATIONS.get(op) if isinstance(op, str) else None
    if operation is None:
        raise ValueError(f"unknown op {op!r}; one of {sorted(_OPERATIONS)}")
    return operation(sim, body)


def _create(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    n = _integer(body, "n")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return {"ids": sim.create_contacts(n, timestamp_ms=_timestamp(body))}


def _update(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    properties = body.get("properties")
    if not isinstance(properties, dict) or not all(
        value is None or isinstance(value, str) for value in properties.values()
    ):
        raise ValueError("properties must be an object of strings (or nulls)")
    timestamp_ms = _timestamp(body)
    if ("id" in body) == ("ids" in body):
        raise ValueError("update needs either 'id' or 'ids'")
    if "id" in body:
        sim.update(_id(body, "id"), properties, timestamp_ms=timestamp_ms)
        return OK
    ids = body["ids"]
    if not isinstance(ids, list) or not ids:
        raise ValueError("ids must be a non-empty list of ids")
    sim.touch_many(
        [_as_id(value, "ids") for value in ids],
        properties,
        timestamp_ms=sim.clock.now_ms() if timestamp_ms is None else timestamp_ms,
    )
    return OK


def _archive(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    sim.archive(_id(body, "id"))
    return OK


def _restore(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    sim.restore(_id(body, "id"))
    return OK


def _gdpr_delete(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    sim.gdpr_delete(_id(body, "id"))
    return OK


def _merge(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": sim.merge(_id(body, "primary"), _id(body, "other"))}


def _add_property(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    name, type_ = body.get("name"), body.get("type", "string")
    if not isinstance(name, str) or not isinstance(type_, str):
        raise ValueError("add_property needs a 'name' string (and optionally a 'type' string)")
    sim.add_property(name, type_)
    return OK


_OPERATIONS: Final[dict[str, Callable[[HubSpotSimulator, Mapping[str, Any]], dict[str, Any]]]] = {
    "create": _create,
    "update": _update,
    "archive": _archive,
    "restore": _restore,
    "gdpr_delete": _gdpr_delete,
    "merge": _merge,
    "add_property": _add_property,
}


def _id(body: Mapping[str, Any], field: str) -> str:
    if field not in body:
        raise ValueError(f"{body.get('op')} needs {field!r}")
    return _as_id(body[field], field)


def _as_id(value: object, field: str) -> str:
    # Ids are strings in HubSpot's JSON; a bare number is taken too, as its string.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.isdigit():
        raise ValueError(f"{field} must hold contact ids (digit strings), got {value!r}")
    return value


def _integer(body: Mapping[str, Any], field: str) -> int:
    value = body.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{body.get('op')} needs {field!r} as an integer, got {value!r}")
    return value


def _timestamp(body: Mapping[str, Any]) -> int | None:
    return None if body.get("timestamp_ms") is None else _integer(body, "timestamp_ms")
