"""Fault switches a test flips between requests to make the simulator misbehave."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Faults:
    """Everything defaults to "off": a fresh ``Faults()`` is a well-behaved HubSpot.

    Counters named ``*_next`` are consumed by the requests they affect, so setting
    ``fail_next = 2`` breaks exactly the next two API requests.
    """

    fail_next: int = 0
    """The next N API requests (not ``/_sim``) answer ``fail_status``."""
    fail_after: int = 0
    """``fail_next`` waits until this many more API requests have been answered normally
    (to break HubSpot in the middle of a run)."""
    fail_status: int = 502
    fail_html: bool = True
    """Injected failures carry an HTML page (like HubSpot's edge) instead of a JSON error."""
    rate_limit_next: int = 0
    """The next N API requests answer 429 with the ten_secondly_rolling body."""
    retry_after_seconds: float | None = None
    """When set, every 429 carries ``Retry-After`` with this value."""
    delay_seconds: float = 0.0
    """Every API request sleeps this long before answering (to provoke client timeouts)."""
    malformed_next: int = 0
    """The next N list/search responses have a wrong shape: the first drops ``results``, the
    second returns a record without ``id``, alternating (counted over the simulator's life)."""
    search_lag_ms: int = 0
    """A record written at clock time T is invisible to search until T + lag."""
    max_url_length: int = 8000
    """A request whose path + query is longer answers 414 with an HTML body."""
    rate_limit_per_10s: int | None = None
    """Rolling 10 s budget for non-search requests; None means unlimited."""
    search_per_second: int | None = None
    """Rolling 1 s budget for search requests; None means unlimited."""
    search_result_cap: int = 10_000
    """Search offsets at or beyond this answer 400 (see ``search.py``)."""


def corrupt_page(payload: dict[str, Any], served_before: int) -> dict[str, Any]:
    """Break a list/search payload the way ``Faults.malformed_next`` promises.

    ``served_before`` counts malformed responses already served: even numbers drop
    ``results``, odd numbers strip ``id`` from the first record (or drop ``results`` when the
    page is empty, since there is no record to break).
    """
    results = payload.get("results") or []
    if served_before % 2 == 0 or not results:
        return {key: value for key, value in payload.items() if key != "results"}
    broken = {key: value for key, value in results[0].items() if key != "id"}
    return {**payload, "results": [broken, *results[1:]]}
