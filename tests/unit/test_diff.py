"""Properties of the canonical fingerprint and the change classification."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from proxy.diff import Change, Fingerprinter, Incoming, Stored, classify, merged_away_ids, prepare

keys = st.text(min_size=1, max_size=12)
# Records come from JSON parsed by orjson, whose integers are 64-bit.
values = st.one_of(st.none(), st.text(max_size=20), st.booleans(), st.integers(-(2**63), 2**63 - 1))
properties = st.dictionaries(keys, values, max_size=12)
records = st.fixed_dictionaries(
    {"id": st.integers(1, 10**9).map(str), "properties": properties},
    optional={"createdAt": st.text(max_size=24), "archived": st.booleans()},
)


def shuffled(d: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    items = list(d.items())
    rng.shuffle(items)
    return {k: shuffled(v, rng) if isinstance(v, dict) else v for k, v in items}


@given(records, st.randoms())
def test_key_order_never_matters(record: dict[str, Any], rng: random.Random) -> None:
    fp = Fingerprinter()
    assert fp(record) == fp(shuffled(record, rng))


@given(records, keys, values)
def test_any_change_to_a_counted_property_changes_the_fingerprint(
    record: dict[str, Any], key: str, value: Any
) -> None:
    changed = {**record, "properties": {**record["properties"], key: value}}
    fp = Fingerprinter()
    same = key in record["properties"] and record["properties"][key] == value
    same = same and type(record["properties"][key]) is type(value)
    assert (fp(record) == fp(changed)) == same


@given(records, values, values)
def test_ignored_properties_and_updated_at_never_matter(
    record: dict[str, Any], before: Any, after: Any
) -> None:
    fp = Fingerprinter(ignored_properties=frozenset({"ticker"}))
    old = {**record, "updatedAt": "t1", "properties": {**record["properties"], "ticker": before}}
    new = {**record, "updatedAt": "t2", "properties": {**record["properties"], "ticker": after}}
    assert fp(old) == fp(new)


def test_classify_covers_every_transition() -> None:
    live = Incoming("1", "a", deleted=False, record={})
    gone = Incoming("1", "a", deleted=True, record={})
    assert classify(live, None) is Change.CREATED
    assert classify(gone, None) is Change.SKIPPED
    assert classify(live, Stored("a", deleted=False)) is Change.UNCHANGED
    assert classify(live, Stored("b", deleted=False)) is Change.UPDATED
    assert classify(live, Stored("a", deleted=True)) is Change.UPDATED  # resurrection
    assert classify(gone, Stored("a", deleted=False)) is Change.DELETED
    assert classify(gone, Stored("a", deleted=True)) is Change.UNCHANGED


def test_prepare_keeps_the_last_copy_of_a_repeated_id() -> None:
    rows = prepare(
        [{"id": 7, "properties": {"a": "1"}}, {"id": "7", "properties": {"a": "2"}}],
        Fingerprinter(),
    )
    assert [(r.entity_id, r.data) for r in rows] == [("7", '{"id":"7","properties":{"a":"2"}}')]


def test_merged_away_ids_parse_hubspots_semicolon_list() -> None:
    record = {"id": "30", "properties": {"hs_merged_object_ids": "10;20; 30;"}}
    assert merged_away_ids(record, "hs_merged_object_ids") == ["10", "20"]
    assert merged_away_ids({"id": "1", "properties": {}}, "hs_merged_object_ids") == []
