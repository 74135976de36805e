"""Properties of the canonical fingerprint and the change classification."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.diff import (
    NOT_COMPUTED,
    Change,
    Fingerprinter,
    Incoming,
    Stored,
    classify,
    content_hash,
    merged_away_ids,
    needs_stored_fingerprint,
    prepare,
)

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
    before = record["properties"].get(key)  # absent and null are the same content
    same = before == value and type(before) is type(value)
    assert (fp(record) == fp(changed)) == same


@given(records, keys)
def test_a_null_property_is_the_same_content_as_an_absent_one(
    record: dict[str, Any], key: str
) -> None:
    """HubSpot admins define new properties all the time; every record then carries it as
    null, and that must not count as a change of any record."""
    without = {**record, "properties": {k: v for k, v in record["properties"].items() if k != key}}
    with_null = {**record, "properties": {**record["properties"], key: None}}
    fp = Fingerprinter()
    assert fp(without) == fp(with_null)


@given(records, keys, values, values)
def test_a_property_outside_the_mirrored_set_counts_by_its_presence_only(
    record: dict[str, Any], key: str, value: Any, other: Any
) -> None:
    """A record stored before a property was excluded (or while every property was
    included) differs from the same record fetched without it, so it is rewritten without
    it (issue 16, item 6); which value it held does not matter."""
    stored = {**record, "properties": {**record["properties"], key: value}}
    restored = {**record, "properties": {**record["properties"], key: other}}
    fetched = {**record, "properties": {k: v for k, v in record["properties"].items() if k != key}}
    kept = (set(record["properties"]) - {key}) | {"\x00"}  # never empty: empty means all
    for narrowed in (
        Fingerprinter(exclude=frozenset({key})),
        Fingerprinter(include=frozenset(kept)),
        Fingerprinter(include=frozenset(kept), always_kept=frozenset({key})),
    ):
        assert (narrowed(stored) == narrowed(fetched)) == (value is None)
    excluding = Fingerprinter(exclude=frozenset({key}))
    assert (excluding(stored) == excluding(restored)) == ((value is None) == (other is None))
    # An ignored property is served but never compared, whatever the lists say.
    ignoring = Fingerprinter(exclude=frozenset({key}), ignored_properties=frozenset({key}))
    assert ignoring(stored) == ignoring(fetched)


def test_the_signature_follows_every_setting_the_fingerprint_depends_on() -> None:
    base = Fingerprinter()
    variants = [
        Fingerprinter(ignored_properties=frozenset({"a"})),
        Fingerprinter(include=frozenset({"a"})),
        Fingerprinter(exclude=frozenset({"a"})),
        Fingerprinter(always_kept=frozenset({"a"})),
    ]
    signatures = {base.signature, *(v.signature for v in variants)}
    assert len(signatures) == 5
    assert (
        Fingerprinter(exclude=frozenset({"b", "a"})).signature
        == Fingerprinter(exclude=frozenset({"a", "b"})).signature
    )


@given(records, values, values)
def test_ignored_properties_and_updated_at_never_matter(
    record: dict[str, Any], before: Any, after: Any
) -> None:
    fp = Fingerprinter(ignored_properties=frozenset({"ticker"}))
    old = {**record, "updatedAt": "t1", "properties": {**record["properties"], "ticker": before}}
    new = {**record, "updatedAt": "t2", "properties": {**record["properties"], "ticker": after}}
    assert fp(old) == fp(new)


def fetched(
    fingerprint: str | None,
    *,
    deleted: bool = False,
    modified_ms: int | None = None,
    data: str = "{}",
) -> Incoming:
    return Incoming(
        "1",
        deleted=deleted,
        data=data,
        fingerprinter=Fingerprinter(),
        modified_ms=modified_ms,
        known_fingerprint=fingerprint,
    )


def test_classify_covers_every_transition() -> None:
    live = fetched("a")
    gone = fetched("a", deleted=True)
    assert classify(live, None) is Change.CREATED
    assert classify(gone, None) is Change.SKIPPED
    assert classify(live, Stored("a", deleted=False)) is Change.UNCHANGED
    assert classify(live, Stored("b", deleted=False)) is Change.UPDATED
    assert classify(live, Stored("a", deleted=True)) is Change.UPDATED  # resurrection
    assert classify(gone, Stored("a", deleted=False)) is Change.DELETED
    assert classify(gone, Stored("a", deleted=True)) is Change.UNCHANGED


def test_an_older_copy_never_replaces_a_newer_one() -> None:
    """A slower writer (a run of a process that lost its lease, a lagging search page) may
    hold an older copy of a record: it is never applied, deleted or not."""
    stored = Stored("new", deleted=False, modified_ms=2000)
    older = fetched("old", modified_ms=1000)
    older_archived = fetched("old", deleted=True, modified_ms=1000)
    same_time = fetched("other", modified_ms=2000)
    unknown = fetched("other")
    assert classify(older, stored) is Change.STALE
    assert classify(older_archived, stored) is Change.STALE
    assert classify(older, Stored("new", deleted=True, modified_ms=2000)) is Change.STALE
    assert classify(same_time, stored) is Change.UPDATED  # archiving keeps the time
    assert classify(unknown, stored) is Change.UPDATED


def test_the_same_text_is_unchanged_without_parsing_and_other_text_is_compared() -> None:
    """A copy with the stored text is unchanged whatever the fingerprints (none is
    computed); a copy with other text is compared by canonical content, so key order and
    nulls do not make a change but a new value does."""
    stored_text = '{"id":"1","properties":{"a":"1","b":null}}'
    stored = Stored(NOT_COMPUTED, deleted=False, content_hash=content_hash(stored_text))
    same = fetched(None, data=stored_text)
    assert classify(same, stored) is Change.UNCHANGED
    assert same.fingerprint_to_store == NOT_COMPUTED  # never parsed

    reordered = fetched(None, data='{"properties":{"a":"1"},"id":"1"}')
    assert needs_stored_fingerprint(reordered, stored)
    with pytest.raises(ValueError, match="computed first"):
        classify(reordered, stored)
    computed = replace(stored, fingerprint=Fingerprinter().of_json(stored_text))
    assert not needs_stored_fingerprint(reordered, computed)
    assert classify(reordered, computed) is Change.UNCHANGED
    assert reordered.fingerprint_to_store == computed.fingerprint  # parsed to compare: kept

    changed = fetched(None, data='{"id":"1","properties":{"a":"2"}}')
    assert classify(changed, computed) is Change.UPDATED
    # New, restored or archived: decided without any fingerprint.
    assert not needs_stored_fingerprint(changed, replace(stored, deleted=True))
    assert not needs_stored_fingerprint(fetched(None, deleted=True, data="{}"), stored)
    assert classify(fetched(None), None) is Change.CREATED


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
