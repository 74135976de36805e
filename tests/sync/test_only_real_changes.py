"""Only real changes emit: a property defined upstream with no values, and changes to the
ignored properties, never give any record a new _updated; real content changes still do,
and so does leaving properties out (each record holding one is rewritten without it)."""

from __future__ import annotations

import pytest

from proxy.simulator import HubSpotSimulator
from tests.sync.conftest import Rig, RigFactory


async def test_a_new_empty_property_upstream_emits_nothing(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(150)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    sim.add_property("favourite_colour")  # an admin adds a field: every record has it, null
    run = await rig.sync("full")
    assert (run.status, run.updated, run.unchanged) == ("succeeded", 0, 150)
    assert await rig.feed(since=mark) == []
    sim.update(ids[0], {"favourite_colour": "green"})  # a value is a real change
    assert (await rig.sync("incremental")).updated == 1
    changed = await rig.feed(since=mark)
    assert [e["properties"]["favourite_colour"] for e in changed] == ["green"]


async def _restart(rig: Rig, make_rig: RigFactory, sim: HubSpotSimulator, **env: str) -> Rig:
    """The same database, served by a new process with other settings."""
    await rig.client.close()  # a clean stop gives the lease up
    return await make_rig(sim, **env)


async def test_ignoring_properties_emits_nothing(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(120)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    rig = await _restart(rig, make_rig, sim, IGNORE_PROPERTIES="city,phone")
    full = await rig.sync("full")
    assert (full.status, full.updated, full.created, full.deleted) == ("succeeded", 0, 0, 0)
    assert (await rig.sync("incremental")).updated == 0
    assert await rig.feed(since=mark) == []
    sim.update(ids[3], {"firstname": "Really changed"})  # a real change still emits
    assert (await rig.sync("incremental")).updated == 1
    mark = await rig.last_updated()
    rig = await _restart(rig, make_rig, sim)  # and going back emits nothing by itself
    assert (await rig.sync("full")).updated == 0
    assert await rig.feed(since=mark) == []


@pytest.mark.parametrize(
    ("settings", "left_out"),
    [
        ({"EXCLUDE_PROPERTIES": "city,phone,jobtitle"}, {"city", "phone", "jobtitle"}),
        ({"INCLUDE_PROPERTIES": "email,firstname,lastname"}, {"city", "phone", "jobtitle"}),
    ],
)
async def test_narrowing_the_properties_rewrites_each_record_once_and_widening_again(
    make_rig: RigFactory, settings: dict[str, str], left_out: set[str]
) -> None:
    """Left-out properties must stop being served (issue 16, item 6): every record that
    holds one is rewritten without it, once. Going back, every stored copy lacks content
    HubSpot has: each is emitted again, complete."""
    sim = HubSpotSimulator()
    ids = sim.create_contacts(120)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    rig = await _restart(rig, make_rig, sim, **settings)
    full = await rig.sync("full")
    assert (full.status, full.updated, full.created, full.deleted) == ("succeeded", 120, 0, 0)
    narrowed = await rig.feed(since=mark)
    assert len(narrowed) == 120
    assert not any(left_out & set(e["properties"]) for e in narrowed)
    mark = await rig.last_updated()
    assert (await rig.sync("incremental")).updated == 0
    assert (await rig.sync("verify")).updated == 0
    assert await rig.feed(since=mark) == []
    sim.update(ids[3], {"firstname": "Really changed"})  # a kept property: a real change
    assert (await rig.sync("incremental")).updated == 1
    mark = await rig.last_updated()
    rig = await _restart(rig, make_rig, sim)
    assert (await rig.sync("full")).updated == 120
    assert all(left_out <= set(e["properties"]) for e in await rig.feed(since=mark))


async def test_an_ignored_property_change_emits_nothing(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(20)
    rig = await make_rig(sim, IGNORE_PROPERTIES="city")
    await rig.sync("full")
    sim.update(ids[0], {"city": "Trondheim"})
    assert (await rig.sync("incremental")).updated == 0
    sim.update(ids[0], {"firstname": "Else"})
    assert (await rig.sync("incremental")).updated == 1


async def test_a_record_changed_only_in_an_ignored_property_is_fetched_once(
    make_rig: RigFactory,
) -> None:
    """Its modification time moved, its content did not: the stored copy's modification
    time moves forward all the same, so later full syncs do not fetch it again (issue 16,
    item 7)."""
    sim = HubSpotSimulator()
    ids = sim.create_contacts(150)
    rig = await make_rig(sim, IGNORE_PROPERTIES="city")
    await rig.sync("full")
    sim.update(ids[7], {"city": "Trondheim"})
    reads = sim.requests["batch_read"]
    first = await rig.sync("full")
    assert (first.status, first.updated, sim.requests["batch_read"] - reads) == (
        "succeeded",
        0,
        1,
    )
    reads = sim.requests["batch_read"]
    second = await rig.sync("full")
    assert (second.status, second.unchanged, second.deleted) == ("succeeded", 150, 0)
    assert sim.requests["batch_read"] - reads == 0
