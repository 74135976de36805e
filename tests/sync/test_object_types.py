"""Every CRM object type, custom objects and associations, synced from the simulator over
HTTP: each type has its own feed path, sequence and runs, and one failing never stops
another."""

from __future__ import annotations

from proxy.simulator import HubSpotSimulator
from proxy.store import Store, migrate
from tests.helpers import wait_until
from tests.sync.conftest import RigFactory, an_hour_ago


async def test_each_standard_type_has_its_own_feed_sequence_and_modification_property(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    types = ("contacts", "companies", "deals", "tickets", "products", "line_items")
    created = {
        t: sim.objects(t).create(5 + i, timestamp_ms=an_hour_ago()) for i, t in enumerate(types)
    }
    rig = await make_rig(sim, OBJECT_TYPES="contacts,company,0-3,tickets,products,line_item")
    for object_type in types:
        run = await rig.sync("full", object_type)
        assert (run.object_type, run.status, run.created) == (
            object_type, "succeeded", len(created[object_type])
        ), run.error  # fmt: skip
        feed = await rig.feed(object_type=object_type)
        assert [e["_id"] for e in feed] == created[object_type]
    deals = sim.objects("deals")
    mark = await rig.last_updated("deals")
    deals.update(created["deals"][1], {"dealname": "Renewal"})  # moves hs_lastmodifieddate
    run = await rig.sync("incremental", "deals")
    assert (run.status, run.updated) == ("succeeded", 1)
    [entity] = await rig.feed(since=mark, object_type="deals")
    assert entity["properties"]["dealname"] == "Renewal"
    assert await rig.feed(since=await rig.last_updated("contacts")) == []  # its own sequence


async def test_custom_objects_by_name_and_by_type_id(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    pets = sim.define_custom_object("pets", ["species", "age"])
    cars = sim.define_custom_object("cars", ["make"])
    pet_ids = sim.objects("pets").create(7)
    car_ids = sim.objects("cars").create(3)
    rig = await make_rig(sim, OBJECT_TYPES=f"pets,{cars.object_type_id}")
    assert (await rig.sync("full", "pets")).created == 7
    assert (await rig.sync("full", "cars")).created == 3  # its name, not its id
    assert [e["_id"] for e in await rig.feed(object_type="pets")] == pet_ids
    feed = await rig.feed(object_type="cars")
    assert [e["_id"] for e in feed] == car_ids and "make" in feed[0]["properties"]
    assert (await rig.client.get(f"/{cars.object_type_id}")).status == 404
    assert pets.object_type_id != cars.object_type_id


async def test_a_custom_object_given_by_id_keeps_the_name_it_got_first(
    make_rig: RigFactory,
) -> None:
    """The name is asked of HubSpot once and kept: a restart while HubSpot is down serves
    the same path. An id HubSpot could not name at the first start keeps the id as its name
    for good (the path a pipe was set up with never moves)."""
    sim = HubSpotSimulator()
    cars = sim.define_custom_object("cars", ["make"])
    sim.objects("cars").create(2)
    first = await make_rig(sim, OBJECT_TYPES=f"contacts,{cars.object_type_id}")
    assert (await first.sync("full", "cars")).created == 2
    schemas = sim.requests["schemas"]
    await first.client.close()

    sim.faults.fail_next = 1000  # HubSpot down: the name comes from the store
    again = await make_rig(sim, OBJECT_TYPES=f"contacts,{cars.object_type_id}")
    assert len(await again.feed(object_type="cars")) == 2
    assert sim.requests["schemas"] == schemas  # not asked again
    await again.client.close()

    boats = sim.define_custom_object("boats", ["hull"])
    unnamed = await make_rig(sim, HUBSPOT_MAX_TRIES="1", OBJECT_TYPES=boats.object_type_id)
    assert (await unnamed.client.get(f"/{boats.object_type_id}")).status == 503  # not synced
    await unnamed.client.close()
    sim.faults.fail_next = 0
    later = await make_rig(sim, OBJECT_TYPES=boats.object_type_id)
    assert (await later.client.get(f"/{boats.object_type_id}")).status == 503  # the same path
    assert (await later.client.get("/boats")).status == 404


async def test_an_object_type_that_fails_never_stops_another(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(10)
    rig = await make_rig(sim, schedule=True, OBJECT_TYPES="contacts,widgets")

    async def both_tried() -> bool:
        runs = (await rig.admin("GET", "/admin/runs"))["runs"]
        return {r["object"] for r in runs if r["status"] in ("succeeded", "failed")} == {
            "contacts",
            "widgets",
        }

    await wait_until(both_tried, what="a run of each object type")
    runs = (await rig.admin("GET", "/admin/runs"))["runs"]
    widgets = next(r for r in runs if r["object"] == "widgets")
    assert widgets["status"] == "failed" and "no object type 'widgets'" in widgets["error"]
    assert len(await rig.feed()) == 10  # contacts are served all the same
    health = await rig.client.get("/health")
    body = await health.json()
    assert health.status == 503 and body["objects"]["contacts"]["healthy"] is True
    assert "no object type 'widgets'" in body["objects"]["widgets"]["problems"][0]


async def test_associations_are_mirrored_in_v3_shape_and_paged_past_500(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    contacts = sim.create_contacts(620, timestamp_ms=an_hour_ago())
    companies = sim.objects("companies").create(2, timestamp_ms=an_hour_ago())
    deals = sim.objects("deals").create(1, timestamp_ms=an_hour_ago())
    for contact_id in contacts:  # the big company has 620 contacts: paged at 500
        sim.associate("companies", companies[0], "contacts", contact_id)
    sim.associate("contacts", contacts[0], "companies", companies[1], primary=True)
    sim.associate("deals", deals[0], "contacts", contacts[0])
    rig = await make_rig(
        sim,
        OBJECT_TYPES="contacts,companies,deals",
        ASSOCIATIONS="contacts=companies,deals;companies=contacts",
    )
    assert (await rig.sync("full", "contacts")).status == "succeeded"
    # 620 contacts in seven pages: their associations are read together, one request per
    # target type (HubSpot takes 1,000 ids a request).
    assert sim.requests["associations"] == 2
    for object_type in ("companies", "deals"):
        assert (await rig.sync("full", object_type)).status == "succeeded"
    by_id = {e["_id"]: e for e in await rig.feed()}
    links = by_id[contacts[0]]["associations"]
    assert {r["id"] for r in links["companies"]["results"]} == set(companies)
    # One entry per association type, as v3 listed them: the primary company twice.
    kinds = [r["type"] for r in links["companies"]["results"] if r["id"] == companies[1]]
    assert len(kinds) == 2 and "contact_to_company" in kinds
    assert all(set(r) == {"id", "type"} for r in links["companies"]["results"])
    assert links["deals"] == {"results": [{"id": deals[0], "type": "contact_to_deal"}]}
    assert by_id[contacts[5]]["associations"]["deals"] == {"results": []}
    company = {e["_id"]: e for e in await rig.feed(object_type="companies")}[companies[0]]
    assert len(company["associations"]["contacts"]["results"]) == 620
    deal = (await rig.feed(object_type="deals"))[0]
    assert "associations" not in deal  # not asked for deals


async def test_an_association_change_reaches_the_feed_with_verify_or_a_moved_record(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    contacts = sim.create_contacts(30, timestamp_ms=an_hour_ago())
    companies = sim.objects("companies").create(3, timestamp_ms=an_hour_ago())
    rig = await make_rig(sim, OBJECT_TYPES="contacts,companies", ASSOCIATIONS="contacts=companies")
    await rig.sync("full")
    mark = await rig.last_updated()
    sim.associate("contacts", contacts[4], "companies", companies[2])  # no time moves
    assert (await rig.sync("incremental")).updated == 0
    assert (await rig.sync("full")).updated == 0  # the listing shows nothing new
    verified = await rig.sync("verify")
    assert verified.updated == 1
    [entity] = await rig.feed(since=mark)
    assert entity["associations"]["companies"]["results"][0]["id"] == companies[2]
    mark = await rig.last_updated()
    sim.faults.associations_bump_modified = True  # where HubSpot does move the time
    sim.dissociate("contacts", contacts[4], "companies", companies[2])
    moved = await rig.sync("incremental")
    assert moved.updated == 1
    [entity] = await rig.feed(since=mark)
    assert entity["associations"]["companies"] == {"results": []}


async def test_a_reconciliation_with_associations_saves_its_position_as_it_goes(
    make_rig: RigFactory,
) -> None:
    """Pages wait for their associations to be read for many records at once, but a scan
    with nothing to fetch must not hold its pages (and their positions) to the end."""
    sim = HubSpotSimulator()
    sim.create_contacts(1500, timestamp_ms=an_hour_ago())
    sim.objects("companies").create(2, timestamp_ms=an_hour_ago())
    rig = await make_rig(
        sim,
        HUBSPOT_MAX_TRIES="1",
        OBJECT_TYPES="contacts,companies",
        ASSOCIATIONS="contacts=companies",
    )
    assert (await rig.sync("full")).status == "succeeded"
    sim.faults.fail_after = 1 + 13  # the catalogue and thirteen of fifteen listings
    sim.faults.fail_next = 1000
    cut = await rig.sync("full")
    assert cut.status == "failed"
    sim.faults.fail_next = 0
    lists_before = sim.requests["list"]
    resumed = await rig.sync("full")
    assert (resumed.status, resumed.scan_run_id) == ("succeeded", cut.id)
    # Resumed after the tenth page, where the held pages were written: five live pages
    # and the archived listing are left.
    assert sim.requests["list"] - lists_before == 5 + 1


async def test_a_mirror_made_under_an_id_by_an_earlier_version_keeps_the_id(
    make_rig: RigFactory, database_url: str
) -> None:
    """Before migration 0007 a custom object given by id was mirrored under the id: after
    the upgrade it keeps that name (and its feed path), though HubSpot could name it."""
    sim = HubSpotSimulator()
    boats = sim.define_custom_object("boats", ["hull"])
    sim.objects("boats").create(3)
    store = Store.open(database_url)
    try:
        await migrate.upgrade(store.engine)
        await store.changes.register_object_types([boats.object_type_id])  # as before 0007
    finally:
        await store.close()
    rig = await make_rig(sim, OBJECT_TYPES=boats.object_type_id)
    assert (await rig.sync("full", boats.object_type_id)).created == 3
    assert len(await rig.feed(object_type=boats.object_type_id)) == 3
    assert (await rig.client.get("/boats")).status == 404
