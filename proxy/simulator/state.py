"""The simulated HubSpot account: contacts in memory and the operations tests perform on them.

No HTTP here. ``app.py`` turns requests into calls on :class:`HubSpotSimulator`; tests and
the demo's churn call the mutating methods directly to play "someone changed HubSpot".

Behaviour modelled (facts in ``reference/hubspot-api.md``):

* ids are ascending integers rendered as strings and never reused, merges included;
* ``updatedAt`` always equals the ``lastmodifieddate`` property, ``createdAt`` ``createdate``;
* archiving keeps ``lastmodifieddate`` (HubSpot does not bump it) and sets ``archivedAt``;
  restoring bumps it;
* a GDPR delete leaves no trace, not even in the archived list;
* a merge creates a new record with a new id holding the primary's values (and the older
  ``createdate`` of the two); both old ids disappear from list, archived list and search,
  and a GET or batch read by either old id returns the new record;
* a property an admin adds appears in every record, existing and new, without a value, and
  modifies none of them.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .catalogue import ALWAYS_RETURNED, DEFAULT_PROPERTIES, added_property, build_catalogue
from .clock import Clock, ManualClock, WallClock, iso_from_ms
from .faults import Faults
from .generate import ContactFactory
from .requestlog import RequestLog

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "Clock",
    "Faults",
    "HubSpotSimulator",
    "ManualClock",
    "StoredContact",
    "WallClock",
]

# Properties a caller may not set through update(): the simulator owns them.
_SYSTEM_PROPERTIES = frozenset({"hs_object_id", "createdate", "lastmodifieddate"})


@dataclass(slots=True)
class StoredContact:
    """One contact as the simulator keeps it.

    ``properties`` holds every catalogue property (``None`` when unset), including the ISO
    ``createdate``/``lastmodifieddate`` strings; the ``*_ms`` fields are the same instants as
    numbers so that search can compare without parsing.
    """

    id: int
    properties: dict[str, str | None]
    created_ms: int
    updated_ms: int
    written_ms: int
    """Clock time of the last write; search sees the record from written_ms + search_lag_ms."""
    archived_at_ms: int | None = None

    def as_record(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        """The JSON object HubSpot would send, with ``names`` properties (None = all)."""
        props = self.properties
        record: dict[str, Any] = {
            "id": str(self.id),
            "properties": dict(props) if names is None else {name: props[name] for name in names},
            "createdAt": props["createdate"],
            "updatedAt": props["lastmodifieddate"],
            "archived": self.archived_at_ms is not None,
        }
        if self.archived_at_ms is not None:
            record["archivedAt"] = iso_from_ms(self.archived_at_ms)
        return record

    def set_updated(self, updated_ms: int, written_ms: int) -> None:
        self.updated_ms = updated_ms
        self.written_ms = written_ms
        self.properties["lastmodifieddate"] = iso_from_ms(updated_ms)


class HubSpotSimulator:
    """An in-memory HubSpot account holding contacts.

    ``faults``, ``requests`` and ``request_log`` are shared with the HTTP app: tests flip
    faults between requests and read the counters and the log afterwards. ``monotonic`` is
    the time source of the rate-limit windows and the log (real elapsed seconds by default;
    inject a fake in tests).
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        token: str = "sim-token",
        custom_properties: int = 40,
        seed: int = 0,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else WallClock()
        self.token = token
        self.faults = Faults()
        self.requests: Counter[str] = Counter()
        self.request_log = RequestLog()
        self.monotonic: Callable[[], float] = monotonic if monotonic is not None else time.monotonic
        self.catalogue = build_catalogue(custom_properties)
        self.property_types: dict[str, str] = {p.name: p.type for p in self.catalogue}
        self._factory = ContactFactory(seed, self.catalogue)
        self._added_properties: dict[str, None] = {}
        """Properties defined after start (:meth:`add_property`): null in new records."""
        self._live: dict[int, StoredContact] = {}
        self._archived: dict[int, StoredContact] = {}
        self._merged_into: dict[int, int] = {}
        self._next_id = 1
        # Ascending id lists for paging, rebuilt lazily after membership changes.
        self._sorted_live: list[int] | None = None
        self._sorted_archived: list[int] | None = None
        self.malformed_served = 0
        """How many malformed responses were served; decides which kind comes next."""

    # ----------------------------------------------------------------- reading

    def property_names(self) -> tuple[str, ...]:
        return tuple(self.property_types)

    def select_properties(self, requested: Iterable[str] | None) -> tuple[str, ...]:
        """The property names a response carries for a request naming ``requested``.

        None means the request named none: the defaults. Unknown names are ignored, and
        the properties HubSpot always returns are added.
        """
        if requested is None:
            return DEFAULT_PROPERTIES
        known = self.property_types
        chosen = dict.fromkeys(name for name in requested if name in known)
        chosen.update(dict.fromkeys(ALWAYS_RETURNED))
        return tuple(chosen)

    def live_ids(self) -> list[str]:
        return [str(i) for i in self._sorted_ids(archived=False)]

    def archived_ids(self) -> list[str]:
        return [str(i) for i in self._sorted_ids(archived=True)]

    def contact(self, contact_id: str) -> dict[str, Any]:
        """The record with every property, as GET returns it (merged ids resolve to the
        survivor). Archived records are found too. Raises KeyError when nothing matches."""
        stored = self.find(contact_id, archived=False) or self.find(contact_id, archived=True)
        if stored is None:
            raise KeyError(contact_id)
        return stored.as_record()

    def find(self, contact_id: str, *, archived: bool) -> StoredContact | None:
        """What ``GET /contacts/{id}`` sees: live (or only archived) records, following merges."""
        try:
            key = int(contact_id)
        except ValueError:
            return None
        key = self._resolve_merges(key)
        return (self._archived if archived else self._live).get(key)

    def find_many(
        self, contact_ids: Iterable[str], *, archived: bool
    ) -> tuple[list[StoredContact], list[str]]:
        """What ``POST /contacts/batch/read`` sees: each id looked up like :meth:`find`.

        Returns the records found, each once and in the order first asked for (several
        merged-away ids can resolve to the same survivor, which HubSpot sends once, under
        its own id), and the ids that found nothing, once each, as they were given.
        """
        found: dict[int, StoredContact] = {}
        missing: dict[str, None] = {}
        for contact_id in contact_ids:
            contact = self.find(contact_id, archived=archived)
            if contact is None:
                missing[contact_id] = None
            else:
                found.setdefault(contact.id, contact)
        return list(found.values()), list(missing)

    def list_page(
        self, *, after: int | None, limit: int, archived: bool
    ) -> tuple[list[StoredContact], bool]:
        """Up to ``limit`` records with id greater than ``after``, ascending by id, and
        whether more follow."""
        ids = self._sorted_ids(archived=archived)
        start = 0 if after is None else bisect_right(ids, after)
        page_ids = ids[start : start + limit]
        records = self._archived if archived else self._live
        return [records[i] for i in page_ids], start + limit < len(ids)

    def snapshot(self) -> dict[str, Any]:
        """The upstream truth a mirror is compared with: ``live`` maps each live id
        (ascending) to its record with every property, as GET returns it; ``archived``
        lists the archived ids, ascending. Merged-away and GDPR-deleted ids are in neither."""
        live = self._live
        return {
            "live": {str(i): live[i].as_record() for i in self._sorted_ids(archived=False)},
            "archived": self.archived_ids(),
        }

    def searchable(self) -> list[StoredContact]:
        """Live records the search index has caught up with, in creation (id) order."""
        live = self._live
        contacts = [live[contact_id] for contact_id in self._sorted_ids(archived=False)]
        if self.faults.search_lag_ms <= 0:
            return contacts
        visible_from = self.clock.now_ms() - self.faults.search_lag_ms
        return [contact for contact in contacts if contact.written_ms <= visible_from]

    # ----------------------------------------------------------------- writing

    def create_contacts(self, n: int, *, timestamp_ms: int | None = None) -> list[str]:
        """Create ``n`` generated contacts stamped ``timestamp_ms`` (default: now)."""
        written_ms = self.clock.now_ms()
        stamp_ms = written_ms if timestamp_ms is None else timestamp_ms
        stamp = iso_from_ms(stamp_ms)
        ids: list[str] = []
        for _ in range(n):
            contact_id = self._take_id()
            properties: dict[str, str | None] = {
                "hs_object_id": str(contact_id),
                "createdate": stamp,
                "lastmodifieddate": stamp,
            }
            properties.update(self._factory.properties(contact_id))
            properties.update(self._added_properties)
            self._live[contact_id] = StoredContact(
                contact_id, properties, stamp_ms, stamp_ms, written_ms
            )
            ids.append(str(contact_id))
        self._sorted_live = None
        return ids

    def update(
        self,
        contact_id: str,
        properties: dict[str, str | None],
        *,
        timestamp_ms: int | None = None,
    ) -> None:
        """Set properties on a live contact and stamp it modified at ``timestamp_ms``."""
        self.touch_many(
            [contact_id],
            properties,
            timestamp_ms=self.clock.now_ms() if timestamp_ms is None else timestamp_ms,
        )

    def touch_many(
        self, ids: Iterable[str], properties: dict[str, str | None], *, timestamp_ms: int
    ) -> None:
        """A bulk job: every contact gets ``properties`` and the identical
        ``lastmodifieddate`` (HubSpot imports and workflows do this to >10,000 at once)."""
        self._check_writable(properties)
        contacts = [self._live_contact(i) for i in ids]  # all or nothing
        written_ms = self.clock.now_ms()
        for contact in contacts:
            contact.properties.update(properties)
            contact.set_updated(timestamp_ms, written_ms)

    def archive(self, contact_id: str) -> None:
        """Soft delete. ``lastmodifieddate`` stays as it was, as in HubSpot."""
        contact = self._live_contact(contact_id)
        del self._live[contact.id]
        contact.archived_at_ms = self.clock.now_ms()
        self._archived[contact.id] = contact
        self._sorted_live = self._sorted_archived = None

    def restore(self, contact_id: str) -> None:
        """Undo an archive; HubSpot sets the modification date when it restores."""
        try:
            contact = self._archived.pop(int(contact_id))
        except (KeyError, ValueError):
            raise KeyError(f"no archived contact {contact_id}") from None
        now = self.clock.now_ms()
        contact.archived_at_ms = None
        contact.set_updated(now, now)
        self._live[contact.id] = contact
        self._sorted_live = self._sorted_archived = None

    def gdpr_delete(self, contact_id: str) -> None:
        """Permanent delete: gone from list, archived list, search and GET."""
        key = self._resolve_merges(int(contact_id))
        if self._live.pop(key, None) is None and self._archived.pop(key, None) is None:
            raise KeyError(f"no contact {contact_id}")
        self._sorted_live = self._sorted_archived = None

    def merge(self, primary_id: str, other_id: str) -> str:
        """Merge two live contacts the way HubSpot does now; returns the new record's id."""
        primary = self._live_contact(primary_id)
        other = self._live_contact(other_id)
        if primary.id == other.id:
            raise ValueError("cannot merge a contact into itself")
        now = self.clock.now_ms()
        merged_ids = {primary.id, other.id}
        for old in (primary, other):
            merged_ids.update(
                int(i) for i in (old.properties["hs_merged_object_ids"] or "").split(";") if i
            )
        new_id = self._take_id()
        created_ms = min(primary.created_ms, other.created_ms)
        properties = dict(primary.properties)
        properties.update(
            {
                "hs_object_id": str(new_id),
                "createdate": iso_from_ms(created_ms),
                "lastmodifieddate": iso_from_ms(now),
                "hs_merged_object_ids": ";".join(str(i) for i in sorted(merged_ids)),
            }
        )
        self._live[new_id] = StoredContact(new_id, properties, created_ms, now, now)
        for old in (primary, other):
            del self._live[old.id]
            self._merged_into[old.id] = new_id
        self._sorted_live = None
        return str(new_id)

    def add_property(self, name: str, type: str = "string") -> None:
        """Define a new custom property, as an admin adding a field does: every record,
        existing and future, has it without a value (null) until someone sets one, and no
        record counts as modified (``lastmodifieddate`` stays). Raises ``ValueError`` for
        a name that exists already or is invalid, or an unknown type."""
        if name in self.property_types:
            raise ValueError(f"property {name!r} exists already")
        definition = added_property(name, type)
        # A new tuple rather than an append: whoever serialised the old one can tell.
        self.catalogue = (*self.catalogue, definition)
        self.property_types[name] = definition.type
        self._added_properties[name] = None
        for contact in (*self._live.values(), *self._archived.values()):
            contact.properties[name] = None

    # ----------------------------------------------------------------- internals

    def _take_id(self) -> int:
        contact_id = self._next_id
        self._next_id += 1
        return contact_id

    def _resolve_merges(self, contact_id: int) -> int:
        while contact_id in self._merged_into:
            contact_id = self._merged_into[contact_id]
        return contact_id

    def _live_contact(self, contact_id: str) -> StoredContact:
        contact = self.find(contact_id, archived=False)
        if contact is None:
            raise KeyError(f"no live contact {contact_id}")
        return contact

    def _check_writable(self, properties: dict[str, str | None]) -> None:
        unknown = [name for name in properties if name not in self.property_types]
        if unknown:
            raise ValueError(f"properties do not exist: {unknown}")
        system = _SYSTEM_PROPERTIES.intersection(properties)
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
