"""The real app, on a fresh database, syncing from the project's HubSpot simulator over HTTP."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from proxy.api.keys import SCHEDULER, STORE
from proxy.app import create_app
from proxy.scheduler import SyncScheduler
from proxy.simulator import HubSpotSimulator
from proxy.simulator import create_app as create_simulator
from proxy.sources.configured import resolve_feed_names
from proxy.store import Store
from proxy.store.runs import RunRecord
from tests.conftest import make_settings

HOUR_MS = 3_600_000


def an_hour_ago() -> int:
    return int(time.time() * 1000) - HOUR_MS


def portal(n: int, custom_properties: int = 190) -> tuple[HubSpotSimulator, list[str]]:
    """``n`` contacts (with 200 properties or more by default), last modified an hour ago
    (outside the search overlap, so an incremental run finds only what changes now)."""
    sim = HubSpotSimulator(custom_properties=custom_properties)
    return sim, sim.create_contacts(n, timestamp_ms=an_hour_ago())


ADMIN = "admin-token-for-tests"


@dataclass
class Rig:
    sim: HubSpotSimulator
    client: TestClient

    @property
    def store(self) -> Store:
        return self.client.app[STORE]  # type: ignore[index]

    @property
    def scheduler(self) -> SyncScheduler:
        return self.client.app[SCHEDULER]  # type: ignore[index]

    async def request(self, mode: str = "full", object_type: str = "contacts") -> int:
        """Request a run through the admin route; its id (the run may still be queued)."""
        resp = await self.client.post(
            f"/admin/resync?object={object_type}&mode={mode}",
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert resp.status == 202, await resp.text()
        run_id: int = (await resp.json())["run_id"]
        return run_id

    async def sync(self, mode: str = "full", object_type: str = "contacts") -> RunRecord:
        """Request a run through the admin route and wait for the queue to drain."""
        run_id = await self.request(mode, object_type)
        await self.scheduler.idle()
        run = await self.store.runs.get(run_id)
        assert run is not None
        return run

    async def feed(
        self, since: int | None = None, object_type: str = "contacts"
    ) -> list[dict[str, Any]]:
        path = f"/{object_type}" + (f"?since={since}" if since is not None else "")
        resp = await self.client.get(path)
        assert resp.status == 200, await resp.text()
        entities: list[dict[str, Any]] = orjson.loads(await resp.read())
        return entities

    async def admin(self, method: str, path: str, status: int = 200) -> Any:
        resp = await self.client.request(method, path, headers={"Authorization": f"Bearer {ADMIN}"})
        body = await resp.json()
        assert resp.status == status, body
        return body

    async def last_updated(self, object_type: str = "contacts") -> int:
        status = await self.store.reader.object_status(object_type)
        assert status is not None
        return status.last_change_seq


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
def make_rig(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    database_url: str,
) -> RigFactory:
    """``await make_rig(sim=None, schedule=False, **settings)`` (a setting given as None is
    left unset): a simulator (40 custom
    properties unless given) served over HTTP, and the real proxy app pointed at it,
    scheduling off unless asked so each test decides when runs happen. Retries back off in
    milliseconds. Called twice, it gives two apps (two processes, as far as leases go) on
    the same database."""

    async def factory(
        sim: HubSpotSimulator | None = None, *, schedule: bool = False, **env: str | None
    ) -> Rig:
        sim = sim or HubSpotSimulator()
        server = await aiohttp_server(create_simulator(sim))
        given = {
            "HUBSPOT_BASE_URL": str(server.make_url("")).rstrip("/"),
            "HUBSPOT_ACCESS_TOKEN": sim.token,
            "ADMIN_TOKEN": ADMIN,
            "HUBSPOT_BACKOFF_SECONDS": "0.01",
            "HUBSPOT_REQUESTS_PER_10S": "100000",
            "HUBSPOT_SEARCH_PER_SECOND": "1000",
            **env,
        }
        # None leaves a setting unset (a blank token is a configuration error).
        settings = make_settings(database_url, **{k: v for k, v in given.items() if v is not None})
        settings, _ = await resolve_feed_names(settings)  # as serve does before its app
        client = await aiohttp_client(create_app(settings, schedule=schedule))
        return Rig(sim, client)

    return factory
