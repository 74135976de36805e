"""Declared sources through the real app: a scan of every pagination style mirrors the
API exactly, creates, updates and deletions reach the feed exactly once, a no-change scan
emits nothing, and deletions need confirmed evidence (item_url, or two complete scans)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from proxy.api.keys import SCHEDULER, STORE
from proxy.app import create_app
from proxy.config import load_settings
from proxy.scheduler import SyncScheduler
from proxy.simulator.rest import RestSimulator, create_rest_app
from proxy.store import Store
from proxy.store.runs import RunRecord

from .conftest import N_RECORDS, STYLES

ADMIN = "admin-token-for-rest-tests"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


@dataclass
class RestRig:
    sim: RestSimulator
    client: TestClient

    @property
    def store(self) -> Store:
        return self.client.app[STORE]  # type: ignore[index]

    @property
    def scheduler(self) -> SyncScheduler:
        return self.client.app[SCHEDULER]  # type: ignore[index]

    async def scan(self) -> RunRecord:
        resp = await self.client.post("/admin/resync?object=orders&mode=full", headers=AUTH)
        assert resp.status == 202, await resp.text()
        run_id = (await resp.json())["run_id"]
        await self.scheduler.idle()
        run = await self.store.runs.get(run_id)
        assert run is not None
        return run

    async def feed(self, since: int | None = None) -> list[dict[str, Any]]:
        path = "/orders" + (f"?since={since}" if since is not None else "")
        resp = await self.client.get(path)
        assert resp.status == 200, await resp.text()
        entities: list[dict[str, Any]] = orjson.loads(await resp.read())
        return entities


RigFactory = Callable[..., Awaitable[RestRig]]


@pytest.fixture
def make_rest_rig(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    database_url: str,
) -> RigFactory:
    """``await make_rest_rig(table, sim=None, **env)``: the REST simulator over HTTP and
    the real app mirroring it as the declared source ``orders``, with no HubSpot."""

    async def factory(
        table: dict[str, Any], sim: RestSimulator | None = None, **env: str
    ) -> RestRig:
        sim = sim if sim is not None else RestSimulator(N_RECORDS)
        server = await aiohttp_server(create_rest_app(sim))
        base = str(server.make_url("")).rstrip("/")
        table = {**table, "url": base + table["url"], "interval_seconds": 0}
        if "item_url" in table:
            table["item_url"] = base + table["item_url"]
        if "auth" in table and "token_url" in table["auth"]:
            table["auth"] = {**table["auth"], "token_url": base + table["auth"]["token_url"]}
        settings = load_settings(
            env={
                "DATABASE_URL": database_url,
                "SOURCES": orjson.dumps({"orders": table}).decode(),
                "ADMIN_TOKEN": ADMIN,
                "FULL_SYNC_CRON": "",
                "VERIFY_SYNC_CRON": "",
                **env,
            }
        )
        client = await aiohttp_client(create_app(settings, schedule=False))
        return RestRig(sim, client)

    return factory


def upstream_view(sim: RestSimulator) -> dict[str, dict[str, Any]]:
    return {str(k): v for k, v in sim.records.items()}


def served(entities: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The feed's live records by id, without the feed's own keys."""
    return {
        e["_id"]: {k: v for k, v in e.items() if not k.startswith("_")}
        for e in entities
        if not e["_deleted"]
    }


@pytest.mark.parametrize("style", sorted(STYLES))
async def test_every_style_mirrors_exactly_and_each_change_once(
    make_rest_rig: RigFactory, style: str
) -> None:
    rig = await make_rest_rig({**STYLES[style], "item_url": "/orders/{id}"})
    assert (await rig.client.get("/orders")).status == 503  # before the first scan
    first = await rig.scan()
    assert (first.status, first.created, first.deleted) == ("succeeded", N_RECORDS, 0)
    entities = await rig.feed()
    assert served(entities) == upstream_view(rig.sim)
    assert all(isinstance(e["_id"], str) for e in entities)
    last = max(e["_updated"] for e in entities)

    rig.sim.create("new order")
    rig.sim.update(5, name="renamed")
    rig.sim.delete(9)
    second = await rig.scan()
    assert (second.status, second.created, second.updated, second.deleted) == (
        "succeeded",
        1,
        1,
        1,
    ), second.error
    changes = await rig.feed(since=last)
    assert sorted((e["_id"], e["_deleted"]) for e in changes) == sorted(
        [(str(N_RECORDS + 1), False), ("5", False), ("9", True)]
    )
    assert served(await rig.feed()) == upstream_view(rig.sim)

    third = await rig.scan()  # nothing changed upstream
    assert (third.status, third.created, third.updated, third.deleted) == ("succeeded", 0, 0, 0)
    assert await rig.feed(since=max(e["_updated"] for e in changes)) == []


