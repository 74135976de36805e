"""Pure change detection: canonical fingerprints, and what a fetched page changes.

No IO and no clock here: the sync layer fetches, the store writes, this module decides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from functools import cached_property
from typing import Any

import orjson
import xxhash

# Fields that change whenever anything else changes (or when an ignored property ticks), so
# they never count as a change on their own: HubSpot bumps ``updatedAt`` and the modification
# property together with the edit that matters.
ALWAYS_IGNORED_FIELDS = frozenset({"updatedAt"})


# Bump when the canonical form or the hash changes: stored fingerprints are then recomputed
# from the stored records (without new change numbers), so an upgrade emits nothing by
# itself. 3: XXH3-128 instead of BLAKE2b-128 (a fingerprint detects changes, it is no
# defence against forgery, and XXH3 hashes a 30 KB record in 0.5 µs rather than 26 µs).
FINGERPRINT_VERSION = 3

# The canonical form's key for the names of the properties a record holds that the settings
# leave out (HubSpot's records have no top-level key that starts with "~").
UNMIRRORED = "~unmirrored"
# Part of the signature of settings that leave properties out, since their canonical form
# names those a record holds (before, they counted as absent: a record stored before a
# property was excluded was never rewritten, and served it on).
UNMIRRORED_MARK = "unmirrored-named"


@dataclass(frozen=True)
class Fingerprinter:
    """Computes the canonical fingerprint of a source record.

    Two records get the same fingerprint exactly when they are equal after leaving out
    ``ignored_fields`` at the top level, and inside ``properties`` every property that is
    null (null and absent are the same content) or ignored, and the values of those outside
    the mirrored set (``include``/``exclude``; ``always_kept`` are mirrored whatever those
    say): of these only the names count. Key order never matters (keys are sorted at every
    depth).

    So a record stored before a property was excluded (it still holds it) differs from the
    same record fetched without it: the next comparison rewrites it without the property,
    which is what excluding it is for (users exclude personal data to stop serving it).
    Which value it held does not matter: the record is rewritten either way.
    """

    ignored_properties: frozenset[str] = frozenset()
    ignored_fields: frozenset[str] = ALWAYS_IGNORED_FIELDS
    include: frozenset[str] = frozenset()  # empty: every property
    exclude: frozenset[str] = frozenset()
    always_kept: frozenset[str] = frozenset()

    @property
    def signature(self) -> str:
        """Changes exactly when the same record could get a different fingerprint."""
        # Narrowed settings name the properties left out (UNMIRRORED) since this mark: the
        # fingerprints under such settings (only those) are computed anew, and the scan
        # that follows compares every record, rewriting those that still hold one.
        narrowed = [UNMIRRORED_MARK] if self.include or self.exclude else []
        parts = [
            *narrowed,
            str(FINGERPRINT_VERSION),
            *(
                ",".join(sorted(names))
                for names in (
                    self.ignored_properties,
                    self.ignored_fields,
                    self.include,
                    self.exclude,
                    self.always_kept,
                )
            ),
        ]
        return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()

    def _kept(self, name: str) -> bool:
        if name in self.ignored_properties:
            return False
        if name in self.always_kept:
            return True
        return (not self.include or name in self.include) and name not in self.exclude

    def canonical(self, record: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in record.items() if v is not None and k not in self.ignored_fields}
        props = out.get("properties")
        if isinstance(props, Mapping):
            out["properties"] = self._kept_properties(props)
            if self.include or self.exclude:
                left_out = self._left_out(props)
                if left_out:
                    out[UNMIRRORED] = left_out
        return out

    def _left_out(self, props: Mapping[str, Any]) -> list[str]:
        """The properties ``props`` holds (not null) that are neither mirrored nor ignored."""
        return sorted(
            k
            for k, v in props.items()
            if v is not None and k not in self.ignored_properties and not self._kept(k)
        )

    def _kept_properties(self, props: Mapping[str, Any]) -> dict[str, Any]:
        # This runs for every record of every page, and records carry hundreds of
        # properties. With lists set, one comprehension; without, most properties are kept:
        # copying the dict (in C) and deleting the nulls and ignored ones is ~15% faster.
        if self.include or self.exclude:
            return {k: v for k, v in props.items() if v is not None and self._kept(k)}
        kept = dict(props)
        for name in [k for k, v in props.items() if v is None]:
            del kept[name]
        for name in self.ignored_properties:  # a few names: not a pass over 600 keys
            kept.pop(name, None)
        return kept

    def __call__(self, record: Mapping[str, Any]) -> str:
        blob = orjson.dumps(self.canonical(record), option=orjson.OPT_SORT_KEYS)
        return xxhash.xxh3_128_hexdigest(blob)

    def of_json(self, text: str) -> str:
        """The fingerprint of a record stored, or fetched, as JSON text."""
        return self(orjson.loads(text))


# The fingerprint of a record whose content was never compared: it is computed from the
# stored text when a copy with other text arrives (``Stored.fingerprint``). An initial sync
# stores records without parsing them; most are never compared property by property.
NOT_COMPUTED = ""


def content_hash(data: str) -> str:
    """Of a record's JSON text exactly: two copies with the same text have the same content,
    whatever the settings, so they are compared without parsing either."""
    return xxhash.xxh3_128_hexdigest(data.encode())


class Change(Enum):
    CREATED = "created"
    UPDATED = "updated"  # content changed, or a tombstone came back to life
    DELETED = "deleted"  # the source now says archived
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # archived upstream and never mirrored: nothing to tell Sesam
    STALE = "stale"  # an older copy than the stored one (a slower writer): never applied


@dataclass(frozen=True)
class Stored:
    """What the mirror holds for one id (just enough to decide)."""

    fingerprint: str  # NOT_COMPUTED: compute it from the stored text before comparing
    deleted: bool
    modified_ms: int | None = None
    content_hash: str | None = None  # of the stored text (None: stored before it was kept)


@dataclass(frozen=True)
class Incoming:
    """One fetched record, as the JSON text the mirror stores and serves. Its fingerprint is
    computed when it is first asked for: a record that is new, or whose text equals the
    stored copy's, is never parsed."""

    entity_id: str
    deleted: bool
    data: str  # stored verbatim and spliced into the feed
    fingerprinter: Fingerprinter
    modified_ms: int | None = None  # the source's modification time, when it has one
    known_fingerprint: str | None = None  # computed already (the record came parsed)

    @cached_property
    def content_hash(self) -> str:
        return content_hash(self.data)

    @cached_property
    def fingerprint(self) -> str:
        if self.known_fingerprint is not None:
            return self.known_fingerprint
        return self.fingerprinter.of_json(self.data)

    @property
    def fingerprint_to_store(self) -> str:
        """The fingerprint if it is known (given, or computed to compare), else
        NOT_COMPUTED: storing it must not cost the parse that was saved."""
        if self.known_fingerprint is not None:
            return self.known_fingerprint
        return str(self.__dict__.get("fingerprint", NOT_COMPUTED))


