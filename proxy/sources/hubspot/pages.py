"""Parsing HubSpot's answers: list and search pages, batch reads, timestamps. A page of the
wrong shape is rejected whole, before anything of it is written."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from proxy.errors import BadPage


def validate_page(body: Any, what: str) -> list[dict[str, Any]]:
    """The ``results`` of a list or search response, or :class:`BadPage`."""
    if not isinstance(body, Mapping) or not isinstance(body.get("results"), list):
        raise BadPage(f"{what}: response has no 'results' list; page rejected")
    results: list[dict[str, Any]] = body["results"]
    for index, record in enumerate(results):
        if not isinstance(record, Mapping):
            raise BadPage(f"{what}: result {index} is not an object; page rejected")
        if not isinstance(record.get("id"), str | int) or record.get("id") in ("", None):
            raise BadPage(f"{what}: result {index} has no id; page rejected")
        if not isinstance(record.get("properties"), Mapping):
            raise BadPage(f"{what}: record {record['id']} has no properties; page rejected")
    return results


def next_after(body: Mapping[str, Any]) -> str | None:
    """The cursor of the next page; None on the last page (no ``paging`` or no
    ``paging.next``). A ``next`` without a usable cursor is a broken page, not the end: taken
    as the end, it would pass a listing cut short for a complete one."""
    paging = body.get("paging")
    if paging is None:
        return None
    if not isinstance(paging, Mapping):
        raise BadPage("'paging' is not an object; page rejected")
    nxt = paging.get("next")
    if nxt is None:
        return None
    after = nxt.get("after") if isinstance(nxt, Mapping) else None
    if not isinstance(after, str | int) or isinstance(after, bool) or str(after).strip() == "":
        raise BadPage(f"'paging.next' has no usable cursor ({after!r}); page rejected")
    return str(after)


def parse_timestamp_ms(value: Any) -> int | None:
    """HubSpot datetimes arrive as ISO-8601 strings (``2024-02-01T10:00:00.123Z``) or, in
    some properties, epoch milliseconds. None when absent or unreadable."""
    if value is None or value == "":
        return None
    text = str(value)
    if text.isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def modified_ms(record: Mapping[str, Any], modified_property: str) -> int | None:
    props = record.get("properties") or {}
    return stamp_ms(props.get(modified_property), record.get("updatedAt"))


def stamp_ms(modified: Any, updated_at: Any) -> int | None:
    """A record's modification time: its modification property, else its ``updatedAt``."""
    found = parse_timestamp_ms(modified)
    return found if found is not None else parse_timestamp_ms(updated_at)


@dataclass
class AssociationPage:
    """One answer of the v4 associations batch read: each asked id's links found so far
    (``(to id, type)`` pairs), and the cursor of the ids that have more."""

    links: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    more: dict[str, str] = field(default_factory=dict)  # from id -> its next cursor


NO_ASSOCIATIONS = "crm.associations.NO_ASSOCIATIONS_FOUND"


def parse_associations(body: Any, default_type: str, what: str) -> AssociationPage:
    """Read ``{"results": [{"from": {"id"}, "to": [{"toObjectId", "associationTypes":
    [...]}], "paging": {"next": {"after"}}}]}``. ``toObjectId`` may be a number or a string.
    An association type is named by its label, or ``default_type`` when it has none (v3's
    ``contact_to_company``). Errors other than "no associations found" reject the answer."""
    results = body.get("results") if isinstance(body, Mapping) else None
    if not isinstance(results, list):
        raise BadPage(f"{what}: response has no 'results' list; answer rejected")
    for error in body.get("errors") or []:
        if not isinstance(error, Mapping) or error.get("subCategory") != NO_ASSOCIATIONS:
            raise BadPage(f"{what}: unexpected error in the answer: {str(error)[:200]}")
    page = AssociationPage()
    for result in results:
        source = result.get("from") if isinstance(result, Mapping) else None
        from_id = source.get("id") if isinstance(source, Mapping) else None
        targets = result.get("to")
        if not isinstance(from_id, str | int) or not isinstance(targets, list):
            raise BadPage(f"{what}: a result without 'from.id' or 'to'; answer rejected")
        links = page.links.setdefault(str(from_id), set())
        for target in targets:
            to_id = target.get("toObjectId") if isinstance(target, Mapping) else None
            kinds = target.get("associationTypes") if isinstance(target, Mapping) else None
            if not isinstance(to_id, str | int) or isinstance(to_id, bool):
                raise BadPage(f"{what}: an association without 'toObjectId'; answer rejected")
            if not isinstance(kinds, list) or not kinds:
                kinds = [{}]
            for kind in kinds:
                label = kind.get("label") if isinstance(kind, Mapping) else None
                links.add((str(to_id), str(label) if label else default_type))
        cursor = next_after(result)
        if cursor is not None:
            page.more[str(from_id)] = cursor
    return page


@dataclass
class Schemas:
    """What the schemas API says of the account's custom objects."""

    # Every name a custom object goes by (``name``, ``fullyQualifiedName``, lower case, and
    # ``objectTypeId`` itself) -> its ``objectTypeId``: what the object APIs take.
    type_ids: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # objectTypeId -> name (a feed path)


def parse_schemas(body: Any, what: str) -> Schemas:
    results = body.get("results") if isinstance(body, Mapping) else None
    if not isinstance(results, list):
        raise BadPage(f"{what}: response has no 'results' list")
    out = Schemas()
    for schema in results:
        type_id = schema.get("objectTypeId") if isinstance(schema, Mapping) else None
        if not isinstance(type_id, str) or not type_id:
            raise BadPage(f"{what}: a schema without 'objectTypeId'")
        out.type_ids[type_id] = type_id
        for key in ("name", "fullyQualifiedName"):
            name = schema.get(key)
            if isinstance(name, str) and name:
                out.type_ids[name.lower()] = type_id
                if key == "name":
                    out.names[type_id] = name.lower()
    return out
