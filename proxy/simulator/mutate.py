"""The operations of ``POST /_sim/mutate``: "someone changed HubSpot", from another process.

A test that runs the simulator as a process (and the proxy as another) posts one operation
per request; each maps onto the method a test in the same process would call on the
:class:`HubSpotSimulator` or the type's store, stamped with the simulator's clock::

    {"op": "create", "n": 5}                                  -> {"ids": [...]}
    {"op": "update", "id": "7", "properties": {"firstname": "X"}}   -> {"ok": true}
    {"op": "update", "ids": ["7", "8"], "properties": {...}}  -> {"ok": true}
    {"op": "archive" | "restore" | "gdpr_delete", "id": "7"}  -> {"ok": true}
    {"op": "merge", "primary": "3", "other": "4"}             -> {"id": new_id}
    {"op": "add_property", "name": "new_field", "type": "string"}   -> {"ok": true}
    {"op": "associate" | "dissociate", "from_type": "deals", "from_id": "3",
     "to_type": "contacts", "to_id": "7", "label": "Buyer", "primary": false}  -> {"ok": true}
    {"op": "define_custom_object", "name": "pets", "properties": ["pet_name", ...]
     (or {"name": "type"}), "singular_label", "plural_label", "primary_display_property"}
                                                              -> the schema's JSON

The record operations act on ``"object_type"`` (any name a path takes; default
``contacts``). ``associate`` takes ``label`` and ``primary`` (both optional),
``dissociate`` ``label`` (remove only that label). ``create`` and ``update`` also take
``"timestamp_ms"`` (epoch milliseconds) to stamp the records with instead of now; an
``update`` of many ids gives them all the same modification time, as HubSpot's bulk jobs
do. A missing or malformed field, an unknown type, or an id the operation cannot apply to,
raises ``KeyError``/``ValueError``; the handler answers 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .state import HubSpotSimulator
    from .store import ObjectStore

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


def _store(
    sim: HubSpotSimulator, body: Mapping[str, Any], field: str = "object_type"
) -> ObjectStore:
    name = body.get(field, "contacts")
    if not isinstance(name, str):
        raise ValueError(f"{field} must be an object type name, got {name!r}")
    return sim.objects(name)


def _create(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    store = _store(sim, body)
    n = _integer(body, "n")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return {"ids": store.create(n, timestamp_ms=_timestamp(body))}


def _update(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    store = _store(sim, body)
    properties = body.get("properties")
    if not isinstance(properties, dict) or not all(
        value is None or isinstance(value, str) for value in properties.values()
    ):
        raise ValueError("properties must be an object of strings (or nulls)")
    timestamp_ms = _timestamp(body)
    if ("id" in body) == ("ids" in body):
        raise ValueError("update needs either 'id' or 'ids'")
    if "id" in body:
        store.update(_id(body, "id", store), properties, timestamp_ms=timestamp_ms)
        return OK
    ids = body["ids"]
    if not isinstance(ids, list) or not ids:
        raise ValueError("ids must be a non-empty list of ids")
    store.touch_many(
        [_as_id(value, "ids", store) for value in ids],
        properties,
        timestamp_ms=sim.clock.now_ms() if timestamp_ms is None else timestamp_ms,
    )
    return OK


def _archive(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    store = _store(sim, body)
    store.archive(_id(body, "id", store))
    return OK


def _restore(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    store = _store(sim, body)
    store.restore(_id(body, "id", store))
    return OK


def _gdpr_delete(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    store = _store(sim, body)
    store.gdpr_delete(_id(body, "id", store))
    return OK


def _merge(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    store = _store(sim, body)
    return {"id": store.merge(_id(body, "primary", store), _id(body, "other", store))}


def _add_property(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    store = _store(sim, body)
    name, type_ = body.get("name"), body.get("type", "string")
    if not isinstance(name, str) or not isinstance(type_, str):
        raise ValueError("add_property needs a 'name' string (and optionally a 'type' string)")
    store.add_property(name, type_)
    return OK


def _link_ends(
    sim: HubSpotSimulator, body: Mapping[str, Any]
) -> tuple[ObjectStore, str, ObjectStore, str, str | None]:
    source, target = _store(sim, body, "from_type"), _store(sim, body, "to_type")
    label = body.get("label")
    if label is not None and not isinstance(label, str):
        raise ValueError(f"label must be a string, got {label!r}")
    return (
        source,
        _id(body, "from_id", source),
        target,
        _id(body, "to_id", target),
        label,
    )


def _associate(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    source, from_id, target, to_id, label = _link_ends(sim, body)
    primary = body.get("primary", False)
    if not isinstance(primary, bool):
        raise ValueError(f"primary must be true or false, got {primary!r}")
    sim.associate(source.name, from_id, target.name, to_id, label=label, primary=primary)
    return OK


def _dissociate(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    source, from_id, target, to_id, label = _link_ends(sim, body)
    sim.dissociate(source.name, from_id, target.name, to_id, label=label)
    return OK


def _define_custom_object(sim: HubSpotSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    name, properties = body.get("name"), body.get("properties")
    if not isinstance(name, str):
        raise ValueError("define_custom_object needs a 'name' string")
    if not (
        (isinstance(properties, list) and all(isinstance(p, str) for p in properties))
        or (isinstance(properties, dict) and all(isinstance(t, str) for t in properties.values()))
    ):
        raise ValueError("properties must be a list of names or an object of names to types")
    labels = {}
    for field in ("singular_label", "plural_label", "primary_display_property"):
        value = body.get(field)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{field} must be a string, got {value!r}")
        labels[field] = value
    schema = sim.define_custom_object(
        name,
        properties,
        singular_label=labels["singular_label"],
        plural_label=labels["plural_label"],
        primary_display_property=labels["primary_display_property"],
    )
    return schema.as_json(sim.objects(name).catalogue)


_OPERATIONS: Final[dict[str, Callable[[HubSpotSimulator, Mapping[str, Any]], dict[str, Any]]]] = {
    "create": _create,
    "update": _update,
    "archive": _archive,
    "restore": _restore,
    "gdpr_delete": _gdpr_delete,
    "merge": _merge,
    "add_property": _add_property,
    "associate": _associate,
    "dissociate": _dissociate,
    "define_custom_object": _define_custom_object,
}


def _id(body: Mapping[str, Any], field: str, store: ObjectStore) -> str:
    if field not in body:
        raise ValueError(f"{body.get('op')} needs {field!r}")
    return _as_id(body[field], field, store)


def _as_id(value: object, field: str, store: ObjectStore) -> str:
    # Ids are strings in HubSpot's JSON; a bare number is taken too, as its string.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.isdigit():
        singular = store.object_type.singular
        raise ValueError(f"{field} must hold {singular} ids (digit strings), got {value!r}")
    return value


def _integer(body: Mapping[str, Any], field: str) -> int:
    value = body.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{body.get('op')} needs {field!r} as an integer, got {value!r}")
    return value


def _timestamp(body: Mapping[str, Any]) -> int | None:
    return None if body.get("timestamp_ms") is None else _integer(body, "timestamp_ms")
