"""A queued run that another run has made moot is recorded ``coalesced``, not run: replicas
started together on an empty mirror scan once."""

from __future__ import annotations

import math

from proxy.simulator import HubSpotSimulator
from proxy.store import Store
from proxy.store.runs import COALESCED, QUEUED, RUNNING, SUCCEEDED, RunCounts, RunRecord
from tests.helpers import wait_until
from tests.sync.conftest import RigFactory

CONTACTS = 500
QUIET = {  # no scheduled run but the startup full sync
    "SYNC_INTERVAL_SECONDS": "0",
    "DELETE_CHECK_SECONDS": "0",
    "FULL_SYNC_CRON": "",
    "VERIFY_SYNC_CRON": "",
}


async def test_three_replicas_started_together_scan_once(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator(custom_properties=2)
    sim.create_contacts(CONTACTS)
    sim.faults.delay_seconds = 0.5  # the first replica's full sync is still running ...
    first = await make_rig(sim, schedule=True, **QUIET)

    async def first_run_running() -> bool:
        return any(r.status == RUNNING for r in await first.store.runs.waiting("contacts"))

    await wait_until(first_run_running, timeout=30)
    # ... when two more replicas start, each asking for the first full sync.
    others = [await make_rig(sim, schedule=True, **QUIET) for _ in range(2)]
    waiting = await first.store.runs.waiting("contacts")
    assert [(r.mode, r.status) for r in waiting] == [("full", RUNNING), ("full", QUEUED)]
    running, queued = waiting
    assert queued.trigger in ("startup", "resume")
    sim.faults.delay_seconds = 0
    await first.scheduler.idle()

    # One scan's worth of listing: every live page and the archived one.
    assert sim.requests["list"] == math.ceil(CONTACTS / 100) + 1
    done, moot = await first.store.runs.get(running.id), await first.store.runs.get(queued.id)
    assert done is not None and done.status == SUCCEEDED and done.created == CONTACTS
    assert moot is not None and (moot.status, moot.scan_run_id) == (COALESCED, running.id)
    assert (moot.fetched, moot.requests, moot.owner) == (0, 0, first.scheduler.owner)
    assert moot.finished_at is not None
    shown = await others[1].admin("GET", f"/admin/runs/{queued.id}")
    assert (shown["status"], shown["scan_run_id"]) == ("coalesced", running.id)


async def _finished(store: Store, mode: str, status: str, *, scan_of: int | None = None) -> int:
    """A run that starts at once and ends with ``status`` (a ``change-proxy sync``)."""
    run_id = await store.runs.start("contacts", mode, "cli", "elsewhere:1:x")
    if scan_of is not None:
        await store.runs.set_scan(run_id, scan_of)
    await store.runs.finish(run_id, RunCounts(), status=status)
    return run_id


async def _claim(store: Store) -> RunRecord | None:
    return await store.runs.claim_next("contacts", "holder:1:x")


async def test_a_run_that_started_after_the_request_and_succeeded_satisfies_it(
    store: Store,
) -> None:
    queued = await store.runs.request("contacts", "incremental", "admin")
    later = await _finished(store, "incremental", SUCCEEDED)
    assert await _claim(store) is None
    run = await store.runs.get(queued)
    assert run is not None and (run.status, run.scan_run_id) == (COALESCED, later)


async def test_a_failed_run_or_one_of_another_mode_satisfies_nothing(store: Store) -> None:
    queued = await store.runs.request("contacts", "full", "startup")
    await _finished(store, "full", "failed")
    await _finished(store, "incremental", SUCCEEDED)
    claimed = await _claim(store)
    assert claimed is not None and (claimed.id, claimed.status) == (queued, RUNNING)


async def test_a_full_run_that_began_before_the_request_does_not_satisfy_it(
    store: Store,
) -> None:
    """An operator's (or a deletion check's) full sync asks for a scan after its request:
    one already under way may have listed what changed since."""
    earlier = await store.runs.start("contacts", "full", "cli", "elsewhere:1:x")
    queued = await store.runs.request("contacts", "full", "admin")
    await store.runs.finish(earlier, RunCounts(), status=SUCCEEDED)
    claimed = await _claim(store)
    assert claimed is not None and claimed.id == queued


async def test_a_full_run_resuming_an_older_scan_does_not_satisfy_a_later_request(
    store: Store,
) -> None:
    began = await store.runs.start("contacts", "full", "cli", "elsewhere:1:x")
    await store.runs.finish(began, RunCounts(), status="interrupted")
    queued = await store.runs.request("contacts", "full", "check")
    await _finished(store, "full", SUCCEEDED, scan_of=began)  # carried on began's scan
    claimed = await _claim(store)
    assert claimed is not None and claimed.id == queued
    # A scan begun after the request does satisfy the next one.
    await store.runs.finish(queued, RunCounts(), status="failed")
    again = await store.runs.request("contacts", "full", "check")
    fresh = await _finished(store, "full", SUCCEEDED)
    await _finished(store, "full", SUCCEEDED, scan_of=fresh)
    assert await _claim(store) is None
    run = await store.runs.get(again)
    assert run is not None and (run.status, run.scan_run_id) == (COALESCED, fresh)


async def test_a_request_for_completion_is_met_by_a_full_run_that_finished_after_it(
    store: Store,
) -> None:
    """A replica starting while another's first full sync runs asks for one too: the run
    under way, once it succeeds, completes the mirror that request was for."""
    under_way = await store.runs.start("contacts", "full", "cli", "elsewhere:1:x")
    startup = await store.runs.request("contacts", "full", "startup")
    incremental = await store.runs.request("contacts", "incremental", "schedule")
    await store.runs.finish(under_way, RunCounts(), status=SUCCEEDED)
    claimed = await _claim(store)  # the startup run is coalesced, the next one claimed
    assert claimed is not None and claimed.id == incremental
    run = await store.runs.get(startup)
    assert run is not None and (run.status, run.scan_run_id) == (COALESCED, under_way)


async def test_a_request_joining_a_waiting_run_for_completion_makes_it_wait_for_a_new_scan(
    store: Store,
) -> None:
    """An operator's full sync asked for while a startup one waits is that run: it must now
    scan after the operator's request, not be coalesced with the run under way."""
    under_way = await store.runs.start("contacts", "full", "cli", "elsewhere:1:x")
    startup = await store.runs.request("contacts", "full", "startup")
    assert await store.runs.request("contacts", "full", "admin") == startup
    await store.runs.finish(under_way, RunCounts(), status=SUCCEEDED)
    claimed = await _claim(store)
    assert claimed is not None and (claimed.id, claimed.trigger) == (startup, "admin")
