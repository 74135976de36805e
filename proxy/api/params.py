"""The one parser of numbers in paths and query strings. Anything malformed or out of range
is a 400 with the same wording everywhere: ``<name> must be an integer from A to B``."""

from __future__ import annotations

from datetime import UTC, datetime

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


def parse_since(raw: str | None) -> int | datetime:
    """``since`` is an ``_updated`` value this service emitted (an integer); absent means
    from the start. An ISO 8601 time (what Sesam's HubSpot tutorial service emitted as
    ``_updated``, HubSpot's modification time; with or without Sesam's ``~t`` transit
    prefix) is taken too, so a pipe switches over from that service without a reset."""
    if raw is None:
        return 0
    text = raw.strip(" ").removeprefix("~t")
    if text[:1].isdigit() and ("-" in text or "T" in text):
        return _parse_time(raw, text)
    return parse_int("since", raw)


def _parse_time(raw: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"since must be an integer or an ISO 8601 time such as 2024-05-01T10:00:00Z, "
            f"got {raw[:40]!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_limit(raw: str | None, *, maximum: int = BIGINT_MAX) -> int | None:
    """``limit`` caps the number of entities; absent means all."""
    return None if raw is None else parse_int("limit", raw, minimum=1, maximum=maximum)


def parse_run_id(raw: str) -> int:
    return parse_int("run id", raw, minimum=1, maximum=INT_MAX)
