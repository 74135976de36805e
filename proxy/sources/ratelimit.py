"""Client-side pacing: a rolling-window budget that learns from the server's headers."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

# The longest one 429 may pause the limiter.
MAX_PAUSE_S = 60.0


@dataclass(frozen=True)
class Budget:
    """What the server announced about its window (HubSpot's X-HubSpot-RateLimit-*)."""

    max: int
    remaining: int
    interval_s: float | None  # None: not announced (or not believable); keep our window


class RollingWindowLimiter:
    """At most ``max_requests`` in any ``window_s`` seconds, minus a safety margin.

    Every request this process sends, retries and 429s included, is recorded. The server's
    headers correct our view: its ``Max`` replaces the configured budget, and a ``Remaining``
    at or below the margin (another client shares the token) pauses us until the window has
    room. A 429 pauses us for ``Retry-After`` or, without one, a whole window.
    """

    def __init__(
        self,
        max_requests: int,
        window_s: float,
        *,
        margin: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.window_s = window_s
        self.margin = margin
        self._max = max_requests
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.last_budget: Budget | None = None

    @property
    def limit(self) -> int:
        """Requests we allow ourselves per window: the budget less the safety margin."""
        return max(1, int(self._max * (1 - self.margin)))

    def _expire(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.window_s:
            self._sent.popleft()

    async def acquire(self) -> None:
        """Wait until one more request fits the budget, then count it as sent."""
        async with self._lock:  # FIFO: waiting requests go out in order
            while True:
                now = self._clock()
                self._expire(now)
                wait = self._paused_until - now
                if wait <= 0 and len(self._sent) < self.limit:
                    self._sent.append(now)
                    return
                if wait <= 0:
                    wait = self._sent[0] + self.window_s - now
                await self._sleep(max(wait, 0.001))

    def observe(self, budget: Budget) -> None:
        """Learn from the server's rate-limit headers."""
        self.last_budget = budget
        self._max = max(1, budget.max)
        if budget.interval_s is not None:
            self.window_s = budget.interval_s
        if budget.remaining <= self._max * self.margin:
            # Someone else is spending this budget too: hold until our oldest request leaves
            # the window (or a whole window, if we have none in it).
            now = self._clock()
            self._expire(now)
            until = (self._sent[0] if self._sent else now) + self.window_s
            self._paused_until = max(self._paused_until, until)

    def pause(self, seconds: float | None) -> None:
        """After a 429: wait ``seconds`` (Retry-After) or, unknown, a whole window; never
        longer than MAX_PAUSE_S (callers pass sanitised values; this is the last guard of a
        limiter every sync of the process shares)."""
        delay = self.window_s if seconds is None else seconds
        delay = min(max(delay, 0.0), MAX_PAUSE_S)
        self._paused_until = max(self._paused_until, self._clock() + delay)

    def in_window(self) -> int:
        self._expire(self._clock())
        return len(self._sent)
