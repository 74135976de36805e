"""Which client called the simulator's API, and when: a bounded log of API requests.

A test that runs the proxy as processes (and kills and restarts them) gives each process
its own ``User-Agent`` and reads ``GET /_sim/log?after=N`` to prove which process called
HubSpot at what time and what it got back. Each entry has an increasing ``seq``, so a test
polls incrementally: pass the ``next`` of one answer as ``after`` of the next request.

``t`` is the simulator's monotonic time (``HubSpotSimulator.monotonic``) when the request
arrived; entries are numbered when answered, so with delays or concurrency ``t`` need not
grow with ``seq``. A simulator run as a process uses ``time.monotonic()``, which on Linux is
the same clock other processes on the host read. Only the newest :data:`MAX_ENTRIES` are
kept; per-client counts cover every request.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Final

MAX_ENTRIES: Final = 200_000


@dataclass(frozen=True, slots=True)
class LogEntry:
    seq: int
    t: float
    client: str
    """The request's ``User-Agent`` header, or ``""`` without one."""
    route: str
    """The route name (``list``, ``search``, ``get``, ``batch_read``, ``properties``,
    ``associations``, ``schemas``, ``schema``), whatever the object type, or ``other`` for
    a path that matches no route."""
    status: int

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "t": self.t,
            "client": self.client,
            "route": self.route,
            "status": self.status,
        }


class RequestLog:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: deque[LogEntry] = deque(maxlen=max_entries)
        self.last_seq = 0
        """The ``seq`` of the newest entry (0 before the first)."""
        self.clients: Counter[str] = Counter()
        """API requests per ``User-Agent``, never trimmed."""

    def record(self, *, t: float, client: str, route: str, status: int) -> None:
        self.last_seq += 1
        self.clients[client] += 1
        self._entries.append(LogEntry(self.last_seq, t, client, route, status))

    def after(self, seq: int) -> list[LogEntry]:
        """The kept entries numbered above ``seq``, oldest first."""
        entries = self._entries
        if not entries:
            return []
        # Numbers are consecutive, so the first wanted entry's position is arithmetic.
        skip = max(0, seq - entries[0].seq + 1)
        return list(itertools.islice(entries, skip, None))
