"""A pause a test sets to stop HubSpot in the middle of a listing, and lifts again.

``sim.list_pause = ListPause(after_pages=1)``: the first list page is answered, the next
list request waits (``reached`` is set) until ``release()``. A test can then act while a
sync run is known to be mid-scan (an operator's request, another process's run) without
sleeping and hoping the run is where it should be. In-process only: it holds an
``asyncio.Event``, which no ``/_sim/`` route could set.
"""

from __future__ import annotations

import asyncio


class ListPause:
    def __init__(self, after_pages: int) -> None:
        if after_pages < 0:
            raise ValueError("after_pages cannot be negative")
        self.after_pages = after_pages
        self.served = 0
        self.reached = asyncio.Event()
        """Set when a list request is being held."""
        self._released = asyncio.Event()

    async def passing(self) -> None:
        """Called by the list handler before it answers: counts the page, or holds it."""
        if self.served >= self.after_pages:
            self.reached.set()
            await self._released.wait()
        self.served += 1

    def release(self) -> None:
        """Let every held and later list request through."""
        self._released.set()