def needs_stored_fingerprint(incoming: Incoming, stored: Stored | None) -> bool:
    """Whether deciding about ``incoming`` needs the fingerprint of a stored copy that has
    none yet (the store then computes it from the stored text first)."""
    return (
        stored is not None
        and stored.fingerprint == NOT_COMPUTED
        and not stored.deleted
        and not incoming.deleted
        and stored.content_hash != incoming.content_hash
    )


def classify(incoming: Incoming, stored: Stored | None) -> Change:
    """What writing ``incoming`` over ``stored`` means for the change index."""
    if stored is None:
        return Change.SKIPPED if incoming.deleted else Change.CREATED
    if (
        incoming.modified_ms is not None
        and stored.modified_ms is not None
        and incoming.modified_ms < stored.modified_ms
    ):
        return Change.STALE
    if incoming.deleted:
        return Change.UNCHANGED if stored.deleted else Change.DELETED
    if stored.deleted:
        return Change.UPDATED
    if stored.content_hash == incoming.content_hash:
        return Change.UNCHANGED  # the same text: the same content, nothing parsed
    if stored.fingerprint == NOT_COMPUTED:
        raise ValueError(f"{incoming.entity_id}: the stored fingerprint must be computed first")
    if stored.fingerprint != incoming.fingerprint:
        return Change.UPDATED
    return Change.UNCHANGED


