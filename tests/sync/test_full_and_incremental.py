"""Full and incremental sync through the real app against the simulator over HTTP."""

from __future__ import annotations

import time

from proxy.simulator import HubSpotSimulator, ManualClock
from tests.helpers import base_of
from tests.sync.conftest import RigFactory


async def test_first_full_sync_mirrors_every_contact_with_every_property(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(250)
    rig = await make_rig(sim)
    base = await base_of(rig.store)
    assert (await rig.client.get("/contacts")).status == 503
    run = await rig.sync("full")
    assert (run.status, run.created, run.fetched) == ("succeeded", 250, 250)
    entities = await rig.feed()
    assert [e["_id"] for e in entities] == ids
    assert [e["_updated"] for e in entities] == list(range(base + 1, base + 251))
    for entity in entities[:5]:
        expected = sim.contact(entity["_id"])
        assert {k: v for k, v in entity.items() if not k.startswith("_")} == expected
        assert set(entity["properties"]) == set(sim.property_names())


async def test_every_property_arrives_without_naming_them_in_a_url(make_rig: RigFactory) -> None:
    """Listings name only the modification property and batch read takes the rest in its
    body: a URL limit that any GET naming every property would hit changes nothing."""
    sim = HubSpotSimulator(custom_properties=120)
    sim.create_contacts(120)
    sim.faults.max_url_length = 1500  # naming every property takes ~4,500 characters
    rig = await make_rig(sim)
    run = await rig.sync("full")
    assert run.status == "succeeded", run.error
    entities = await rig.feed()
    assert len(entities) == 120
    assert all(set(e["properties"]) == set(sim.property_names()) for e in entities)
    assert entities[7]["properties"] == sim.contact(entities[7]["_id"])["properties"]


async def test_incremental_emits_exactly_the_changed_and_created(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(300)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    sim.update(ids[10], {"firstname": "Changed"})
    sim.update(ids[200], {"city": "Bergen"})
    new = sim.create_contacts(2)
    run = await rig.sync("incremental")
    assert (run.status, run.mode, run.created, run.updated) == ("succeeded", "incremental", 2, 2)
    changed = await rig.feed(since=mark)
    assert sorted(e["_id"] for e in changed) == sorted([ids[10], ids[200], *new])
    by_id = {e["_id"]: e for e in changed}
    assert by_id[ids[10]]["properties"]["firstname"] == "Changed"
    # Running again finds the same records (the overlap re-reads them) but emits nothing.
    again = await rig.sync("incremental")
    assert again.status == "succeeded" and again.unchanged >= 4
    assert await rig.feed(since=await rig.last_updated() - 0) == []
    assert await rig.last_updated() == mark + 4


async def test_full_rescan_with_no_upstream_change_emits_nothing(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(150)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    run = await rig.sync("full")
    assert (run.status, run.unchanged, run.created + run.updated + run.deleted) == (
        "succeeded",
        150,
        0,
    )
    assert await rig.feed(since=mark) == []


async def test_archive_becomes_a_tombstone_at_the_next_full_sync(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(20)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    before = sim.contact(ids[3])
    sim.archive(ids[3])
    sim.gdpr_delete(ids[4])
    await rig.sync("incremental")  # search never shows archived records
    assert await rig.feed(since=mark) == []
    run = await rig.sync("full")
    assert run.deleted == 2
    tombstones = await rig.feed(since=mark)
    assert {e["_id"] for e in tombstones} == {ids[3], ids[4]}
    assert all(e["_deleted"] for e in tombstones)
    archived = next(e for e in tombstones if e["_id"] == ids[3])
    assert archived["archived"] is True
    assert archived["properties"]["email"] == before["properties"]["email"]
    gone = next(e for e in tombstones if e["_id"] == ids[4])
    assert gone["properties"]["email"]  # last known data kept


async def test_merge_tombstones_both_old_ids_in_the_same_incremental_run(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(10)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    survivor = sim.merge(ids[1], ids[2])
    run = await rig.sync("incremental")
    assert (run.created, run.deleted) == (1, 2)
    changes = {e["_id"]: e for e in await rig.feed(since=mark)}
    assert set(changes) == {survivor, ids[1], ids[2]}
    assert changes[ids[1]]["_deleted"] and changes[ids[2]]["_deleted"]
    assert not changes[survivor]["_deleted"]
    merged = changes[survivor]["properties"]["hs_merged_object_ids"].split(";")
    assert set(merged) >= {ids[1], ids[2]}


async def test_changes_that_surface_late_in_search_are_still_caught(
    make_rig: RigFactory,
) -> None:
    clock = ManualClock(int(time.time() * 1000))
    sim = HubSpotSimulator(clock=clock)
    ids = sim.create_contacts(30)
    rig = await make_rig(sim, SEARCH_OVERLAP_SECONDS="300")
    await rig.sync("full")
    mark = await rig.last_updated()
    sim.faults.search_lag_ms = 60_000
    clock.advance(1)  # an edit moves the modification time past the mirrored copy's
    sim.update(ids[5], {"lastname": "Late"})
    first = await rig.sync("incremental")
    assert first.status == "succeeded"
    assert await rig.feed(since=mark) == []  # not in the search index yet
    clock.advance(61_000)  # the index catches up
    second = await rig.sync("incremental")
    assert second.updated == 1
    late = await rig.feed(since=mark)
    assert [e["_id"] for e in late] == [ids[5]]
    assert late[0]["properties"]["lastname"] == "Late"


async def test_search_windows_past_the_10000_result_cap(make_rig: RigFactory) -> None:
    clock = ManualClock(int(time.time() * 1000) - 120_000)
    sim = HubSpotSimulator(clock=clock, custom_properties=2)
    ids = sim.create_contacts(10_450)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    for i, contact_id in enumerate(ids):  # distinct, ascending modification times
        sim.update(contact_id, {"city": f"c{i}"}, timestamp_ms=clock.now_ms() + 1 + i // 3)
    run = await rig.sync("incremental")
    assert (run.status, run.updated) == ("succeeded", 10_450), run.error
    changed = await rig.feed(since=mark)
    assert len(changed) == 10_450 and len({e["_id"] for e in changed}) == 10_450


async def test_twelve_thousand_records_in_one_millisecond(make_rig: RigFactory) -> None:
    clock = ManualClock(int(time.time() * 1000) - 120_000)
    sim = HubSpotSimulator(clock=clock, custom_properties=2)
    ids = sim.create_contacts(12_000)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    sim.touch_many(ids, {"jobtitle": "Bulk-updated"}, timestamp_ms=clock.now_ms() + 5)
    run = await rig.sync("incremental")
    assert (run.status, run.updated) == ("succeeded", 12_000), run.error
    changed = await rig.feed(since=mark)
    assert sorted(int(e["_id"]) for e in changed) == sorted(int(i) for i in ids)
    assert all(e["properties"]["jobtitle"] == "Bulk-updated" for e in changed)
