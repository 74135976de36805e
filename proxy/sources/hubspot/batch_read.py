"""Parsing batch read answers without building every property as a Python object.

A batch read answers with whole records: with 600 properties, 31 KB of JSON each. The sync
needs only a few fields of a record to decide (its id, whether it is archived, its
modification time, the ids merged into it); the rest is stored as HubSpot sent it and parsed
only when two copies must be compared property by property (``diff.Incoming``). Decoding
each record into dicts and strings cost the event loop ~95 µs per record (bench.cost, one
core), plus ~50 µs for its fingerprint, most of an initial sync's CPU; this parser decodes
the few fields with msgspec and keeps each record's JSON text (~50 µs: two passes over the
bytes, one to find each record, one for its fields). A page of the wrong shape is rejected
whole, as every other page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import msgspec
import orjson

from proxy.diff import merged_ids
from proxy.errors import BadPage
from proxy.sources.hubspot.pages import stamp_ms


@dataclass
class FetchedRecord:
    """One record as batch read answered it: the fields the sync decides on, and the record
    as JSON text (what the mirror stores, with the associations the sync attaches)."""

    id: str
    archived: bool
    modified_ms: int | None
    merged_ids: list[str]  # ids this record says were merged into it (not its own)
    json: str
    associations: dict[str, Any] | None = None  # by target type, in v3's shape

    @property
    def deleted(self) -> bool:  # the engine's name (proxy.sources.base.SourceRecord)
        return self.archived

    def data(self) -> str:
        """The record as stored: as sent, with ``associations`` after its own fields."""
        if self.associations is None:
            return self.json
        return self.json[:-1] + ',"associations":' + orjson.dumps(self.associations).decode() + "}"


@dataclass
class BatchRead:
    """What HubSpot said about each id asked of batch read."""

    live: dict[str, FetchedRecord] = field(default_factory=dict)  # answered as itself
    merged: dict[str, str] = field(default_factory=dict)  # id -> the record it was merged into
    missing: set[str] = field(default_factory=set)  # reported OBJECT_NOT_FOUND
    unresolved: set[str] = field(default_factory=set)  # none of the above: no evidence
    survivors: list[FetchedRecord] = field(default_factory=list)  # answered for others


class _Answer(msgspec.Struct):
    results: list[msgspec.Raw]
    errors: list[Any] | None = None


@dataclass(frozen=True)
class DecodedAnswer:
    records: list[FetchedRecord]
    errors: list[Any]


class BatchReadDecoder:
    """Decodes one object type's batch read answers (its modification and merge properties
    are read from each record). ``ValueError`` when the body is not JSON (the HTTP client
    retries it), :class:`BadPage` when its shape is wrong."""

    def __init__(self, modified_property: str, merged_ids_property: str) -> None:
        properties = msgspec.defstruct(
            "Properties",
            [("modified", Any, None), ("merged", Any, None)],
            rename={"modified": modified_property, "merged": merged_ids_property},
        )
        head = msgspec.defstruct(
            "Head",
            [
                ("id", str | int),
                ("properties", properties),
                ("archived", Any, False),
                ("updatedAt", Any, None),
                ("associations", Any, None),
            ],
        )
        self._answer = msgspec.json.Decoder(_Answer)
        self._head: msgspec.json.Decoder[Any] = msgspec.json.Decoder(head)

    def __call__(self, raw: bytes) -> DecodedAnswer:
        try:
            answer = self._answer.decode(raw)
        except msgspec.ValidationError as exc:
            raise BadPage(f"{exc}; page rejected") from None
        except msgspec.DecodeError as exc:
            raise ValueError(str(exc)) from None
        records = [self._record(index, item) for index, item in enumerate(answer.results)]
        return DecodedAnswer(records, answer.errors or [])

    def _record(self, index: int, item: msgspec.Raw) -> FetchedRecord:
        try:
            head = self._head.decode(item)
        except msgspec.ValidationError as exc:
            raise BadPage(f"result {index}: {exc}; page rejected") from None
        if head.id == "":
            raise BadPage(f"result {index} has no id; page rejected")
        if head.associations is not None:
            # Never asked for; a record that brings its own would get two.
            raise BadPage(f"record {head.id} came with associations; page rejected")
        entity_id = str(head.id)
        props = head.properties
        return FetchedRecord(
            id=entity_id,
            archived=bool(head.archived),
            modified_ms=stamp_ms(props.modified, head.updatedAt),
            merged_ids=merged_ids(props.merged, entity_id),
            # Invalid UTF-8 is not JSON: a ValueError, retried like any unreadable body.
            json=bytes(item).decode(),
        )


@lru_cache(maxsize=64)
def decoder_for(modified_property: str, merged_ids_property: str) -> BatchReadDecoder:
    return BatchReadDecoder(modified_property, merged_ids_property)


def parse_batch_read(answer: DecodedAnswer, asked: Sequence[str], what: str) -> BatchRead:
    """Sort the ids asked into live, merged, missing and unresolved. Only a record that names
    an id in its merge property counts as that id's survivor; an error of any other category
    than OBJECT_NOT_FOUND rejects the answer whole (nothing about it is evidence)."""
    out = BatchRead()
    by_id = {r.id: r for r in answer.records}
    for error in answer.errors:
        if not isinstance(error, dict) or error.get("category") != "OBJECT_NOT_FOUND":
            raise BadPage(f"{what}: unexpected error in the answer: {str(error)[:200]}")
        context = error.get("context")
        ids = context.get("ids") if isinstance(context, dict) else None
        if not isinstance(ids, list):
            raise BadPage(f"{what}: a not-found error without its ids; answer rejected")
        out.missing.update(str(i) for i in ids)
    merged_into = {old: r.id for r in answer.records for old in r.merged_ids}
    asked_set = set(asked)
    for entity_id in asked_set:
        if entity_id in by_id:
            out.live[entity_id] = by_id[entity_id]
        elif entity_id in merged_into:
            out.merged[entity_id] = merged_into[entity_id]
        elif entity_id in out.missing:
            continue
        else:
            out.unresolved.add(entity_id)
    # An id both reported missing and answered (live or merged) is not missing: the
    # conservative reading wins.
    out.missing = (out.missing & asked_set) - out.live.keys() - out.merged.keys()
    out.survivors = [r for i, r in by_id.items() if i not in asked_set]
    return out
