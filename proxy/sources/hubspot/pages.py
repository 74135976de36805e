"""Validating pages and reading HubSpot timestamps. A page of the wrong shape is rejected
whole, before anything of it is written."""

from __future__ import annotations

from collections.abc import Mapping
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
    paging = body.get("paging")
    if not isinstance(paging, Mapping):
        return None
    nxt = paging.get("next")
    if not isinstance(nxt, Mapping) or nxt.get("after") in (None, ""):
        return None
    return str(nxt["after"])


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
    found = parse_timestamp_ms(props.get(modified_property))
    return found if found is not None else parse_timestamp_ms(record.get("updatedAt"))
