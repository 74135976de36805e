"""Parsing the feed's query parameters. Anything malformed is a 400 with a clear message."""

from __future__ import annotations

from proxy.errors import BadRequest

# _updated values are BIGINTs; anything longer than this many digits cannot be one.
_MAX_INT = 2**63 - 1


def _parse_int(name: str, raw: str) -> int:
    text = raw.strip()
    # isdecimal() accepts other scripts' digits (e.g. Arabic-Indic); only ASCII is a number here.
    if not text or not text.isascii() or not text.isdecimal():
        raise BadRequest(f"{name} must be a non-negative integer, got {raw[:40]!r}")
    if len(text) > 19 or int(text) > _MAX_INT:
        raise BadRequest(f"{name} is too large: {text[:40]}")
    return int(text)


def parse_since(raw: str | None) -> int:
    """``since`` is an ``_updated`` value this service emitted; absent means from the start."""
    if raw is None:
        return 0
    return _parse_int("since", raw)


def parse_limit(raw: str | None) -> int | None:
    """``limit`` caps the number of entities; absent means all."""
    if raw is None:
        return None
    value = _parse_int("limit", raw)
    if value == 0:
        raise BadRequest("limit must be a positive integer, got 0")
    return value
