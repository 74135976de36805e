"""A feed says which sync modes it supports (a declared source without a server-side
change filter has no incremental runs): the engine neither schedules nor runs the others,
and a request for one is refused saying why."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer

from proxy.errors import UnsupportedMode
from proxy.scheduler import SyncScheduler
from proxy.simulator import HubSpotSimulator
from proxy.simulator import create_app as create_simulator
from proxy.sources.base import FULL, INCREMENTAL, VERIFY
from proxy.sources.http import source_session
from proxy.sources.hubspot import client_from_settings
from proxy.sources.hubspot.feed import HubSpotFeed
from proxy.store import Store
from proxy.sync import SyncRunner
from tests.conftest import make_settings


class ListingOnly(HubSpotFeed):
    """HubSpot contacts as a source that can only be listed."""

    modes = frozenset({FULL, VERIFY})


async def test_a_feed_runs_and_schedules_only_its_modes(
    store: Store, database_url: str, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(5)
    server = await aiohttp_server(create_simulator(sim))
    settings = make_settings(
        database_url,
        HUBSPOT_BASE_URL=str(server.make_url("")).rstrip("/"),
        HUBSPOT_ACCESS_TOKEN=sim.token,
        SYNC_INTERVAL_SECONDS="60",
        DELETE_CHECK_SECONDS="60",
        FULL_SYNC_CRON="0 3 * * *",
        VERIFY_SYNC_CRON="0 4 * * 0",
    )
    async with source_session() as session:
        feed = ListingOnly(client_from_settings(session, settings), settings, "contacts")
        runner = SyncRunner(store, {"contacts": feed}, settings)
        full = await runner.run("contacts", FULL)
        assert full.succeeded and full.counts.created == 5

        outcome = await runner.run("contacts", INCREMENTAL)
        assert not outcome.succeeded
        assert outcome.error == "UnsupportedMode: contacts has no incremental sync"
        assert outcome.counts.requests == 0  # the source was not asked

        scheduler = SyncScheduler(store, runner, settings)
        await scheduler.start(schedule=True)
        try:
            jobs = {job.id for job in scheduler._aps.get_jobs()}
            assert "contacts:full" in jobs and "contacts:verify" in jobs
            assert "contacts:incremental" not in jobs and "contacts:deletions" not in jobs
            with pytest.raises(UnsupportedMode, match="contacts has no incremental sync"):
                await scheduler.request("contacts", INCREMENTAL, "admin")
        finally:
            await scheduler.stop()
