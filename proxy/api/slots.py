"""At most a fixed number of feed responses stream at once per process; the others wait."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from proxy.errors import FeedBusy

# Feed responses streaming at once per process. A pull holds about three batches of
# FEED_BATCH_BYTES (proxy/store/reads.py): bench.feed measured an unpaged pull of 20 KB
# records at ~+9 MB over the idle server's ~79 MB, and five pulls at once (four streaming,
# one waiting) at a peak of ~97 MB on SQLite and ~94 MB on Postgres (bench/RESULTS.md): well
# within the 150 MB target. More slots would not stream faster: one event loop writes every
# response.
FEED_CONCURRENCY = 4

# How long a pull waits for a slot before it gets 503 with Retry-After. Four unpaged pulls
# of 100,000 contacts hold the slots for seconds (bench.feed: under a second each); slots
# still taken after a minute are held by clients reading slowly, and a client is better
# told when to come back than kept waiting towards Sesam's 1,800 s read timeout.
FEED_SLOT_WAIT_SECONDS = 60.0


class FeedSlots:
    """Admission for feed responses: :meth:`slot` waits (first come, first served) until
    fewer than ``limit`` responses stream, at most ``wait_s`` seconds, then raises
    :class:`FeedBusy`. ``streaming`` and ``waiting`` count the pulls in each state."""

    def __init__(
        self, limit: int = FEED_CONCURRENCY, wait_s: float = FEED_SLOT_WAIT_SECONDS
    ) -> None:
        if limit < 1:
            raise ValueError("at least one feed response must be able to stream")
        self.limit = limit
        self.wait_s = wait_s
        self.streaming = 0
        self.waiting = 0
        self._free = asyncio.Semaphore(limit)
        self._change = asyncio.Event()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        self._count(waiting=+1)
        try:
            async with asyncio.timeout(self.wait_s):
                await self._free.acquire()
        except TimeoutError:
            raise FeedBusy(
                f"{self.limit} feed responses are streaming and none finished within "
                f"{self.wait_s:g} s; try again later"
            ) from None
        finally:
            self._count(waiting=-1)
        self._count(streaming=+1)
        try:
            yield
        finally:
            self._count(streaming=-1)
            self._free.release()

    async def wait_until(self, condition: Callable[[FeedSlots], bool]) -> None:
        """Return once ``condition(self)`` holds, woken by each change of the counts rather
        than polling (for tests and anything else that must see the queue move)."""
        while not condition(self):
            await self._change.wait()

    def _count(self, *, streaming: int = 0, waiting: int = 0) -> None:
        self.streaming += streaming
        self.waiting += waiting
        # Wake every current waiter, and give later ones a fresh event to wait on.
        self._change.set()
        self._change = asyncio.Event()
