"""Pure change detection: canonical fingerprints, and what a fetched page changes.

No IO and no clock here: the sync layer fetches, the store writes, this module decides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

# Fields that change whenever anything else changes (or when an ignored property ticks), so
# they never count as a change on their own: HubSpot bumps ``updatedAt`` and the modification
# property together with the edit that matters.
ALWAYS_IGNORED_FIELDS = frozenset({"updatedAt"})


@dataclass(frozen=True)
class Fingerprinter:
    """Computes the canonical fingerprint of a source record.

    Two records get the same fingerprint exactly when they are equal after leaving out
    ``ignored_fields`` at the top level and ``ignored_properties`` inside ``properties``;
    key order never matters (keys are sorted at every depth).
    """

    ignored_properties: frozenset[str] = frozenset()
    ignored_fields: frozenset[str] = ALWAYS_IGNORED_FIELDS

    def canonical(self, record: Mapping[str, Any]) -> dict[str, Any]:
        # Copy and pop rather than filter: records carry hundreds of properties and ignore
        # a handful, and this runs for every record of every page.
        out = dict(record)
        for key in self.ignored_fields:
            out.pop(key, None)
        props = out.get("properties")
        if isinstance(props, Mapping) and self.ignored_properties:
            props = dict(props)
            for key in self.ignored_properties:
                props.pop(key, None)
            out["properties"] = props
        return out

    def __call__(self, record: Mapping[str, Any]) -> str:
        blob = orjson.dumps(self.canonical(record), option=orjson.OPT_SORT_KEYS)
        return hashlib.blake2b(blob, digest_size=16).hexdigest()


class Change(Enum):
    CREATED = "created"
    UPDATED = "updated"  # content changed, or a tombstone came back to life
    DELETED = "deleted"  # the source now says archived
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # archived upstream and never mirrored: nothing to tell Sesam


@dataclass(frozen=True)
class Stored:
    """What the mirror holds for one id (just enough to decide)."""

    fingerprint: str
    deleted: bool


@dataclass(frozen=True)
class Incoming:
    """One fetched record, fingerprinted. Serialised only when it is written: most records
    of a rescan are unchanged."""

    entity_id: str
    fingerprint: str
    deleted: bool
    record: Mapping[str, Any]

    @property
    def data(self) -> str:
        """The record as JSON text, stored verbatim and spliced into the feed."""
        return orjson.dumps(self.record).decode()


def classify(incoming: Incoming, stored: Stored | None) -> Change:
    """What writing ``incoming`` over ``stored`` means for the change index."""
    if stored is None:
        return Change.SKIPPED if incoming.deleted else Change.CREATED
    if incoming.deleted:
        return Change.UNCHANGED if stored.deleted else Change.DELETED
    if stored.deleted or stored.fingerprint != incoming.fingerprint:
        return Change.UPDATED
    return Change.UNCHANGED


def prepare(records: Iterable[Mapping[str, Any]], fingerprint: Fingerprinter) -> list[Incoming]:
    """Turn a page of source records into :class:`Incoming` rows, last one winning when an
    id repeats within the page. Callers validate the page shape first."""
    by_id: dict[str, Incoming] = {}
    for record in records:
        entity_id = str(record["id"])
        by_id[entity_id] = Incoming(
            entity_id=entity_id,
            fingerprint=fingerprint(record),
            deleted=bool(record.get("archived", False)),
            record=record,
        )
    return list(by_id.values())


def merged_away_ids(record: Mapping[str, Any], merge_property: str) -> list[str]:
    """Ids that a merge result says no longer exist (HubSpot's ``hs_merged_object_ids`` is
    a semicolon-separated list). The record's own id is never among them."""
    props = record.get("properties")
    if not isinstance(props, Mapping):
        return []
    raw = props.get(merge_property)
    if not raw:
        return []
    own = str(record.get("id"))
    return [part for part in (p.strip() for p in str(raw).split(";")) if part and part != own]
