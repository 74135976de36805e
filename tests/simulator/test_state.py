"""The in-memory account, without HTTP: generation, writes, archive, merge, delete."""

from __future__ import annotations

import time

import orjson
import pytest

from proxy.simulator.catalogue import DEFAULT_PROPERTIES
from proxy.simulator.clock import iso_from_ms, ms_from_iso
from proxy.simulator.state import HubSpotSimulator, ManualClock

from .conftest import START_MS


def test_generation_is_deterministic_per_seed_and_realistic() -> None:
    a = HubSpotSimulator(clock=ManualClock(START_MS), seed=7)
    b = HubSpotSimulator(clock=ManualClock(START_MS), seed=7)
    other = HubSpotSimulator(clock=ManualClock(START_MS), seed=8)
    ids = a.create_contacts(50)
    b.create_contacts(50)
    other.create_contacts(50)

    assert ids == [str(i) for i in range(1, 51)]
    assert [a.contact(i) for i in ids] == [b.contact(i) for i in ids]
    assert [a.contact(i) for i in ids] != [other.contact(i) for i in ids]

    record = a.contact("3")
    props = record["properties"]
    assert set(record) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert record["archived"] is False
    assert props["hs_object_id"] == "3"
    assert props["createdate"] == props["lastmodifieddate"] == iso_from_ms(START_MS)
    assert record["createdAt"] == record["updatedAt"] == "2023-11-14T22:13:20.000Z"
    assert props["hs_merged_object_ids"] is None
    assert "@" in str(props["email"])
    assert len(props) == len(a.property_names()) == 14 + 40
    assert all(value is None or isinstance(value, str) for value in props.values())
    assert 1500 < len(orjson.dumps(record)) < 4000


def test_emails_are_unique() -> None:
    sim = HubSpotSimulator(clock=ManualClock(START_MS))
    ids = sim.create_contacts(2000)
    assert len({sim.contact(i)["properties"]["email"] for i in ids}) == 2000


def test_creating_many_contacts_is_fast() -> None:
    sim = HubSpotSimulator(clock=ManualClock(START_MS))
    started = time.perf_counter()
    sim.create_contacts(20_000)
    # The budget is 10 s for 100,000 (they take 2-3 s here), scaled to 20,000.
    assert time.perf_counter() - started < 2.0


def test_update_sets_values_and_timestamps(sim: HubSpotSimulator, clock: ManualClock) -> None:
    (contact_id,) = sim.create_contacts(1)
    clock.advance(5000)
    sim.update(contact_id, {"jobtitle": "CTO", "phone": None})
    record = sim.contact(contact_id)
    assert record["properties"]["jobtitle"] == "CTO"
    assert record["properties"]["phone"] is None
    assert record["updatedAt"] == record["properties"]["lastmodifieddate"]
    assert ms_from_iso(record["updatedAt"]) == START_MS + 5000
    assert record["createdAt"] == iso_from_ms(START_MS)

    sim.update(contact_id, {"city": "Oslo"}, timestamp_ms=START_MS + 123)
    assert ms_from_iso(sim.contact(contact_id)["updatedAt"]) == START_MS + 123


def test_update_refuses_unknown_and_system_properties(sim: HubSpotSimulator) -> None:
    (contact_id,) = sim.create_contacts(1)
    with pytest.raises(ValueError, match="do not exist"):
        sim.update(contact_id, {"no_such_property": "x"})
    with pytest.raises(ValueError, match="set by the simulator"):
        sim.update(contact_id, {"lastmodifieddate": "x"})
    with pytest.raises(KeyError):
        sim.update("999", {"city": "Oslo"})


def test_touch_many_gives_identical_timestamps(sim: HubSpotSimulator) -> None:
    ids = sim.create_contacts(30)
    sim.touch_many(ids[:20], {"lifecyclestage": "customer"}, timestamp_ms=START_MS + 777)
    touched = [sim.contact(i) for i in ids[:20]]
    assert {r["properties"]["lastmodifieddate"] for r in touched} == {iso_from_ms(START_MS + 777)}
    assert {r["properties"]["lifecyclestage"] for r in touched} == {"customer"}
    assert sim.contact(ids[25])["updatedAt"] == iso_from_ms(START_MS)


def test_archive_keeps_lastmodifieddate_and_restore_bumps_it(
    sim: HubSpotSimulator, clock: ManualClock
) -> None:
    ids = sim.create_contacts(3)
    clock.advance(60_000)
    sim.archive(ids[1])

    record = sim.contact(ids[1])
    assert record["archived"] is True
    assert record["archivedAt"] == iso_from_ms(START_MS + 60_000)
    assert record["updatedAt"] == record["properties"]["lastmodifieddate"] == iso_from_ms(START_MS)
    assert sim.live_ids() == [ids[0], ids[2]]
    assert sim.archived_ids() == [ids[1]]

    clock.advance(1000)
    sim.restore(ids[1])
    record = sim.contact(ids[1])
    assert record["archived"] is False
    assert "archivedAt" not in record
    assert record["updatedAt"] == iso_from_ms(START_MS + 61_000)
    assert sim.live_ids() == ids
    assert sim.archived_ids() == []


