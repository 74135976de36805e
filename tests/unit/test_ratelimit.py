"""The rolling-window limiter, on a fake clock (no real waiting)."""

from __future__ import annotations

import asyncio

from proxy.sources.ratelimit import Budget, RollingWindowLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(
    t: FakeTime, n: int = 10, window: float = 10.0, margin: float = 0.1
) -> RollingWindowLimiter:
    return RollingWindowLimiter(n, window, margin=margin, clock=t.clock, sleep=t.sleep)


def send(lim: RollingWindowLimiter, t: FakeTime, count: int) -> list[float]:
    """Acquire ``count`` slots; the fake times at which each request went out."""

    async def go() -> list[float]:
        times = []
        for _ in range(count):
            await lim.acquire()
            times.append(t.now)
        return times

    return asyncio.run(go())


def test_never_more_than_the_budget_less_margin_in_any_window() -> None:
    t = FakeTime()
    lim = limiter(t, n=100)
    times = send(lim, t, 400)
    assert lim.limit == 90
    for i, start in enumerate(times):
        in_window = [x for x in times[i:] if x < start + 10.0]
        assert len(in_window) <= 90
    # And it does not dawdle: 400 requests at 90 per 10 s need just over 40 s.
    assert times[-1] < 40.01


def test_learns_the_servers_budget_from_headers() -> None:
    t = FakeTime()
    lim = limiter(t, n=10)
    lim.observe(Budget(max=190, remaining=180, interval_s=10.0))
    assert lim.limit == 171
    times = send(lim, t, 171)
    assert times[-1] == 0.0


def test_pauses_when_someone_else_spends_the_budget() -> None:
    t = FakeTime()
    lim = limiter(t, n=100)
    send(lim, t, 1)
    lim.observe(Budget(max=100, remaining=3, interval_s=10.0))
    times = send(lim, t, 1)
    assert times == [10.0]


def test_429_without_retry_after_waits_a_whole_window() -> None:
    t = FakeTime()
    lim = limiter(t)
    lim.pause(None)
    assert send(lim, t, 1) == [10.0]
    lim.pause(2.5)
    assert send(lim, t, 1) == [12.5]
