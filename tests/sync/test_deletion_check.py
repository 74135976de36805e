"""Deletions within minutes: the deletion check (DELETE_CHECK_SECONDS) between full syncs."""

from __future__ import annotations

from proxy.simulator import HubSpotSimulator
from tests.helpers import wait_until
from tests.sync.conftest import RigFactory


async def test_archives_reach_the_feed_with_their_last_content(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(250)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    for contact_id in ids[3:6]:
        sim.archive(contact_id)
    check = await rig.sync("deletions")
    assert (check.mode, check.status, check.deleted) == ("deletions", "succeeded", 3)
    # The catalogue, the archived listing, one batch read of the three as archived, the count.
    assert check.requests == 4
    tombstones = await rig.feed(since=mark)
    assert [e["_id"] for e in tombstones] == ids[3:6]
    assert all(e["_deleted"] and e["properties"]["email"] for e in tombstones)
    # Nothing new in the recycle bin: the listing and the count, no catalogue (nothing to
    # fetch).
    quiet = await rig.sync("deletions")
    assert (quiet.deleted, quiet.requests) == (0, 2)


async def test_a_gdpr_deletion_is_found_by_the_count_and_a_reconciliation(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(120)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    sim.gdpr_delete(ids[40])  # no trace to list: only the count tells
    check = await rig.sync("deletions")  # waits for the full sync it queues too
    assert (check.status, check.deleted) == ("succeeded", 0)
    runs = (await rig.admin("GET", "/admin/runs?object=contacts"))["runs"]
    follow_up = next(r for r in runs if r["id"] > check.id)
    assert (follow_up["mode"], follow_up["trigger"], follow_up["status"]) == (
        "full",
        "check",
        "succeeded",
    )
    assert follow_up["deleted"] == 1
    assert [(e["_id"], e["_deleted"]) for e in await rig.feed(since=mark)] == [(ids[40], True)]


async def test_a_restored_record_comes_back_as_a_new_live_version(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(20)
    rig = await make_rig(sim)
    await rig.sync("full")
    sim.archive(ids[2])
    await rig.sync("deletions")
    mark = await rig.last_updated()
    sim.restore(ids[2])  # restoring moves the modification time: search finds it
    back = await rig.sync("incremental")
    assert (back.status, back.updated) == ("succeeded", 1)
    [entity] = await rig.feed(since=mark)
    assert (entity["_id"], entity["_deleted"], entity["_updated"] > mark) == (ids[2], False, True)


async def test_a_deletion_check_before_any_full_sync_runs_as_full(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(30)
    rig = await make_rig(sim)
    run = await rig.sync("deletions")
    assert (run.mode, run.status, run.created) == ("full", "succeeded", 30)


async def test_the_scheduler_brings_an_archive_to_the_feed_within_the_check_period(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(50)
    rig = await make_rig(sim, schedule=True, DELETE_CHECK_SECONDS="1")
    await rig.scheduler.idle()  # the start-up full sync
    described = await rig.scheduler.describe("contacts")
    assert described["next_runs"]["deletions"] is not None
    sim.archive(ids[9])

    async def tombstoned() -> bool:
        resp = await rig.client.get("/contacts")
        return resp.status == 200 and any(
            e["_id"] == ids[9] and e["_deleted"] for e in await resp.json()
        )

    await wait_until(tombstoned, timeout=20, what="the archive's tombstone in the feed")


async def test_a_count_gap_the_reconciliation_cannot_explain_is_not_chased_again(
    make_rig: RigFactory,
) -> None:
    """A record the listing shows but search does not count yet (search lags writes): the
    first check asks for a full sync, which deletes nothing; later checks with the same
    counts do not ask again."""
    sim = HubSpotSimulator()
    sim.create_contacts(30)
    rig = await make_rig(sim)
    await rig.sync("full")
    sim.faults.search_lag_ms = 3_600_000
    sim.create_contacts(1)  # listed at once, counted by search an hour from now
    assert (await rig.sync("full")).created == 1
    first = await rig.sync("deletions")
    second = await rig.sync("deletions")
    runs = (await rig.admin("GET", "/admin/runs?object=contacts"))["runs"]
    queued = [r for r in runs if r["trigger"] == "check"]
    assert len(queued) == 1 and first.id < queued[0]["id"] < second.id
    assert (queued[0]["status"], queued[0]["deleted"]) == ("succeeded", 0)


async def test_a_tombstone_keeps_the_record_s_last_associations(make_rig: RigFactory) -> None:
    """The archived copy is fetched without associations (HubSpot's are of live records):
    the tombstone keeps the ones the mirror held (issue 16, item 7), from the deletion
    check and from a full sync's archived listing alike."""
    sim = HubSpotSimulator()
    contacts = sim.create_contacts(20)
    companies = sim.objects("companies").create(2)
    for contact_id in contacts[:2]:
        sim.associate("contacts", contact_id, "companies", companies[0])
    rig = await make_rig(sim, OBJECT_TYPES="contacts,companies", ASSOCIATIONS="contacts=companies")
    await rig.sync("full")
    mark = await rig.last_updated()
    sim.archive(contacts[0])
    assert (await rig.sync("deletions")).deleted == 1
    sim.archive(contacts[1])
    assert (await rig.sync("full")).deleted == 1
    tombstones = await rig.feed(since=mark)
    assert [(e["_id"], e["_deleted"]) for e in tombstones] == [
        (contacts[0], True),
        (contacts[1], True),
    ]
    for entity in tombstones:
        links = entity["associations"]["companies"]["results"]
        assert [link["id"] for link in links] == [companies[0]], entity
