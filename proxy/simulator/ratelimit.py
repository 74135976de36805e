"""HubSpot's request budgets: a rolling 10-second window per token for ordinary requests and
a rolling 1-second window for search (which HubSpot budgets separately and reports no
headers for). Rejected requests count too, as in HubSpot: a client that keeps hammering
while limited stays limited.

Time is passed in as seconds of a monotonic clock, so tests decide when a window has passed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

#: What ``X-HubSpot-RateLimit-Max`` reports when the simulator is not limiting at all.
UNLIMITED_REPORTED_MAX: Final = 100_000
TEN_SECONDS_MS: Final = 10_000


@dataclass(frozen=True)
class Admission:
    allowed: bool
    max: int
    remaining: int


class RollingWindow:
    """Counts requests made in the last ``window_s`` seconds."""

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._times: deque[float] = deque()

    def hit(self, now: float, limit: int | None) -> Admission:
        """Record one request at ``now`` and say whether it fits in ``limit`` (None = any)."""
        times = self._times
        while times and times[0] <= now - self._window_s:
            times.popleft()
        times.append(now)
        reported_max = UNLIMITED_REPORTED_MAX if limit is None else limit
        return Admission(
            allowed=limit is None or len(times) <= limit,
            max=reported_max,
            remaining=max(0, reported_max - len(times)),
        )


class RateLimiter:
    """The two budgets of one token."""

    def __init__(self) -> None:
        self._ten_secondly = RollingWindow(TEN_SECONDS_MS / 1000)
        self._search = RollingWindow(1.0)

    def admit(
        self, *, search: bool, now: float, per_10s: int | None, search_per_second: int | None
    ) -> Admission:
        if search:
            return self._search.hit(now, search_per_second)
        return self._ten_secondly.hit(now, per_10s)