def with_last_associations(tombstone: Incoming, stored_text: str) -> Incoming:
    """``tombstone`` (an archived copy: HubSpot reads associations of live records only, so
    it has none) with the associations of the live copy it replaces, so that the tombstone
    keeps its last known data, links included. Unchanged when it has associations of its
    own or the stored copy had none."""
    if '"associations"' not in stored_text:  # most records: no parse
        return tombstone
    record = orjson.loads(tombstone.data)
    if not isinstance(record, dict) or "associations" in record:
        return tombstone
    links = orjson.loads(stored_text).get("associations")
    if links is None:
        return tombstone
    record["associations"] = links
    return replace(tombstone, data=orjson.dumps(record).decode(), known_fingerprint=None)


def advances_modified(incoming: Incoming, stored: Stored | None) -> bool:
    """Whether an unchanged ``incoming`` still carries a later modification time than the
    stored copy (only an ignored property, or nothing visible, changed): the stored time
    must move to it, or every full sync would find the record modified and fetch it again."""
    return (
        stored is not None
        and incoming.modified_ms is not None
        and (stored.modified_ms is None or incoming.modified_ms > stored.modified_ms)
    )


def prepare(
    records: Iterable[Mapping[str, Any]],
    fingerprint: Fingerprinter,
    modified_ms: Callable[[Mapping[str, Any]], int | None] | None = None,
) -> list[Incoming]:
    """Turn a page of source records into :class:`Incoming` rows, last one winning when an
    id repeats within the page. ``modified_ms`` reads a record's modification time (the
    source decides where it lives). Callers validate the page shape first."""
    by_id: dict[str, Incoming] = {}
    for record in records:
        entity_id = str(record["id"])
        by_id[entity_id] = Incoming(
            entity_id=entity_id,
            deleted=bool(record.get("archived", False)),
            data=orjson.dumps(record).decode(),
            fingerprinter=fingerprint,
            modified_ms=modified_ms(record) if modified_ms is not None else None,
            known_fingerprint=fingerprint(record),
        )
    return list(by_id.values())


def merged_away_ids(record: Mapping[str, Any], merge_property: str) -> list[str]:
    """Ids that a merge result says no longer exist (HubSpot's ``hs_merged_object_ids`` is
    a semicolon-separated list). The record's own id is never among them."""
    props = record.get("properties")
    if not isinstance(props, Mapping):
        return []
    return merged_ids(props.get(merge_property), str(record.get("id")))


def merged_ids(raw: Any, own: str) -> list[str]:
    """The ids in a merge property's value (``"10;20; 30;"``), without the record's own."""
    if not raw:
        return []
    return [part for part in (p.strip() for p in str(raw).split(";")) if part and part != own]


def due_for_fetch(
    listed: Mapping[str, int | None],
    stored: Mapping[str, Stored],
    *,
    archived: bool = False,
    everything: bool = False,
) -> list[str]:
    """Which of the ids a listing (or a search) named, with their modification times, must
    be fetched whole; the others' stored copies are current.

    Live ids: every one when ``everything`` (a verifying scan); else those the mirror lacks
    or holds as a tombstone (created or restored), and those whose modification time moved
    past the stored copy's (or that either side cannot tell). Archived ids: those the mirror
    still holds live (their tombstone is due); an archived record that was never mirrored,
    or is a tombstone already, changes nothing."""
    due: list[str] = []
    for entity_id, stamp in listed.items():
        copy = stored.get(entity_id)
        if archived:
            if copy is not None and not copy.deleted:
                due.append(entity_id)
        elif (
            everything
            or copy is None
            or copy.deleted
            or stamp is None
            or copy.modified_ms is None
            or stamp > copy.modified_ms
        ):
            due.append(entity_id)
    return due
