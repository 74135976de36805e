"""The records of one object type and the operations tests perform on them.

One :class:`ObjectStore` per type (contacts, companies, …, each custom object); the account
(``state.py``) holds them and shares its clock and faults with them. No HTTP here.

Behaviour modelled, for every type (facts in ``reference/hubspot-api.md``):

* ids are ascending integers rendered as strings, per type, and never reused, merges
  included;
* ``updatedAt`` always equals the type's modification property (``lastmodifieddate`` for
  contacts, ``hs_lastmodifieddate`` for the rest), ``createdAt`` ``createdate``;
* archiving keeps the modification time (HubSpot does not bump it) and sets
  ``archivedAt``; restoring bumps it;
* a GDPR delete leaves no trace, not even in the archived list;
* a merge (contacts and companies only) creates a new record with a new id holding the
  primary's values (and the older ``createdate`` of the two); both old ids disappear from
  list, archived list and search, and a GET or batch read by either old id returns the new
  record, which takes over both records' associations;
* a GDPR delete removes the record's associations; an archive hides them (``state.py``);
* a property an admin adds appears in every record, existing and new, without a value, and
  modifies none of them.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .catalogue import added_property, build_catalogue
from .clock import iso_from_ms
from .generate import RecordFactory

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

    from .associations import AssociationGraph
    from .catalogue import PropertyDef
    from .clock import Clock
    from .faults import Faults
    from .object_types import ObjectType


class Account(Protocol):
    """What a store shares with the rest of the account (``HubSpotSimulator``)."""

    clock: Clock
    faults: Faults
    links: AssociationGraph


@dataclass(slots=True)
class StoredRecord:
    """One record as the simulator keeps it.

    ``properties`` holds every catalogue property (``None`` when unset), including the ISO
    ``createdate`` and modification-time strings; the ``*_ms`` fields are the same instants
    as numbers so that search can compare without parsing. ``modified_key`` names the
    modification property (one shared string per type).
    """

    id: int
    properties: dict[str, str | None]
    created_ms: int
    updated_ms: int
    written_ms: int
    """Clock time of the last write; search sees the record from written_ms + search_lag_ms."""
    modified_key: str
    archived_at_ms: int | None = None

    def as_record(self, names: Collection[str] | None = None) -> dict[str, Any]:
        """The JSON object HubSpot would send, with ``names`` properties (None = all)."""
        props = self.properties
        if names is not None and len(names) == len(props):
            names = None  # every property (names are distinct, known ones): copy in C
        record: dict[str, Any] = {
            "id": str(self.id),
            "properties": dict(props) if names is None else {name: props[name] for name in names},
            "createdAt": props["createdate"],
            "updatedAt": props[self.modified_key],
            "archived": self.archived_at_ms is not None,
        }
        if self.archived_at_ms is not None:
            record["archivedAt"] = iso_from_ms(self.archived_at_ms)
        return record

    def set_updated(self, updated_ms: int, written_ms: int) -> None:
        self.updated_ms = updated_ms
        self.written_ms = written_ms
        self.properties[self.modified_key] = iso_from_ms(updated_ms)


class ObjectStore:
    """The records of one object type: live, archived, and where merged-away ids went."""

    def __init__(
        self,
        object_type: ObjectType,
        account: Account,
        *,
        custom_properties: int,
        seed: int,
    ) -> None:
        self.object_type = object_type
        self._account = account
        self.catalogue = build_catalogue(custom_properties, object_type.standard_properties)
        self.property_types: dict[str, str] = {p.name: p.type for p in self.catalogue}
        # Contacts keep the unsalted hash, so their values are those of a contacts-only
        # simulator of the same seed.
        salt = "" if object_type.name == "contacts" else object_type.name
        self._factory = RecordFactory(seed, self.catalogue, object_type.standard_values, salt=salt)
        self._added_properties: dict[str, None] = {}
        """Properties defined after start (:meth:`add_property`): null in new records."""
        self._live: dict[int, StoredRecord] = {}
        self._archived: dict[int, StoredRecord] = {}
        self._merged_into: dict[int, int] = {}
        self._next_id = 1
        # Ascending id lists for paging, rebuilt lazily after membership changes.
        self._sorted_live: list[int] | None = None
        self._sorted_archived: list[int] | None = None

    @property
    def name(self) -> str:
        return self.object_type.name

    # ----------------------------------------------------------------- reading

    def property_names(self) -> tuple[str, ...]:
        return tuple(self.property_types)

    def select_properties(self, requested: Iterable[str] | None) -> tuple[str, ...]:
        """The property names a response carries for a request naming ``requested``.

        None means the request named none: the type's defaults. Unknown names are ignored,
        and the properties HubSpot always returns are added.
        """
        if requested is None:
            return self.object_type.default_properties
        known = self.property_types
        chosen = dict.fromkeys(name for name in requested if name in known)
        chosen.update(dict.fromkeys(self.object_type.always_returned))
        return tuple(chosen)

    def live_ids(self) -> list[str]:
        return [str(i) for i in self._sorted_ids(archived=False)]

    def archived_ids(self) -> list[str]:
        return [str(i) for i in self._sorted_ids(archived=True)]

    def is_live(self, record_id: int) -> bool:
        return record_id in self._live

    def record(self, record_id: str) -> dict[str, Any]:
        """The record with every property, as GET returns it (merged ids resolve to the
        survivor). Archived records are found too. Raises KeyError when nothing matches."""
        stored = self.find(record_id, archived=False) or self.find(record_id, archived=True)
        if stored is None:
            raise KeyError(record_id)
        return stored.as_record()

    def find(self, record_id: str, *, archived: bool) -> StoredRecord | None:
        """What ``GET /{type}/{id}`` sees: live (or only archived) records, following merges."""
        try:
            key = int(record_id)
        except ValueError:
            return None
        key = self.resolve_merges(key)
        return (self._archived if archived else self._live).get(key)

    def find_many(
        self, record_ids: Iterable[str], *, archived: bool
    ) -> tuple[list[StoredRecord], list[str]]:
        """What ``POST /{type}/batch/read`` sees: each id looked up like :meth:`find`.

        Returns the records found, each once and in the order first asked for (several
        merged-away ids can resolve to the same survivor, which HubSpot sends once, under
        its own id), and the ids that found nothing, once each, as they were given.
        """
        found: dict[int, StoredRecord] = {}
        missing: dict[str, None] = {}
        for record_id in record_ids:
            record = self.find(record_id, archived=archived)
            if record is None:
                missing[record_id] = None
            else:
                found.setdefault(record.id, record)
        return list(found.values()), list(missing)

    def list_page(
        self, *, after: int | None, limit: int, archived: bool
    ) -> tuple[list[StoredRecord], bool]:
        """Up to ``limit`` records with id greater than ``after``, ascending by id, and
        whether more follow."""
        ids = self._sorted_ids(archived=archived)
        start = 0 if after is None else bisect_right(ids, after)
        page_ids = ids[start : start + limit]
        records = self._archived if archived else self._live
        return [records[i] for i in page_ids], start + limit < len(ids)

    def snapshot(self) -> dict[str, Any]:
        """``live`` maps each live id (ascending) to its record with every property, as GET
        returns it; ``archived`` lists the archived ids, ascending. Merged-away and
        GDPR-deleted ids are in neither."""
        live = self._live
        return {
            "live": {str(i): live[i].as_record() for i in self._sorted_ids(archived=False)},
            "archived": self.archived_ids(),
        }

    def searchable(self) -> list[StoredRecord]:
        """Live records the search index has caught up with, in creation (id) order."""
        live = self._live
        records = [live[record_id] for record_id in self._sorted_ids(archived=False)]
        lag_ms = self._account.faults.search_lag_ms
        if lag_ms <= 0:
            return records
        visible_from = self._account.clock.now_ms() - lag_ms
        return [record for record in records if record.written_ms <= visible_from]

    # ----------------------------------------------------------------- writing

    def create(self, n: int, *, timestamp_ms: int | None = None) -> list[str]:
        """Create ``n`` generated records stamped ``timestamp_ms`` (default: now)."""
        written_ms = self._account.clock.now_ms()
        stamp_ms = written_ms if timestamp_ms is None else timestamp_ms
        stamp = iso_from_ms(stamp_ms)
        modified_key = self.object_type.modified_property
        ids: list[str] = []
        for _ in range(n):
            record_id = self._take_id()
            properties: dict[str, str | None] = {
                "hs_object_id": str(record_id),
                "createdate": stamp,
                modified_key: stamp,
            }
            properties.update(self._factory.properties(record_id))
            properties.update(self._added_properties)
            self._live[record_id] = StoredRecord(
                record_id, properties, stamp_ms, stamp_ms, written_ms, modified_key
            )
            ids.append(str(record_id))
        self._sorted_live = None
        return ids

    def update(
        self,
        record_id: str,
        properties: dict[str, str | None],
        *,
        timestamp_ms: int | None = None,
    ) -> None:
        """Set properties on a live record and stamp it modified at ``timestamp_ms``."""
        self.touch_many(
            [record_id],
            properties,
            timestamp_ms=self._account.clock.now_ms() if timestamp_ms is None else timestamp_ms,
        )

    def touch_many(
        self, ids: Iterable[str], properties: dict[str, str | None], *, timestamp_ms: int
    ) -> None:
        """A bulk job: every record gets ``properties`` and the identical modification
        time (HubSpot imports and workflows do this to >10,000 at once)."""
        self._check_writable(properties)
        records = [self.live_record(i) for i in ids]  # all or nothing
        written_ms = self._account.clock.now_ms()
        for record in records:
            record.properties.update(properties)
            record.set_updated(timestamp_ms, written_ms)

    def archive(self, record_id: str) -> None:
        """Soft delete. The modification time stays as it was, as in HubSpot."""
        record = self.live_record(record_id)
        del self._live[record.id]
        record.archived_at_ms = self._account.clock.now_ms()
        self._archived[record.id] = record
        self._sorted_live = self._sorted_archived = None

    def restore(self, record_id: str) -> None:
        """Undo an archive; HubSpot sets the modification date when it restores."""
        try:
            record = self._archived.pop(int(record_id))
        except (KeyError, ValueError):
            raise KeyError(f"no archived {self.object_type.singular} {record_id}") from None
        now = self._account.clock.now_ms()
        record.archived_at_ms = None
        record.set_updated(now, now)
        self._live[record.id] = record
        self._sorted_live = self._sorted_archived = None

    def gdpr_delete(self, record_id: str) -> None:
        """Permanent delete: gone from list, archived list, search and GET (a merged-away
        id deletes the survivor)."""
        try:
            key = self.resolve_merges(int(record_id))
        except ValueError:
            key = -1
        if self._live.pop(key, None) is None and self._archived.pop(key, None) is None:
            raise KeyError(f"no {self.object_type.singular} {record_id}")
        self._sorted_live = self._sorted_archived = None
        self._account.links.forget(self.name, key)

    def merge(self, primary_id: str, other_id: str) -> str:
        """Merge two live records the way HubSpot does now; returns the new record's id.
        Raises ``ValueError`` for a type that does not merge."""
        if not self.object_type.mergeable:
            raise ValueError(f"{self.name} cannot be merged (only contacts and companies)")
        primary = self.live_record(primary_id)
        other = self.live_record(other_id)
        if primary.id == other.id:
            raise ValueError(f"cannot merge a {self.object_type.singular} into itself")
        now = self._account.clock.now_ms()
        merged_ids = {primary.id, other.id}
        for old in (primary, other):
            merged_ids.update(
                int(i) for i in (old.properties["hs_merged_object_ids"] or "").split(";") if i
            )
        new_id = self._take_id()
        created_ms = min(primary.created_ms, other.created_ms)
        modified_key = self.object_type.modified_property
        properties = dict(primary.properties)
        properties.update(
            {
                "hs_object_id": str(new_id),
                "createdate": iso_from_ms(created_ms),
                modified_key: iso_from_ms(now),
                "hs_merged_object_ids": ";".join(str(i) for i in sorted(merged_ids)),
            }
        )
        self._live[new_id] = StoredRecord(new_id, properties, created_ms, now, now, modified_key)
        for old in (primary, other):
            del self._live[old.id]
            self._merged_into[old.id] = new_id
        self._sorted_live = None
        self._account.links.move(self.name, (primary.id, other.id), new_id)
        return str(new_id)

    def add_property(self, name: str, type: str = "string") -> None:
        """Define a new custom property, as an admin adding a field does: every record,
        existing and future, has it without a value (null) until someone sets one, and no
        record counts as modified. Raises ``ValueError`` for a name that exists already or
        is invalid, or an unknown type."""
        if name in self.property_types:
            raise ValueError(f"property {name!r} exists already")
        definition = added_property(name, type)
        self._add_definition(definition)

    def _add_definition(self, definition: PropertyDef) -> None:
        # A new tuple rather than an append: whoever serialised the old one can tell.
        self.catalogue = (*self.catalogue, definition)
        self.property_types[definition.name] = definition.type
        self._added_properties[definition.name] = None
        for record in (*self._live.values(), *self._archived.values()):
            record.properties[definition.name] = None

    # ----------------------------------------------------------------- internals

    def live_record(self, record_id: str) -> StoredRecord:
        """The live record ``record_id`` names (following merges); KeyError if none."""
        record = self.find(record_id, archived=False)
        if record is None:
            raise KeyError(f"no live {self.object_type.singular} {record_id}")
        return record

    def resolve_merges(self, record_id: int) -> int:
        while record_id in self._merged_into:
            record_id = self._merged_into[record_id]
        return record_id

    def _take_id(self) -> int:
        record_id = self._next_id
        self._next_id += 1
        return record_id

    def _check_writable(self, properties: dict[str, str | None]) -> None:
        unknown = [name for name in properties if name not in self.property_types]
        if unknown:
            raise ValueError(f"properties do not exist: {unknown}")
        system = self.object_type.system_properties.intersection(properties)
        if system:
            raise ValueError(f"properties are set by the simulator: {sorted(system)}")

    def _sorted_ids(self, *, archived: bool) -> list[int]:
        if archived:
            if self._sorted_archived is None:
                self._sorted_archived = sorted(self._archived)
            return self._sorted_archived
        if self._sorted_live is None:
            self._sorted_live = sorted(self._live)
        return self._sorted_live
