"""EXCLUDE_PROPERTIES removes what it excludes (issue 16, item 6): users set it to stop
serving personal data, so the verify sync a new setting triggers rewrites every record
whose stored copy still holds an excluded property, as a real change."""

from __future__ import annotations

from proxy.simulator import HubSpotSimulator
from tests.sync.conftest import RigFactory


async def test_excluding_a_property_rewrites_every_record_that_holds_it(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(20)
    rig = await make_rig(sim)
    await rig.sync("full")
    assert all(e["properties"].get("phone") for e in await rig.feed())
    mark = await rig.last_updated()
    await rig.client.close()  # restarted with the property excluded
    rig = await make_rig(sim, EXCLUDE_PROPERTIES="phone")
    run = await rig.sync("full")  # new content settings: the scan fetches every record
    assert (run.status, run.updated, run.created, run.deleted) == ("succeeded", 20, 0, 0)
    served = await rig.feed()
    assert len(served) == 20
    assert [e["_id"] for e in served if "phone" in e["properties"]] == []
    assert all(e["_updated"] > mark for e in served)  # each a new version Sesam reads
    mark = await rig.last_updated()
    again = await rig.sync("verify")
    assert (again.status, again.updated, again.unchanged) == ("succeeded", 0, 20)
    assert await rig.feed(since=mark) == []


async def test_narrowing_the_included_properties_rewrites_records_holding_others(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(10)
    rig = await make_rig(sim)
    await rig.sync("full")
    await rig.client.close()
    rig = await make_rig(sim, INCLUDE_PROPERTIES="email,firstname")
    assert (await rig.sync("full")).updated == 10
    # HubSpot sends hs_object_id and createdate whatever was asked: those stay (the stored
    # copy and every fetched one hold them alike, so they are no change either).
    kept = {"email", "firstname", "lastmodifieddate", "hs_merged_object_ids"}
    always_sent = {"hs_object_id", "createdate"}
    assert all(set(e["properties"]) <= kept | always_sent for e in await rig.feed())
    assert (await rig.sync("verify")).updated == 0
