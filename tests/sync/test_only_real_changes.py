"""Only real changes emit: a property defined upstream with no values, and changes to the
property settings, never give any record a new _updated; real content changes still do."""

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


@pytest.mark.parametrize(
    "settings",
    [
        {"IGNORE_PROPERTIES": "city,phone"},
        {"EXCLUDE_PROPERTIES": "city,phone,jobtitle"},
        {"INCLUDE_PROPERTIES": "email,firstname,lastname"},
    ],
)
async def test_changing_the_property_settings_emits_nothing(
    make_rig: RigFactory, settings: dict[str, str]
) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(120)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    rig = await _restart(rig, make_rig, sim, **settings)
    full = await rig.sync("full")
    assert (full.status, full.updated, full.created, full.deleted) == ("succeeded", 0, 0, 0)
    assert (await rig.sync("incremental")).updated == 0
    assert await rig.feed(since=mark) == []
    # A real change still emits, in a property the new settings keep.
    sim.update(ids[3], {"firstname": "Really changed"})
    assert (await rig.sync("incremental")).updated == 1
    # Going back to the old settings emits nothing by itself either. The one record that
    # really changed while properties were left out was stored without them: its copy in
    # the mirror lacks content HubSpot has, so it alone is emitted again, complete.
    mark = await rig.last_updated()
    rig = await _restart(rig, make_rig, sim)
    narrowed = "IGNORE_PROPERTIES" not in settings
    assert (await rig.sync("full")).updated == int(narrowed)
    assert [e["_id"] for e in await rig.feed(since=mark)] == ([ids[3]] if narrowed else [])


async def test_an_ignored_property_change_emits_nothing(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(20)
    rig = await make_rig(sim, IGNORE_PROPERTIES="city")
    await rig.sync("full")
    sim.update(ids[0], {"city": "Trondheim"})
    assert (await rig.sync("incremental")).updated == 0
    sim.update(ids[0], {"firstname": "Else"})
    assert (await rig.sync("incremental")).updated == 1
