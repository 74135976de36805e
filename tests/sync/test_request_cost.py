"""What each sync mode costs in HubSpot requests, and what each one sees.

A listing names only the modification property, so it costs one request per 100 records
however many properties the portal defines; records are fetched whole by batch read (the
properties in the body) only when new or changed, or, in a verify run, all of them."""

from __future__ import annotations

import sqlalchemy as sa

from proxy.store.schema import object_state
from tests.sync.conftest import RigFactory, portal


async def test_a_full_sync_fetches_only_what_changed_and_lists_the_rest(
    make_rig: RigFactory,
) -> None:
    sim, ids = portal(1000)
    rig = await make_rig(sim)
    first = await rig.sync("full")
    # The catalogue, ten listings, the archived listing, ten batch reads.
    assert (first.status, first.created, first.requests) == ("succeeded", 1000, 1 + 10 + 1 + 10)
    entity = (await rig.feed())[0]
    assert set(entity["properties"]) == set(sim.property_names())  # every property, unchunked
    assert len(sim.property_names()) > 190

    again = await rig.sync("full")
    assert (again.status, again.updated, again.unchanged) == ("succeeded", 0, 1000)
    assert again.requests == 10 + 1  # no change: the listings, not even the catalogue

    mark = await rig.last_updated()
    for contact_id in ids[:10]:
        sim.update(contact_id, {"city": "Bergen"})
    changed = await rig.sync("full")
    assert (changed.updated, changed.requests) == (10, 1 + 10 + 1 + 1)  # one batch read
    assert sorted(e["_id"] for e in await rig.feed(since=mark)) == sorted(ids[:10])
    # Changes spread over the listing cost a batch read per page that holds one: the
    # pages are committed in order, each with what it changed.
    for contact_id in ids[::100]:
        sim.update(contact_id, {"city": "Molde"})
    spread = await rig.sync("full")
    assert (spread.updated, spread.requests) == (10, 1 + 10 + 1 + 10)


async def test_verify_sees_a_change_that_did_not_move_the_modification_time(
    make_rig: RigFactory,
) -> None:
    """HubSpot does not always move the modification time (association changes, some
    calculated properties): the reconciliation cannot see such a change, verify does."""
    sim, ids = portal(300)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    stored = sim.find(ids[7], archived=False)
    assert stored is not None
    stored.properties["city"] = "Unstamped"  # content changed, lastmodifieddate not
    reconciled = await rig.sync("full")
    assert (reconciled.updated, await rig.feed(since=mark)) == (0, [])
    verified = await rig.sync("verify")
    assert (verified.mode, verified.status, verified.updated) == ("verify", "succeeded", 1)
    assert verified.requests == 1 + 3 + 1 + 3  # every record fetched: three batch reads
    [entity] = await rig.feed(since=mark)
    assert (entity["_id"], entity["properties"]["city"]) == (ids[7], "Unstamped")


async def test_incremental_search_names_few_properties_and_fetches_what_moved(
    make_rig: RigFactory,
) -> None:
    sim, ids = portal(500)
    rig = await make_rig(sim)
    await rig.sync("full")
    quiet = await rig.sync("incremental")
    assert (quiet.status, quiet.requests, quiet.updated) == ("succeeded", 1, 0)  # one search
    mark = await rig.last_updated()
    for contact_id in ids[:100]:
        sim.update(contact_id, {"jobtitle": "Skipper"})
    busy = await rig.sync("incremental")
    # The catalogue, one search page of 100, one batch read of the 100.
    assert (busy.status, busy.requests, busy.updated) == ("succeeded", 3, 100)
    assert len(await rig.feed(since=mark)) == 100
    again = await rig.sync("incremental")  # the overlap finds them again: nothing to fetch
    assert (again.requests, again.updated, again.unchanged) == (1, 0, 100)


async def test_after_new_content_settings_the_next_full_sync_fetches_everything(
    make_rig: RigFactory,
) -> None:
    """A mirror written under other settings (or before this version: the migration leaves
    no signature) may lack content the listing cannot show; one full scan fetches it all."""
    sim, _ = portal(200)
    rig = await make_rig(sim)
    await rig.sync("full")
    statement = object_state.update().values(fetch_signature=None)
    await rig.store.db.write(lambda conn: conn.execute(statement))
    everything = await rig.sync("full")
    assert (everything.status, everything.requests) == ("succeeded", 1 + 2 + 1 + 2)
    cheap = await rig.sync("full")
    assert cheap.requests == 2 + 1
    query = sa.select(object_state.c.fetch_signature)
    assert await rig.store.db.read(lambda conn: conn.execute(query).scalar_one()) is not None


async def test_a_verify_scan_cut_short_starts_over_under_new_content_settings(
    make_rig: RigFactory,
) -> None:
    """A verifying scan fetches every record under the settings it began with. Resumed under
    others, the pages it fetched before would lack what they now ask for while its
    completion said every record has it: it starts over instead."""
    sim, _ = portal(500)
    first = await make_rig(sim, HUBSPOT_MAX_TRIES="1", EXCLUDE_PROPERTIES="firstname")
    await first.sync("full")
    # Two listing pages (the second asked for while the first page's records are read), the
    # catalogue, a batch read, the third listing page, a batch read: two pages applied,
    # then HubSpot breaks.
    sim.faults.fail_after = 6
    sim.faults.fail_next = 1000
    cut = await first.sync("verify")
    assert (cut.status, cut.fetched) == ("failed", 200)
    sim.faults.fail_next = 0
    await first.client.close()  # restarted with firstname mirrored too

    second = await make_rig(sim, HUBSPOT_MAX_TRIES="1")
    batch_reads = sim.requests["batch_read"]
    run = await second.sync("full")
    assert (run.status, run.scan_run_id) == ("succeeded", run.id)  # a scan of its own
    assert sim.requests["batch_read"] - batch_reads == 5  # every page fetched again
    entities = await second.feed()
    assert len(entities) == 500
    assert all(e["properties"].get("firstname") for e in entities)
    resumed = await second.sync("full")  # the settings are those of the last verify
    assert resumed.requests == 5 + 1
