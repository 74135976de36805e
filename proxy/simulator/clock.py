"""Time sources for the simulator.

Record timestamps (``createdate``, ``lastmodifieddate``, search index lag) come from a
:class:`Clock` in epoch milliseconds, so tests can pin them with :class:`ManualClock`.
Rate-limit windows use a separate monotonic source (see ``ratelimit.py``): a benchmark
serving a real client needs real elapsed time there even when record time is pinned.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Current time in epoch milliseconds."""
        ...


class WallClock:
    """Real time."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told to; for deterministic tests."""

    def __init__(self, start_ms: int) -> None:
        self._now_ms = start_ms

    def now_ms(self) -> int:
        return self._now_ms

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("a clock does not run backwards; use set() on purpose")
        self._now_ms += ms

    def set(self, ms: int) -> None:
        self._now_ms = ms


def iso_from_ms(ms: int) -> str:
    """Format epoch milliseconds the way HubSpot does: ``2019-10-30T03:30:17.883Z``."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def ms_from_iso(text: str) -> int:
    """Parse an ISO-8601 timestamp or date (naive means UTC) into epoch milliseconds.

    Raises ``ValueError`` for anything else.
    """
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)