async def test_without_item_url_a_record_is_deleted_by_the_second_scan_that_misses_it(
    make_rest_rig: RigFactory,
) -> None:
    rig = await make_rest_rig(STYLES["cursor"])
    await rig.scan()
    rig.sim.delete(4)
    once = await rig.scan()
    assert (once.status, once.deleted) == ("succeeded", 0)  # one scan missed it: no evidence
    assert "4" in served(await rig.feed())
    twice = await rig.scan()
    assert (twice.status, twice.deleted) == ("succeeded", 1)
    [tombstone] = [e for e in await rig.feed() if e["_id"] == "4"]
    assert tombstone["_deleted"] is True and tombstone["name"] == "order 4"  # last content


async def test_deletions_never_infers_nothing_from_absence(make_rest_rig: RigFactory) -> None:
    rig = await make_rest_rig({**STYLES["page"], "deletions": "never"})
    await rig.scan()
    rig.sim.delete(2)
    for _ in range(3):
        assert (await rig.scan()).deleted == 0
    assert "2" in served(await rig.feed())


async def test_a_soft_deleted_record_is_a_tombstone_at_once(make_rest_rig: RigFactory) -> None:
    table = {**STYLES["offset"], "deleted": {"path": "status", "equals": "cancelled"}}
    rig = await make_rest_rig(table)
    await rig.scan()
    rig.sim.soft_delete(7)
    run = await rig.scan()
    assert (run.updated, run.deleted) == (0, 1)
    [entity] = [e for e in await rig.feed() if e["_id"] == "7"]
    assert entity["_deleted"] is True and entity["status"] == "cancelled"


async def test_a_record_cancelled_before_it_was_ever_mirrored_does_not_spoil_304_pages(
    make_rest_rig: RigFactory,
) -> None:
    """Listed as cancelled from the start, the record is never mirrored (nothing to tell
    Sesam); a rescan whose page holding it answers 304 must not take its absence from the
    mirror for a failed write (found by tests/slow/test_kill_rest.py: every other scan
    failed)."""
    table = {**STYLES["cursor"], "deleted": {"path": "status", "equals": "cancelled"}}
    sim = RestSimulator(N_RECORDS)
    sim.soft_delete(3)
    rig = await make_rest_rig(table, sim=sim)
    for _ in range(3):
        run = await rig.scan()
        assert (run.status, run.created, run.deleted) == ("succeeded", run.created, 0), run.error
    assert sim.counters.not_modified > 0  # the later scans' pages were 304s
    assert "3" not in {e["_id"] for e in await rig.feed()}


async def test_item_url_saying_live_means_the_listing_missed_it_and_nothing_is_deleted(
    make_rest_rig: RigFactory,
) -> None:
    rig = await make_rest_rig({**STYLES["next_link"], "item_url": "/orders/{id}"})
    await rig.scan()
    rig.sim.faults.drop_next_on_page = 2  # the listing ends after page 2 of 4
    cut = await rig.scan()
    assert cut.status == "failed" and cut.deleted == 0
    assert "ListingIncomplete" in (cut.error or "")
    rig.sim.faults.drop_next_on_page = None
    assert len(served(await rig.feed())) == N_RECORDS
    assert (await rig.scan()).status == "succeeded"


