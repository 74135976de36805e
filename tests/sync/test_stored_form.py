"""The form a record is stored in: on SQLite a large record (COMPRESS_FROM characters of
JSON or more) is an LZ4 block, a smaller one its text, readable in sqlite3; Postgres keeps
text (and compresses it itself). Whatever the form, the feed serves the text HubSpot sent,
and a fetched copy is compared with it: a real change is one change, an ignored one none."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa

from proxy.diff import content_hash
from proxy.store.record_text import COMPRESS_FROM, text_of
from proxy.store.schema import entities
from tests.sync.conftest import Rig, RigFactory, an_hour_ago, portal


async def stored(rig: Rig, object_type: str) -> dict[str, tuple[str | bytes, str | None]]:
    """Each stored record's ``data`` value as the database holds it, and its content hash."""
    query = sa.select(entities.c.entity_id, entities.c.data, entities.c.content_hash).where(
        entities.c.object_type == object_type
    )
    found = await rig.store.db.read(lambda conn: list(conn.execute(query)))
    return {entity_id: (data, text_hash) for entity_id, data, text_hash in found}


def without_feed_fields(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if k not in ("_id", "_updated", "_deleted")}


async def test_large_records_are_compressed_on_sqlite_and_served_as_hubspot_sent_them(
    make_rig: RigFactory, backend: str
) -> None:
    sim, ids = portal(60, custom_properties=300)  # ~15 KB of JSON a contact
    companies = sim.objects("companies").create(20, timestamp_ms=an_hour_ago())  # ~1 KB
    rig = await make_rig(sim, OBJECT_TYPES="contacts,companies", IGNORE_PROPERTIES="jobtitle")
    for object_type in ("contacts", "companies"):
        assert (await rig.sync("full", object_type)).status == "succeeded"

    contacts, small = await stored(rig, "contacts"), await stored(rig, "companies")
    assert (len(contacts), len(small)) == (60, 20)
    if backend == "sqlite":
        for data, _ in contacts.values():
            assert isinstance(data, bytes) and len(text_of(data)) >= COMPRESS_FROM
            assert len(data) * 3 < len(text_of(data))
        # Small records stay text: sqlite3's JSON functions read them.
        assert all(isinstance(data, str) for data, _ in small.values())
        names = await rig.store.db.read(
            lambda conn: conn.execute(
                sa.text(
                    "SELECT count(json_extract(data, '$.properties.name')) FROM entities"
                    " WHERE object_type = 'companies'"
                )
            ).scalar_one()
        )
        assert names == 20
    else:
        assert all(isinstance(data, str) for data, _ in (contacts | small).values())

    # The hash is of the text, whatever the form: a fetched copy with the same text matches.
    assert all(h == content_hash(text_of(data)) for data, h in (contacts | small).values())
    feed = {e["_id"]: e for e in await rig.feed()}
    assert feed.keys() == contacts.keys()
    for entity_id, (data, _) in contacts.items():
        assert without_feed_fields(feed[entity_id]) == orjson.loads(text_of(data))
        assert feed[entity_id]["properties"] == sim.contact(entity_id)["properties"]
    company_feed = await rig.feed(object_type="companies")
    assert {e["_id"] for e in company_feed} == set(companies)

    verified = await rig.sync("verify")
    assert (verified.status, verified.updated, verified.unchanged) == ("succeeded", 0, 60)

    # Other text, compared with the stored (compressed) copy's content: one change only.
    mark = await rig.last_updated()
    sim.update(ids[1], {"jobtitle": "Ignored"})
    sim.update(ids[2], {"city": "Ålesund"})
    changed = await rig.sync("full")
    assert (changed.status, changed.updated, changed.unchanged) == ("succeeded", 1, 59)
    [entity] = await rig.feed(since=mark)
    assert (entity["_id"], entity["properties"]["city"]) == (ids[2], "Ålesund")
    assert entity["properties"] == sim.contact(ids[2])["properties"]
    data, _ = (await stored(rig, "contacts"))[ids[2]]
    assert isinstance(data, bytes) == (backend == "sqlite")
