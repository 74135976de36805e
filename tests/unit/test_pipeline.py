"""The read-ahead stage of a sync run: pages are fetched ahead of the writer, never more than
its depth (memory), handed over with those waiting behind them (so they are written
together), a source's failure comes after the pages before it, and closing it closes the
source."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from proxy.fetch import Fetched
from proxy.pipeline import FetchedAhead, joined
from proxy.sources.hubspot.batch_read import FetchedRecord


class Source:
    """Pages 0..n-1, counting how many were asked for; fails after ``fail_after`` pages."""

    def __init__(self, n: int, fail_after: int | None = None) -> None:
        self.n = n
        self.fail_after = fail_after
        self.produced = 0
        self.closed = False
        self.reached: dict[int, asyncio.Event] = {}

    def when_produced(self, count: int) -> asyncio.Event:
        return self.reached.setdefault(count, asyncio.Event())

    async def pages(self) -> AsyncIterator[int]:
        try:
            for i in range(self.n):
                if i == self.fail_after:
                    raise RuntimeError("HubSpot went away")
                self.produced += 1
                if self.produced in self.reached:
                    self.reached[self.produced].set()
                yield i
        finally:
            self.closed = True


async def settle() -> None:
    """Let every task that can run, run (the read-ahead task stops when it has no room)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_reads_at_most_depth_pages_ahead_and_hands_over_those_waiting() -> None:
    source = Source(10)
    ahead = FetchedAhead(source.pages(), depth=3)
    await source.when_produced(3).wait()
    await settle()
    assert source.produced == 3  # no room for a fourth before one is taken
    assert await ahead.take(1) == [0]
    await source.when_produced(4).wait()
    await settle()
    assert source.produced == 4
    assert await ahead.take(5) == [1, 2, 3]  # those waiting, not more
    await source.when_produced(7).wait()
    assert await ahead.take(2) == [4, 5]  # at most as many as asked for
    await source.when_produced(9).wait()
    assert await ahead.take(10) == [6, 7, 8]
    assert await ahead.take(10) == [9]  # waited for
    assert await ahead.take(10) == []
    assert await ahead.take(10) == []  # the end stays the end
    await ahead.aclose()
    assert source.closed


async def test_a_failure_comes_after_the_pages_before_it() -> None:
    source = Source(10, fail_after=2)
    ahead = FetchedAhead(source.pages(), depth=3)
    await source.when_produced(2).wait()
    await settle()
    assert await ahead.take(5) == [0, 1]
    with pytest.raises(RuntimeError, match="HubSpot went away"):
        await ahead.take(5)
    await ahead.aclose()


async def test_closing_stops_reading_and_closes_the_source() -> None:
    source = Source(100)
    ahead = FetchedAhead(source.pages(), depth=2)
    assert await ahead.take(1) == [0]
    await ahead.aclose()
    assert source.closed
    produced = source.produced
    await settle()
    assert source.produced == produced <= 3


def record(entity_id: str) -> FetchedRecord:
    return FetchedRecord(entity_id, False, 1, [], f'{{"id":"{entity_id}"}}')


def test_joined_pages_keep_their_order_and_the_last_ones_place() -> None:
    first = Fetched([record("1"), record("2")], sighted=["7"], gone=["9"], after="a")
    second = Fetched([record("3")], sighted=["8"], after="b", probe=True, total=50)
    page = joined([first, second])
    assert [r.id for r in page.records] == ["1", "2", "3"]
    assert (page.sighted, page.gone, page.after, page.total) == (["7", "8"], ["9"], "b", 50)
    assert page.probe
    assert joined([first]) is first
