"""Reading the query strings of the GET endpoints, and the list endpoint's paging cursor."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from .error_responses import ApiError

if TYPE_CHECKING:
    from multidict import MultiMapping


def invalid(message: str) -> ApiError:
    return ApiError(400, message, "VALIDATION_ERROR")


def encode_list_cursor(last_id: int) -> str:
    """Opaque like HubSpot's (``NTI1`` is base64 of ``525``); clients must not parse it."""
    return base64.urlsafe_b64encode(str(last_id).encode()).decode()


def decode_list_cursor(cursor: str | None) -> int | None:
    """The id the next page starts after. Plain integers are accepted too (base64 of digits
    never consists of digits only, so the two forms cannot be confused)."""
    if cursor is None or cursor == "":
        return None
    if cursor.isdigit():
        return int(cursor)
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid(f"Invalid paging cursor {cursor!r}.") from None


def parse_limit(raw: str | None, *, default: int, maximum: int) -> int:
    """A page size; above ``maximum`` is clamped to it (the list endpoint does not refuse)."""
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise invalid(f"limit must be an integer, got {raw!r}.") from None
    if limit < 1:
        raise invalid(f"limit must be positive, got {limit}.")
    return min(limit, maximum)


def parse_bool(raw: str | None) -> bool:
    return raw is not None and raw.lower() == "true"


def requested_properties(query: MultiMapping[str]) -> list[str] | None:
    """Names from ``properties=a,b`` and/or repeated ``properties=`` params; None if absent."""
    names = [
        name.strip()
        for value in query.getall("properties", [])
        for name in value.split(",")
        if name.strip()
    ]
    return names or None