async def test_offset_drift_deletes_nothing(make_rest_rig: RigFactory) -> None:
    """A record deleted before the current page shifts the next one back past the page
    boundary (never seen); one inserted at the front shows a record twice. Neither scan
    tombstones a record it merely missed."""
    rig = await make_rest_rig(STYLES["offset"])  # no item_url: the two-scan rule
    await rig.scan()
    await rig.scan()  # a second complete scan: absences could now be confirmed
    rig.sim.faults.after_page[1] = "delete_first"  # id 1 goes; id 8 shifts onto page 1
    drifted = await rig.scan()
    assert drifted.deleted == 0
    assert "8" in served(await rig.feed())
    rig.sim.faults.after_page[1] = "insert_front"  # a record shifts right: one seen twice
    again = await rig.scan()
    assert again.deleted == 0
    assert served(await rig.feed()).keys() >= {str(i) for i in range(2, N_RECORDS + 1)}


async def test_a_records_own_feed_keys_are_replaced(make_rest_rig: RigFactory) -> None:
    rig = await make_rest_rig(STYLES["cursor"])
    rig.sim.update(3, _id="not-mine", _updated=1, _deleted=True, _other="kept")
    await rig.scan()
    [entity] = [e for e in await rig.feed() if e["_id"] == "3"]
    assert entity["_deleted"] is False and entity["_updated"] > 1
    assert entity["_other"] == "kept"


async def test_a_no_change_rescan_of_a_304_api_parses_no_page(make_rest_rig: RigFactory) -> None:
    rig = await make_rest_rig(STYLES["cursor"])
    await rig.scan()
    before = rig.sim.counters.not_modified
    run = await rig.scan()
    assert (run.status, run.created, run.updated, run.deleted) == ("succeeded", 0, 0, 0)
    assert rig.sim.counters.not_modified - before == run.requests  # every page a 304


