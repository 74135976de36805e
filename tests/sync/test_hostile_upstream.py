"""An upstream that misbehaves: search cursors that repeat or go back, and rate-limit
headers that would stall or unpace the process. Each fails the run with its reason or is
sanitised, over HTTP against the simulator."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from proxy.api.keys import SOURCES
from proxy.simulator import HubSpotSimulator
from proxy.simulator import create_app as create_simulator
from proxy.sources.http import HttpClient, RequestStats, RetryPolicy, budget, retry_after
from proxy.sources.ratelimit import RollingWindowLimiter
from tests.sync.conftest import RigFactory
from tests.unit.test_ratelimit import FakeTime


@pytest.mark.parametrize("fault", ["repeat", "backwards"])
async def test_a_search_cursor_that_repeats_or_goes_back_fails_the_run(
    make_rig: RigFactory, fault: str
) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(450)
    rig = await make_rig(sim)
    await rig.sync("full")
    for contact_id in ids:
        sim.update(contact_id, {"city": "Oslo"})
    sim.faults.search_cursor_fault = fault
    run = await asyncio.wait_for(rig.sync("incremental"), timeout=60)
    assert run.status == "failed" and "repeated or backwards" in (run.error or "")
    assert run.requests < 10  # it stopped at once instead of looping
    sim.faults.search_cursor_fault = None
    assert (await rig.sync("incremental")).status == "succeeded"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("inf", 60.0),
        ("1e999", 60.0),
        ("86400", 60.0),
        ("-5", None),
        ("nan", None),
        ("abc", None),
        ("Wed, 21 Oct 2026 07:28:00 GMT", None),
        ("2.5", 2.5),
    ],
)
def test_retry_after_is_bounded(raw: str, expected: float | None) -> None:
    assert retry_after({"Retry-After": raw}) == expected


@pytest.mark.parametrize("interval", ["0", "-100", "abc", "inf", "1e12"])
def test_an_unbelievable_rate_interval_is_ignored(interval: str) -> None:
    announced = budget(
        {
            "X-HubSpot-RateLimit-Max": "100",
            "X-HubSpot-RateLimit-Remaining": "50",
            "X-HubSpot-RateLimit-Interval-Milliseconds": interval,
        }
    )
    assert announced is not None and announced.interval_s is None
    assert announced.max == 100


def test_an_unbelievable_budget_is_ignored() -> None:
    for limit in ("0", "-1", "inf", "nan", "x"):
        assert (
            budget({"X-HubSpot-RateLimit-Max": limit, "X-HubSpot-RateLimit-Remaining": "1"}) is None
        )


@pytest.mark.parametrize("raw", ["inf", "1e999", "999999999", "-5", "abc"])
async def test_a_hostile_retry_after_never_stalls_the_limiter_past_a_minute(
    aiohttp_server: object, raw: str
) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(3)
    sim.faults.rate_limit_next = 1
    sim.faults.retry_after_raw = raw
    server: TestServer = await aiohttp_server(create_simulator(sim))  # type: ignore[operator]
    t = FakeTime()
    limiter = RollingWindowLimiter(100, 10.0, clock=t.clock, sleep=t.sleep)
    async with ClientSession() as session:
        http = HttpClient(session, limiter=limiter, policy=RetryPolicy(2, 0.0), sleep=t.sleep)
        stats = RequestStats()
        body = await http.request_json(
            "GET",
            str(server.make_url("/crm/v3/objects/contacts")),
            headers={"Authorization": f"Bearer {sim.token}"},
            stats=stats,
        )
    assert len(body["results"]) == 3 and stats.rate_limited == 1
    assert 0 <= sum(t.slept) <= 60.0


@pytest.mark.parametrize("interval", ["0", "-100"])
async def test_a_zero_or_negative_rate_interval_never_turns_pacing_off(
    make_rig: RigFactory, interval: str
) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(10)
    sim.faults.rate_interval_raw = interval
    rig = await make_rig(sim, HUBSPOT_REQUESTS_PER_10S="100")
    assert (await rig.sync("full")).status == "succeeded"
    limiter = rig.client.app[SOURCES].limiter
    assert limiter.window_s == 10.0 and limiter.limit >= 1