def test_gdpr_delete_leaves_no_trace(sim: HubSpotSimulator) -> None:
    ids = sim.create_contacts(3)
    sim.archive(ids[0])
    sim.gdpr_delete(ids[0])
    sim.gdpr_delete(ids[1])
    assert sim.live_ids() == [ids[2]]
    assert sim.archived_ids() == []
    for gone in ids[:2]:
        with pytest.raises(KeyError):
            sim.contact(gone)


def test_merge_creates_a_new_record_and_retires_both_ids(
    sim: HubSpotSimulator, clock: ManualClock
) -> None:
    ids = sim.create_contacts(4)
    sim.update(ids[0], {"jobtitle": "Primary's title"})
    primary = sim.contact(ids[0])["properties"]
    clock.advance(10_000)

    new_id = sim.merge(ids[0], ids[1])

    assert new_id == "5"
    assert sim.live_ids() == [ids[2], ids[3], new_id]
    merged = sim.contact(new_id)
    assert merged["id"] == new_id
    assert merged["properties"]["hs_object_id"] == new_id
    system = {"hs_object_id", "lastmodifieddate", "hs_merged_object_ids"}
    assert {k: v for k, v in merged["properties"].items() if k not in system} == {
        k: v for k, v in primary.items() if k not in system
    }
    assert merged["properties"]["hs_merged_object_ids"] == f"{ids[0]};{ids[1]}"
    assert merged["updatedAt"] == iso_from_ms(START_MS + 10_000)
    assert merged["createdAt"] == iso_from_ms(START_MS)
    # The old ids now resolve to the survivor.
    assert sim.contact(ids[0]) == merged
    assert sim.contact(ids[1]) == merged

    # Merging again carries the history along and old ids keep resolving.
    newer = sim.merge(ids[2], new_id)
    assert sim.contact(newer)["properties"]["hs_merged_object_ids"] == "1;2;3;5"
    assert sim.contact(ids[0])["id"] == newer
    assert sim.live_ids() == [ids[3], newer]


def test_merge_refuses_self_and_missing(sim: HubSpotSimulator) -> None:
    ids = sim.create_contacts(2)
    with pytest.raises(ValueError, match="itself"):
        sim.merge(ids[0], ids[0])
    with pytest.raises(KeyError):
        sim.merge(ids[0], "42")


def test_default_properties_selection(sim: HubSpotSimulator) -> None:
    assert sim.select_properties(None) == DEFAULT_PROPERTIES
    assert sim.select_properties(["city", "bogus", "city"]) == (
        "city",
        "createdate",
        "hs_object_id",
        "lastmodifieddate",
    )


def test_find_many_follows_merges_and_reports_missing_once(sim: HubSpotSimulator) -> None:
    ids = sim.create_contacts(4)
    new_id = sim.merge(ids[0], ids[1])
    sim.archive(ids[2])

    found, missing = sim.find_many([ids[1], "99", ids[0], ids[2], "99", ids[3]], archived=False)

    assert [str(c.id) for c in found] == [new_id, ids[3]]
    assert missing == ["99", ids[2]]
    archived, not_archived = sim.find_many([ids[2], ids[3]], archived=True)
    assert [str(c.id) for c in archived] == [ids[2]]
    assert not_archived == [ids[3]]


def test_add_property_gives_every_record_a_null_without_modifying_it(
    sim: HubSpotSimulator, clock: ManualClock
) -> None:
    ids = sim.create_contacts(3)
    sim.archive(ids[2])
    clock.advance(1000)

    sim.add_property("loyalty_tier", "enumeration")
    sim.add_property("notes_field")

    assert sim.property_types["loyalty_tier"] == "enumeration"
    assert sim.property_types["notes_field"] == "string"
    assert sim.property_names()[-2:] == ("loyalty_tier", "notes_field")
    for contact_id in ids:
        record = sim.contact(contact_id)
        assert record["properties"]["loyalty_tier"] is None
        assert record["properties"]["notes_field"] is None
        assert record["updatedAt"] == iso_from_ms(START_MS)  # no record changed
    (later,) = sim.create_contacts(1)
    assert sim.contact(later)["properties"]["loyalty_tier"] is None

    sim.update(ids[0], {"loyalty_tier": "gold"})
    merged = sim.merge(ids[0], ids[1])
    assert sim.contact(merged)["properties"]["loyalty_tier"] == "gold"


@pytest.mark.parametrize(
    ("name", "type_", "message"),
    [
        ("email", "string", "exists already"),
        ("Bad-Name", "string", "invalid property name"),
        ("", "string", "invalid property name"),
        ("fine_name", "phone", "unknown property type"),
    ],
)
def test_add_property_refuses_bad_definitions(
    sim: HubSpotSimulator, name: str, type_: str, message: str
) -> None:
    before = sim.catalogue
    with pytest.raises(ValueError, match=message):
        sim.add_property(name, type_)
    assert sim.catalogue is before
