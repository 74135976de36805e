"""The hazards of listing without a filter, over HTTP: loops, cut listings, offset drift,
5xx and 429 with garbage Retry-After."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.errors import BadPage, ListingLoop, UpstreamRetryable
from proxy.sources.http import MAX_HEADER_WAIT_S

from .conftest import N_RECORDS, STYLES, Upstream, collect, ids_of


@pytest.mark.parametrize("style", ["next_link", "link_header", "cursor", "cursor_body"])
async def test_a_repeating_cursor_or_link_fails_no_loop(upstream: Upstream, style: str) -> None:
    upstream.sim.faults.repeat_cursor = True
    with pytest.raises(ListingLoop) as info:
        await collect(upstream.source(STYLES[style]))
    assert str(info.value).startswith("source orders: page ")
    assert upstream.sim.counters.requests <= 4  # stopped at once, not after many pages


@pytest.mark.parametrize("style", ["page", "page_by_size", "offset"])
async def test_an_ignored_page_parameter_fails_no_loop(upstream: Upstream, style: str) -> None:
    upstream.sim.faults.ignore_page_param = True
    table = STYLES[style]
    if style == "page":
        table = {**table, "pagination": {"style": "page", "param": "page"}}  # no end but empty
    if style == "offset":
        table = {**table, "pagination": {**table["pagination"], "total": None}}
        del table["pagination"]["total"]
    with pytest.raises(ListingLoop, match="has exactly the ids of page 1: the API ignores"):
        await collect(upstream.source(table))
    assert upstream.sim.counters.requests == 2


@pytest.mark.parametrize("style", ["next_link", "offset", "page"])
async def test_a_listing_cut_short_is_incomplete(upstream: Upstream, style: str) -> None:
    upstream.sim.conditional = False
    upstream.sim.faults.drop_next_on_page = 2
    pages, summary = await collect(upstream.source(STYLES[style]))
    if style == "offset":
        # The offset route has no link to drop; it lists on by offset.
        assert summary.complete
        return
    assert len(ids_of(pages)) == 14
    assert not summary.complete
    assert summary.reason == f"the listing ended having seen 14 distinct ids of {N_RECORDS}"


async def test_without_total_a_cut_listing_is_not_detectable_here(upstream: Upstream) -> None:
    # What the engine's absence confirmation (item_url, or two scans) exists for.
    upstream.sim.faults.drop_next_on_page = 2
    pages, summary = await collect(upstream.source(STYLES["cursor"]))
    assert len(ids_of(pages)) == 14 and summary.complete


async def test_offset_drift_delete_before_the_current_page(upstream: Upstream) -> None:
    """The first record is deleted after page 1: every later record shifts back one, and
    the record at the page boundary is never seen. The listing's total went down by one,
    but the largest total announced says a record was missed: incomplete."""
    upstream.sim.conditional = False
    upstream.sim.faults.after_page[1] = "delete_first"
    pages, summary = await collect(upstream.source(STYLES["offset"]))
    seen = ids_of(pages)
    assert "8" not in seen  # shifted from offset 7 to 6, behind the page boundary
    assert len(set(seen)) == N_RECORDS - 1 and not summary.duplicates_seen
    assert not summary.complete


async def test_offset_drift_insert_at_the_front(upstream: Upstream) -> None:
    upstream.sim.conditional = False
    upstream.sim.faults.after_page[1] = "insert_front"
    pages, summary = await collect(upstream.source(STYLES["offset"]))
    seen = ids_of(pages)
    assert seen.count("7") == 2  # the last of page 1 shifted onto page 2
    assert summary.duplicates_seen
    assert not summary.complete  # the new record ("0") was never seen either


async def test_page_drift_without_total_reports_duplicates(upstream: Upstream) -> None:
    upstream.sim.conditional = False
    upstream.sim.faults.after_page[1] = "insert_front"
    _, summary = await collect(upstream.source(STYLES["page_by_size"]))
    assert summary.duplicates_seen and summary.complete


async def test_a_500_mid_listing_is_retried(upstream: Upstream) -> None:
    upstream.sim.faults.fail_on_request = {2}
    pages, summary = await collect(upstream.source(STYLES["cursor"]))
    assert len(ids_of(pages)) == N_RECORDS and summary.complete
    source = upstream.source(STYLES["cursor"])
    upstream.sim.faults.fail_on_request = {n + upstream.sim.counters.requests for n in (2, 3, 4)}
    with pytest.raises(UpstreamRetryable, match="500"):
        await collect(source)  # three tries, three 500s: the run fails, nothing inferred


class FakeTime:
    """A clock that moves only when slept on; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("3", 3.0), ("1e999", MAX_HEADER_WAIT_S), ("soon", 1.0), ("-5", 1.0), ("nan", 1.0)],
)
async def test_retry_after_garbage_is_bounded(
    upstream: Upstream, retry_after: str, expected: float
) -> None:
    upstream.sim.faults.rate_limit_on_request = {2: retry_after}
    fake = FakeTime()
    table: dict[str, Any] = {**STYLES["cursor"], "rate": {"requests": 100, "per_seconds": 1}}
    source = upstream.source(table, sleep=fake.sleep, clock=fake.clock)
    pages, _ = await collect(source)
    assert len(ids_of(pages)) == N_RECORDS
    # Unreadable: a whole window (per_seconds); huge: the bound.
    assert sum(fake.slept) == pytest.approx(expected, abs=0.01)
    assert source.stats.rate_limited == 1


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("7", 7.0), ("1e999", MAX_HEADER_WAIT_S), ("soon", None), ("-5", None)],
)
async def test_a_503_retry_after_is_honoured_and_bounded(
    upstream: Upstream, retry_after: str, expected: float | None
) -> None:
    """Unavailable for a while: the retry waits what the API asks (bounded), at least the
    backoff; a garbage value leaves the backoff alone."""
    upstream.sim.faults.unavailable_on_request = {2: retry_after}
    fake = FakeTime()
    source = upstream.source(STYLES["cursor"], sleep=fake.sleep, clock=fake.clock)
    pages, _ = await collect(source)
    assert len(ids_of(pages)) == N_RECORDS
    assert source.stats.retried == 1
    [waited] = fake.slept
    if expected is None:
        assert waited < 1.0  # the test policy's backoff (0.01 s, with jitter)
    else:
        assert waited == pytest.approx(expected, abs=0.01)


async def test_a_secret_in_the_url_never_reaches_an_error(upstream: Upstream) -> None:
    upstream.sim.faults.html_on_page = 1
    table = {**STYLES["offset"], "params": {"api_key": "${KEY}"}}
    source = upstream.source(table, {"KEY": "key-SECRET"})
    with pytest.raises(BadPage) as info:
        await collect(source)
    assert "key-SECRET" not in str(info.value) and "api_key=***" in str(info.value)


async def test_has_more_without_a_cursor_is_rejected(upstream: Upstream) -> None:
    table = {
        **STYLES["cursor_body"],
        "pagination": {**STYLES["cursor_body"]["pagination"], "next": "no_such_key"},
    }
    with pytest.raises(BadPage) as info:
        await collect(upstream.source(table))
    assert str(info.value) == (
        f"source orders: {upstream.base}/cursor_body/orders: has_more is true but the next "
        "cursor at 'no_such_key' is missing; page rejected"
    )


async def test_a_resume_token_of_another_shape_is_refused(upstream: Upstream) -> None:
    with pytest.raises(BadPage, match=r"^source orders: a resume token without a usable 'offset'"):
        await collect(upstream.source(STYLES["offset"]), {"cursor": "x"})
