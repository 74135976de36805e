"""Writing a run's pages in order while the next one is fetched."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from proxy.diff import Incoming
from proxy.run_context import RunContext
from proxy.sources.base import FeedPage
from proxy.store.scans import ScanPosition

T = TypeVar("T")


@dataclass
class _Group:
    """Pages to be written in one transaction, in order."""

    pages: list[FeedPage] = field(default_factory=list)
    incoming: list[Incoming] = field(default_factory=list)
    position: ScanPosition | None = None
    size: int = 0
    ids: set[str] = field(default_factory=set)

    def takes(self, page: FeedPage, incoming: list[Incoming], limit: int) -> bool:
        """Whether a page can join: it brings no records (its ids seen unchanged cost the
        transaction next to nothing) or the group holds less than ``limit`` bytes of them,
        and it names no id the group names (written together, a page's sightings, records
        and merges would no longer come after the earlier page's)."""
        if not self.pages:
            return True
        room = not incoming or self.size < limit
        return room and self.ids.isdisjoint(_ids(page, incoming))

    def add(self, page: FeedPage, incoming: list[Incoming], position: ScanPosition | None) -> None:
        self.pages.append(page)
        self.incoming.extend(incoming)
        self.size += sum(len(r.data) for r in incoming)
        self.ids.update(_ids(page, incoming))
        if position is not None:
            self.position = position


def _ids(page: FeedPage, incoming: list[Incoming]) -> Iterator[str]:
    yield from (r.entity_id for r in incoming)
    yield from page.sighted
    yield from page.gone


async def ingest(
    run: RunContext,
    pages: AsyncIterator[FeedPage],
    position_after: Callable[[FeedPage], ScanPosition] | None = None,
) -> None:
    """Diff and write every page, in order. The next page is fetched while this one is
    processed (``prefetched``), and diffed while the previous one is being written: at most
    one write is in flight, so pages still commit one after another. Where the store
    allows it (:attr:`RunWriter.group_bytes`), pages that arrive while a write runs are
    written together when it ends: a writer that keeps up writes each page by itself."""
    writing: asyncio.Task[None] | None = None
    group = _Group()
    limit = run.writer.group_bytes
    try:
        async with contextlib.aclosing(prefetched(pages)) as stream:
            async for page in stream:
                incoming = run.incoming(page.records)
                if not group.takes(page, incoming, limit):
                    if writing is not None:
                        await writing
                    writing, group = asyncio.ensure_future(write(run, group)), _Group()
                group.add(page, incoming, position_after(page) if position_after else None)
                if writing is None or writing.done():
                    if writing is not None:
                        await writing  # raises what the write raised
                    writing, group = asyncio.ensure_future(write(run, group)), _Group()
        if writing is not None:
            await writing
        if group.pages:
            last, group = group, _Group()
            await write(run, last)
    except Exception:
        # A fetch failed: the pages fetched before it are written all the same, so a
        # resumed scan starts after them. (A write that failed raises its own error here.)
        if writing is not None:
            await asyncio.shield(writing)
        if group.pages:
            await write(run, group)
        raise
    finally:
        if writing is not None and not writing.done():
            # A fetch failed, or the run is being cancelled, while pages were being
            # written: let them commit whole.
            await asyncio.shield(writing)


async def write(run: RunContext, group: _Group) -> None:
    """Pages in one transaction where the store can: the ids seen unchanged, then the
    records fetched with the scan's position after the last page (never saved ahead of
    the pages' sightings), then the ids merged away."""
    pages = group.pages
    await run.writer.sight([i for page in pages for i in page.sighted])
    await run.writer.apply_page(group.incoming, group.position, probe=any(p.probe for p in pages))
    gone = [i for page in pages for i in page.gone]
    if gone:
        await run.writer.mark_deleted(gone)
    for page in pages:
        if page.written is not None:
            page.written()
    run.writer.counts.requests = run.stats.requests
    if run.progress is not None:
        run.progress(run.writer.counts, pages[-1].total)


async def prefetched(pages: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """Yield ``pages`` while already fetching the next one, so HubSpot's (or the network's)
    time overlaps the time spent diffing and writing the current page. At most one page is
    held ahead: memory stays bounded by the page size."""
    iterator = aiter(pages)
    pending: asyncio.Future[T] | None = asyncio.ensure_future(anext(iterator))
    try:
        while pending is not None:
            try:
                page = await pending
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(anext(iterator))
            yield page
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
