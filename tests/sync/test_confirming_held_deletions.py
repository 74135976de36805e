"""Confirming held deletions never tombstones a record seen live since (issue 16, item 4):
while a run of the object type is running or a full scan is unfinished, what it saw is not
all written yet, so confirming is refused (409); afterwards the check that each held
record is still unseen and unchanged, and its tombstone, are one transaction."""

from __future__ import annotations

import asyncio

from proxy.simulator import HubSpotSimulator
from proxy.simulator.pause import ListPause
from proxy.store.runs import RunRecord
from tests.sync.conftest import Rig, RigFactory


async def hold_last(rig: Rig, ids: list[str], n: int) -> RunRecord:
    """Archive the last ``n`` records upstream and cut the archived listing, so the next
    full scan sees none of them, batch read does not find them (it reads live records),
    and the mass-deletion guard holds them."""
    for contact_id in ids[-n:]:
        rig.sim.archive(contact_id)
    live_pages = -(-(len(ids) - n) // 100)
    rig.sim.faults.list_cut_mode = "empty"
    rig.sim.faults.list_cut_after = live_pages  # the live listing passes; archived is cut
    run = await rig.sync("full")
    rig.sim.faults.list_cut_after = None
    assert (run.status, run.held, run.deleted) == ("succeeded", n, 0), run
    return run


async def test_confirming_while_a_full_scan_runs_is_refused_and_tombstones_nothing(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(300)
    rig = await make_rig(sim)
    assert (await rig.sync("full")).status == "succeeded"
    held = await hold_last(rig, ids, 40)
    mark = await rig.last_updated()
    for contact_id in ids[-40:]:  # back to life upstream: the held evidence is stale
        sim.restore(contact_id)
    # A full sync that stops after the first page of its listing: the restored records
    # come last, so it has not seen them yet.
    sim.list_pause = pause = ListPause(after_pages=1)
    await rig.request("full")
    await asyncio.wait_for(pause.reached.wait(), timeout=30)
    try:
        refused = await rig.admin(
            "POST", f"/admin/deletions/confirm?object=contacts&run_id={held.id}", status=409
        )
    finally:
        pause.release()
    assert "running" in refused["error"] and refused["running_run"]["mode"] == "full", refused
    await rig.scheduler.idle()
    assert [e["_id"] for e in await rig.feed(since=mark) if e["_deleted"]] == []
    # The scan saw them live: nothing is held any more, and confirming deletes nothing.
    await rig.admin("POST", f"/admin/deletions/confirm?run_id={held.id}", status=404)
    served = {e["_id"]: e["_deleted"] for e in await rig.feed()}
    assert all(served[i] is False for i in ids[-40:])


async def test_confirming_while_a_scan_is_unfinished_is_refused(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(300)
    rig = await make_rig(sim, HUBSPOT_MAX_TRIES="1")
    await rig.sync("full")
    held = await hold_last(rig, ids, 40)
    sim.faults.fail_after = 2  # the catalogue and a live page, then HubSpot breaks
    sim.faults.fail_next = 1
    cut = await rig.sync("full")
    assert cut.status == "failed"
    refused = await rig.admin("POST", f"/admin/deletions/confirm?run_id={held.id}", status=409)
    assert refused["scan_in_progress"]["run_id"] == cut.id, refused
    assert (await rig.admin("GET", "/admin/deletions"))["held"]["count"] == 40


async def test_confirming_skips_held_records_seen_or_changed_since_and_says_so(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(300)
    rig = await make_rig(sim)
    await rig.sync("full")
    held = await hold_last(rig, ids, 40)
    seen, edited = ids[-40], ids[-39]
    sim.restore(seen)  # found again by the incremental run (restoring moves the time)
    sim.restore(edited)
    sim.update(edited, {"firstname": "Changed"})
    assert (await rig.sync("incremental")).status == "succeeded"
    mark = await rig.last_updated()
    confirmed = await rig.admin("POST", f"/admin/deletions/confirm?run_id={held.id}")
    assert confirmed["deleted"] == 38
    assert sorted(confirmed["skipped"]["ids"]) == sorted([seen, edited])
    assert confirmed["skipped"]["count"] == 2
    tombstoned = {e["_id"] for e in await rig.feed(since=mark) if e["_deleted"]}
    assert tombstoned == set(ids[-38:])
