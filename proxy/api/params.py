"""The one parser of numbers in paths and query strings. Anything malformed or out of range
is a 400 with the same wording everywhere: ``<name> must be an integer from A to B``."""

from __future__ import annotations

from proxy.errors import BadRequest

BIGINT_MAX = 2**63 - 1  # change numbers (_updated) are BIGINTs
INT_MAX = 2**31 - 1  # run ids are INTEGERs (4 bytes on Postgres)


def parse_int(name: str, raw: str, *, minimum: int = 0, maximum: int = BIGINT_MAX) -> int:
    """``raw`` as an integer in [minimum, maximum]. Only ASCII digits count: ``str.isdigit``
    and ``int`` also take other scripts' digits and superscripts, which are not numbers to
    a URL."""
    text = raw.strip(" ")
    valid = text.isascii() and text.isdigit() and len(text) <= len(str(maximum))
    if not valid or not minimum <= int(text) <= maximum:
        raise BadRequest(f"{name} must be an integer from {minimum} to {maximum}, got {raw[:40]!r}")
    return int(text)


def parse_since(raw: str | None) -> int:
    """``since`` is an ``_updated`` value this service emitted; absent means from the start."""
    return 0 if raw is None else parse_int("since", raw)


def parse_limit(raw: str | None, *, maximum: int = BIGINT_MAX) -> int | None:
    """``limit`` caps the number of entities; absent means all."""
    return None if raw is None else parse_int("limit", raw, minimum=1, maximum=maximum)


def parse_run_id(raw: str) -> int:
    return parse_int("run id", raw, minimum=1, maximum=INT_MAX)
