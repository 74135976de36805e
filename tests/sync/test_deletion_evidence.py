"""Deletion only on confirmed evidence: a full scan tombstones what it did not see only
after HubSpot (batch read) says it is gone or merged away; a listing cut short deletes
nothing; a mass deletion waits for an operator."""

from __future__ import annotations

import pytest

from proxy.simulator import HubSpotSimulator
from tests.sync.conftest import RigFactory


@pytest.mark.parametrize("mode", ["no_paging", "empty", "blank_after"])
async def test_a_listing_cut_short_fails_the_run_and_deletes_nothing(
    make_rig: RigFactory, mode: str
) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(500)
    rig = await make_rig(sim)
    assert (await rig.sync("full")).status == "succeeded"
    served = await rig.feed()
    sim.faults.list_cut_mode = mode
    sim.faults.list_cut_after = 2  # the third of five pages ends the listing
    run = await rig.sync("full")
    assert (run.status, run.deleted) == ("failed", 0), run
    assert "listing ended early" in (run.error or "") or "page rejected" in (run.error or "")
    assert await rig.feed() == served
    sim.faults.list_cut_after = None
    healed = await rig.sync("full")
    assert (healed.status, healed.deleted) == ("succeeded", 0)
    if mode == "blank_after":  # a broken page: the scan resumes after the pages it saved
        assert (healed.scan_run_id, healed.fetched) == (run.id, 300)
    else:  # an incomplete listing cannot be trusted: the scan starts over
        assert (healed.scan_run_id, healed.fetched) == (healed.id, 500)
    assert await rig.feed() == served


async def test_absences_are_confirmed_gone_or_merged_before_they_are_tombstoned(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(200)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    sim.gdpr_delete(ids[3])  # gone: batch read reports it not found
    survivor = sim.merge(ids[5], ids[6])  # both ids answered by the survivor
    reads_before = sim.requests["batch_read"]
    run = await rig.sync("full")
    assert (run.status, run.deleted, run.created, run.held) == ("succeeded", 3, 1, 0), run
    changed = {e["_id"]: e for e in await rig.feed(since=mark)}
    assert {i for i, e in changed.items() if e["_deleted"]} == {ids[3], ids[5], ids[6]}
    assert not changed[survivor]["_deleted"]
    # One to fetch the new (merged) record the listing showed, one for the three unseen ids.
    assert sim.requests["batch_read"] - reads_before == 2


async def test_a_mass_deletion_is_held_for_an_operator(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(100)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    for contact_id in ids[:20]:  # 20% of the mirror, over the default 10%
        sim.gdpr_delete(contact_id)
    run = await rig.sync("full")
    assert (run.status, run.deleted, run.held) == ("succeeded", 0, 20), run
    assert await rig.feed(since=mark) == []
    status = await rig.admin("GET", "/admin/status")
    held = status["objects"]["contacts"]["held_deletions"]
    assert (held["run_id"], held["count"]) == (run.id, 20)
    listing = await rig.admin("GET", "/admin/deletions?object=contacts")
    assert sorted(listing["held"]["ids"]) == sorted(ids[:20])
    # Confirming needs the run the operator reviewed.
    await rig.admin("POST", "/admin/deletions/confirm?object=contacts", status=400)
    await rig.admin("POST", f"/admin/deletions/confirm?run_id={run.id + 1}", status=404)
    confirmed = await rig.admin("POST", f"/admin/deletions/confirm?run_id={run.id}")
    assert confirmed["deleted"] == 20
    gone = await rig.feed(since=mark)
    assert sorted(e["_id"] for e in gone) == sorted(ids[:20]) and all(e["_deleted"] for e in gone)
    assert (await rig.admin("GET", "/admin/deletions"))["held"] is None


async def test_held_deletions_can_be_discarded_and_are_decided_again_by_the_next_scan(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(50)
    rig = await make_rig(sim, MASS_DELETE_PERCENT="5")
    await rig.sync("full")
    for contact_id in ids[:11]:
        sim.gdpr_delete(contact_id)
    first = await rig.sync("full")
    assert first.held == 11
    discarded = await rig.admin("POST", f"/admin/deletions/discard?run_id={first.id}")
    assert discarded["discarded"] == 11
    assert (await rig.admin("GET", "/admin/deletions"))["held"] is None
    second = await rig.sync("full")
    assert (second.held, second.deleted) == (11, 0)  # still too many: held again


async def test_archives_and_merges_are_evidence_enough_and_never_held(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(40)
    rig = await make_rig(sim)
    await rig.sync("full")
    for contact_id in ids[:12]:  # 30% of the mirror, listed archived
        sim.archive(contact_id)
    reads_before = sim.requests["batch_read"]
    run = await rig.sync("full")
    assert (run.status, run.deleted, run.held) == ("succeeded", 12, 0)
    # One to fetch the twelve as archived (their tombstones keep their last content);
    # nothing unseen, so nothing more to ask.
    assert sim.requests["batch_read"] - reads_before == 1


async def test_a_record_seen_again_after_being_held_is_not_deleted_on_confirmation(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(30)
    rig = await make_rig(sim)
    await rig.sync("full")
    for contact_id in ids[:15]:
        sim.archive(contact_id)
    # Archived, but the archived listing comes back empty, so the absences go to batch read,
    # which does not find them (it reads live records).
    sim.faults.list_cut_mode = "empty"
    sim.faults.list_cut_after = 1  # the live listing's single page passes; archived is cut
    run = await rig.sync("full")
    assert run.held == 15, run
    sim.faults.list_cut_after = None
    sim.restore(ids[0])  # back to life: the next incremental run sees it (unchanged)
    assert (await rig.sync("incremental")).status == "succeeded"
    confirmed = await rig.admin("POST", f"/admin/deletions/confirm?run_id={run.id}")
    assert confirmed["deleted"] == 14
    live = {e["_id"]: e["_deleted"] for e in await rig.feed()}
    assert live[ids[0]] is False


async def test_a_record_restored_under_a_scan_is_kept_and_the_scan_succeeds(
    make_rig: RigFactory,
) -> None:
    """Archived when the live listing passed it, restored before the archived listing: the
    scan saw it in neither. HubSpot shows it live and modified after the scan began, so it
    moved under the scan: it is applied as fetched, and the scan is not taken for cut."""
    sim = HubSpotSimulator()
    ids = sim.create_contacts(500)
    rig = await make_rig(sim, HUBSPOT_MAX_TRIES="1")
    await rig.sync("full")
    sim.archive(ids[5])
    sim.faults.fail_after = 3  # properties and two live pages, then HubSpot breaks
    sim.faults.fail_next = 1
    cut = await rig.sync("full")
    assert cut.status == "failed"
    sim.restore(ids[5])
    reads_before = sim.requests["batch_read"]
    resumed = await rig.sync("full")
    assert (resumed.status, resumed.scan_run_id, resumed.deleted) == ("succeeded", cut.id, 0)
    assert sim.requests["batch_read"] - reads_before == 1  # the unseen record, asked once
    entity = next(e for e in await rig.feed() if e["_id"] == ids[5])
    assert entity["_deleted"] is False