async def test_a_page_whose_write_failed_is_not_skipped_by_a_304(
    make_rest_rig: RigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page's validators are kept only once its records are in the mirror. A changed
    page whose write failed is asked for whole by the next scan; had its new ETag been
    kept at fetch time, that scan would get a 304 and the change would never arrive."""
    rig = await make_rest_rig(STYLES["cursor"])
    await rig.scan()
    rig.sim.update(10, name="changed")  # on page 2 (ids 8-14)
    apply_page = rig.store.changes.apply_page

    async def failing(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")  # as a database would fail a write

    monkeypatch.setattr(rig.store.changes, "apply_page", failing)
    failed = await rig.scan()
    assert failed.status == "failed" and "disk full" in (failed.error or "")
    monkeypatch.setattr(rig.store.changes, "apply_page", apply_page)
    run = await rig.scan()
    assert (run.status, run.updated) == ("succeeded", 1), run.error
    assert served(await rig.feed())["10"]["name"] == "changed"
    assert served(await rig.feed()) == upstream_view(rig.sim)


async def test_incremental_is_refused_for_a_source_without_a_filter(
    make_rest_rig: RigFactory,
) -> None:
    rig = await make_rest_rig(STYLES["none"])
    resp = await rig.client.post("/admin/resync?object=orders&mode=incremental", headers=AUTH)
    assert resp.status == 400
    assert "incremental" in (await resp.json())["error"]


async def test_ignored_paths_are_left_out_of_change_detection(make_rest_rig: RigFactory) -> None:
    rig = await make_rest_rig({**STYLES["cursor"], "ignore": ["updated_at", "stats.views"]})
    rig.sim.update(2, stats={"views": 1, "likes": 0})
    await rig.scan()
    last = max(e["_updated"] for e in await rig.feed())
    rig.sim.update(2, stats={"views": 99, "likes": 0})  # and updated_at moves: both ignored
    quiet = await rig.scan()
    assert (quiet.updated, await rig.feed(since=last)) == (0, [])
    rig.sim.update(2, stats={"views": 100, "likes": 1})  # a change that counts
    loud = await rig.scan()
    assert loud.updated == 1
    [entity] = await rig.feed(since=last)
    assert entity["stats"] == {"views": 100, "likes": 1}


async def test_a_rotated_refresh_token_outlives_a_restart(make_rest_rig: RigFactory) -> None:
    """The server spends a refresh token when it hands out the next one: the next one is
    kept in the database, so a new process does not come back with the declared, spent
    one."""
    sim = RestSimulator(N_RECORDS)
    sim.auth.mode = "oauth2"
    auth = {
        "type": "oauth2",
        "token_url": "/oauth/token",
        "client_id": "sim-client",
        "client_secret": "${CLIENT_SECRET}",
        "grant": "refresh_token",
        "refresh_token": "${REFRESH_TOKEN}",
    }
    table = {**STYLES["cursor"], "auth": auth}
    env = {"CLIENT_SECRET": "sim-client-secret", "REFRESH_TOKEN": "sim-refresh-0"}
    first = await make_rest_rig(table, sim, **env)
    assert (await first.scan()).status == "succeeded"
    assert sim.auth.refresh_token == "sim-refresh-1"  # sim-refresh-0 is spent
    assert await first.store.tokens.load("orders") == "sim-refresh-1"

    sim.expire_tokens()  # a new process needs a new access token anyway
    second = await make_rest_rig(table, sim, **env)  # the same database, a new process
    run = await second.scan()
    assert run.status == "succeeded", run.error
    assert await second.store.tokens.load("orders") == "sim-refresh-2"
    assert "sim-refresh" not in (run.error or "")


async def test_a_declaration_that_does_not_fit_the_api_is_named_never_an_empty_feed(
    make_rest_rig: RigFactory,
) -> None:
    rig = await make_rest_rig({**STYLES["cursor"], "records": "items"})  # the API says "data"
    run = await rig.scan()
    assert run.status == "failed"
    assert (run.error or "").startswith("sources.orders.records: 'items' finds nothing")
    assert (await rig.client.get("/orders")).status == 503  # not an empty 200
    health = await (await rig.client.get("/health")).json()
    [problem] = health["objects"]["orders"]["problems"]
    assert "failed on a setting" in problem and "sources.orders.records" in problem


async def test_a_declared_change_filter_makes_incremental_runs_read_only_what_changed(
    make_rest_rig: RigFactory,
) -> None:
    table = {
        **STYLES["cursor"],
        "incremental": {"param": "updated_since", "field": "updated_at", "overlap_seconds": 0},
    }
    rig = await make_rest_rig(table)
    await rig.scan()
    last = max(e["_updated"] for e in await rig.feed())
    rig.sim.update(6, name="changed since")
    rig.sim.create("created since")
    rig.sim.delete(8)  # a filter shows no deletions: left for the next full scan
    resp = await rig.client.post("/admin/resync?object=orders&mode=incremental", headers=AUTH)
    assert resp.status == 202, await resp.text()
    await rig.scheduler.idle()
    run = await rig.store.runs.get((await resp.json())["run_id"])
    assert run is not None and (run.status, run.mode) == ("succeeded", "incremental"), run
    assert (run.fetched, run.created, run.updated, run.deleted) == (2, 1, 1, 0)
    changed = await rig.feed(since=last)
    assert sorted(e["name"] for e in changed) == ["changed since", "created since"]
    assert not any(e["_id"] == "8" and e["_deleted"] for e in await rig.feed())
    # Full scans bring the deletion (without item_url: the second that misses it).
    assert [(await rig.scan()).deleted for _ in range(2)] == [0, 1]
    assert "8" not in served(await rig.feed())


async def test_a_resumed_offset_scan_lists_from_the_start_and_misses_nothing(
    make_rest_rig: RigFactory,
) -> None:
    """Records deleted before a stopped scan's offset shift the rest back: resumed at that
    offset, it would skip as many and open the feed without them."""
    rig = await make_rest_rig(STYLES["offset"])
    rig.sim.faults.html_on_page = 3  # the first scan stops after two pages (14 orders)
    stopped = await rig.scan()
    assert stopped.status == "failed" and stopped.created == 14
    rig.sim.faults.html_on_page = None
    rig.sim.delete(1)  # order 15 moves back onto the second page
    resumed = await rig.scan()
    assert resumed.status == "succeeded", resumed.error
    assert served(await rig.feed()).keys() >= set(upstream_view(rig.sim))
