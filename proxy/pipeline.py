"""Writing a run's pages in order while the next ones are fetched; pages that wait are
written together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from proxy.diff import Incoming
from proxy.fetch import Fetched
from proxy.run_context import RunContext
from proxy.store.scans import ScanPosition

T = TypeVar("T")


# When writes are the slower stage (Postgres: the server stores each page while the next is
# fetched), pages fetched meanwhile are written together, in one transaction: what every
# write costs whatever its size (the counter lock, the lease check, the statements' round
# trips, the commit) is paid once for them. Measured on 31 KB records, 30,000 of them:
# Postgres 5,711-6,046 -> 6,454 (2 pages), 6,867 (3), 6,771/s (4); SQLite unchanged, its
# writes cost by the byte. Each page held costs its records' size (3 MB for 100 of 31 KB).
MAX_PAGES_PER_WRITE = 3


async def ingest(
    run: RunContext,
    pages: AsyncIterator[Fetched],
    position_after: Callable[[Fetched], ScanPosition] | None = None,
) -> None:
    """Diff and write every page, in order. Pages are fetched ahead while earlier ones are
    written (at most MAX_PAGES_PER_WRITE waiting); the pages waiting when a write ends are
    written next, together, with the position after the last of them. At most one write is
    in flight, so writes commit one after another."""
    writing: asyncio.Task[None] | None = None
    ahead = FetchedAhead(pages, depth=MAX_PAGES_PER_WRITE)
    try:
        while True:
            if writing is not None:
                await writing
                writing = None
            waiting = await ahead.take(MAX_PAGES_PER_WRITE)
            if not waiting:
                break
            page = joined(waiting)
            incoming = run.incoming(page.records)
            position = position_after(waiting[-1]) if position_after is not None else None
            writing = asyncio.ensure_future(write(run, page, incoming, position))
    finally:
        try:
            if writing is not None and not writing.done():
                # A fetch failed, or the run is being cancelled, while a page was being
                # written: let the page commit whole.
                await asyncio.shield(writing)
        finally:
            await ahead.aclose()


def joined(pages: list[Fetched]) -> Fetched:
    """Consecutive pages as one, in their order: the records, sightings and merged-away ids
    of each, the last one's place in the listing (and the search's total)."""
    if len(pages) == 1:
        return pages[0]
    return Fetched(
        records=[r for p in pages for r in p.records],
        sighted=[i for p in pages for i in p.sighted],
        gone=[i for p in pages for i in p.gone],
        total=pages[-1].total,
        after=pages[-1].after,
        probe=any(p.probe for p in pages),
    )


async def write(
    run: RunContext, page: Fetched, incoming: list[Incoming], position: ScanPosition | None
) -> None:
    """One page: the ids seen unchanged, then the records fetched with the scan's position
    after the page (never saved ahead of the page's sightings), then the ids merged away."""
    await run.writer.sight(page.sighted)
    await run.writer.apply_page(incoming, position, probe=page.probe)
    if page.gone:
        await run.writer.mark_deleted(page.gone)
    run.writer.counts.requests = run.stats.requests
    if run.progress is not None:
        run.progress(run.writer.counts, page.total)


class FetchedAhead(Generic[T]):
    """``pages`` read by a task of its own, at most ``depth`` pages (fetched or being
    fetched) ahead of the reader, so HubSpot's (or the network's) time overlaps the time
    spent diffing and writing, and memory stays bounded by ``depth`` pages. A failure of
    the source is raised by :meth:`take`, after the pages before it."""

    def __init__(self, pages: AsyncIterator[T], depth: int) -> None:
        self._pages = pages
        self._room = asyncio.Semaphore(depth)
        self._queue: asyncio.Queue[T | _End] = asyncio.Queue()
        self._task = asyncio.ensure_future(self._fill())

    async def _fill(self) -> None:
        try:
            while True:
                await self._room.acquire()
                try:
                    page = await anext(self._pages)
                except StopAsyncIteration:
                    break
                self._queue.put_nowait(page)
        except Exception as exc:
            self._queue.put_nowait(_End(exc))
        else:
            self._queue.put_nowait(_End(None))

    async def take(self, most: int) -> list[T]:
        """The next page (waited for) and those already waiting behind it, at most ``most``;
        [] at the end."""
        taken: list[T] = []
        while len(taken) < most and (not taken or not self._queue.empty()):
            item = await self._queue.get()
            if isinstance(item, _End):
                self._queue.put_nowait(item)  # the end stays the end
                if item.error is not None and not taken:
                    raise item.error
                break
            taken.append(item)
            self._room.release()
        return taken

    async def aclose(self) -> None:
        """Stop reading ahead, and close ``pages`` (their ``finally`` blocks run now)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        close = getattr(self._pages, "aclose", None)
        if close is not None:
            await close()


@dataclass(frozen=True)
class _End:
    error: Exception | None


async def prefetched(pages: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """Yield ``pages`` while already fetching the next one (a listing's pages while the
    records they name are fetched)."""
    ahead = FetchedAhead(pages, depth=1)
    try:
        while taken := await ahead.take(1):
            yield taken[0]
    finally:
        await ahead.aclose()
