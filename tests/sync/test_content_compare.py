"""Records are stored as HubSpot sent them and compared by their text first: a copy with
the stored text is unchanged without parsing either; a copy with other text is compared by
canonical content (the fingerprint), computed from the stored text the first time it is
needed. What the feed shows must be exactly what full parsing would show."""

from __future__ import annotations

import sqlalchemy as sa

from proxy.diff import NOT_COMPUTED, content_hash
from proxy.store.schema import entities
from tests.sync.conftest import Rig, RigFactory, portal


async def rows(rig: Rig) -> dict[str, tuple[str, str | None, str]]:
    """Each stored record's fingerprint, content hash and text."""
    query = sa.select(
        entities.c.entity_id, entities.c.fingerprint, entities.c.content_hash, entities.c.data
    )
    found = await rig.store.db.read(lambda conn: list(conn.execute(query)))
    return {entity_id: (fp, text_hash, data) for entity_id, fp, text_hash, data in found}


async def test_records_are_stored_unparsed_and_compared_only_when_their_text_differs(
    make_rig: RigFactory,
) -> None:
    sim, ids = portal(250, custom_properties=40)
    rig = await make_rig(sim, IGNORE_PROPERTIES="jobtitle")
    first = await rig.sync("full")
    assert (first.status, first.created) == ("succeeded", 250)
    stored = await rows(rig)
    assert all(fp == NOT_COMPUTED for fp, _, _ in stored.values())  # nothing parsed
    assert all(text_hash == content_hash(data) for _, text_hash, data in stored.values())

    verified = await rig.sync("verify")
    assert (verified.status, verified.updated, verified.unchanged) == ("succeeded", 0, 250)
    assert all(fp == NOT_COMPUTED for fp, _, _ in (await rows(rig)).values())  # same text

    mark = await rig.last_updated()
    sim.update(ids[1], {"jobtitle": "Ignored"})  # other text, the same content
    sim.update(ids[2], {"city": "Ålesund"})
    changed = await rig.sync("full")
    assert (changed.status, changed.updated, changed.unchanged) == ("succeeded", 1, 249)
    [entity] = await rig.feed(since=mark)
    assert (entity["_id"], entity["properties"]["city"]) == (ids[2], "Ålesund")
    after = await rows(rig)
    assert after[ids[1]] == stored[ids[1]]  # compared, found equal, not written
    fp, text_hash, data = after[ids[2]]
    assert fp != NOT_COMPUTED and text_hash == content_hash(data)  # compared to write it
    # Compared again, now against the fingerprint stored with it: still one change only.
    sim.update(ids[2], {"city": "Molde"})
    again = await rig.sync("full")
    assert (again.updated, len(await rig.feed(since=mark))) == (1, 1)


async def test_new_property_settings_change_no_record_stored_unparsed(
    make_rig: RigFactory,
) -> None:
    """Excluding a property makes every fetched text differ from the stored one: the
    fingerprints are computed under the new settings at start (those never computed too, or
    each comparison would parse the stored text again). Each record held the excluded
    properties, so each is rewritten without them, once."""
    sim, _ = portal(150, custom_properties=40)
    first = await make_rig(sim)
    await first.sync("full")
    mark = await first.last_updated()
    await first.client.close()

    second = await make_rig(sim, EXCLUDE_PROPERTIES="city,phone")
    run = await second.sync("full")  # new settings: a verifying scan
    assert (run.status, run.updated, run.unchanged) == ("succeeded", 150, 0)
    assert not any("phone" in e["properties"] for e in await second.feed(since=mark))
    assert all(fp != NOT_COMPUTED for fp, _, _ in (await rows(second)).values())
