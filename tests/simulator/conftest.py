"""Fixtures: a simulator on a manual clock and an HTTP client talking to its app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from proxy.simulator.app import create_app
from proxy.simulator.state import HubSpotSimulator, ManualClock

START_MS = 1_700_000_000_000  # 2023-11-14T22:13:20.000Z
TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONTACTS = "/crm/v3/objects/contacts"
SEARCH = "/crm/v3/objects/contacts/search"

Client = TestClient[web.Request, web.Application]


class FakeMonotonic:
    """Stands in for time.monotonic in rate-limit windows; moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START_MS)


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def sim(clock: ManualClock, monotonic: FakeMonotonic) -> HubSpotSimulator:
    return HubSpotSimulator(clock=clock, token=TOKEN, monotonic=monotonic)


@pytest.fixture
async def client(
    sim: HubSpotSimulator,
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> Client:
    """Sends the right Bearer token unless a test overrides ``headers``."""
    return await aiohttp_client(create_app(sim), headers=AUTH)
