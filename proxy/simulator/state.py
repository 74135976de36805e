"""The simulated HubSpot account: one store of records per object type, and what the whole
account shares (clock, token, faults, rate limits, request counters and log).

No HTTP here. ``app.py`` turns requests into calls on :class:`HubSpotSimulator`; tests and
the demo's churn call the mutating methods directly to play "someone changed HubSpot".

How to reach each type (the record semantics are in ``store.py``):

* **contacts** keep the methods the simulator had when it modelled only them:
  ``sim.create_contacts(n)``, ``sim.update(id, props)``, ``sim.touch_many``,
  ``sim.archive``, ``sim.restore``, ``sim.gdpr_delete``, ``sim.merge``,
  ``sim.add_property``, ``sim.contact(id)``, ``sim.find``, ``sim.find_many``,
  ``sim.list_page``, ``sim.live_ids()``, ``sim.archived_ids()``, ``sim.snapshot()``,
  ``sim.searchable()``, ``sim.select_properties``, ``sim.property_names()``,
  ``sim.catalogue``, ``sim.property_types``; they all act on ``sim.contacts``;
* **every type**, contacts included, through ``sim.objects(name)`` (any name a path takes:
  ``"companies"``, ``"company"``, ``"0-2"``, a custom object's name, objectTypeId or
  fullyQualifiedName), an :class:`~.store.ObjectStore` with the same operations
  (``create(n)``, ``record(id)``, ``update``, ``archive``, ``merge`` …);
* **associations** between any two types' records: ``sim.associate(from_type, from_id,
  to_type, to_id, label=None, primary=False)``, ``sim.dissociate(...)`` and
  ``sim.associations(from_type, from_id, to_type)`` (what the v4 API shows); the links
  themselves are ``sim.links`` (``associations.py``);
* **custom objects**: ``sim.define_custom_object(name, properties)`` returns its schema
  (``schemas.py``); ``sim.custom_objects`` holds them by name.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from .associations import AssociationGraph, AssociationType
from .clock import Clock, ManualClock, WallClock
from .faults import Faults
from .object_types import ObjectTypes
from .pause import ListPause
from .requestlog import RequestLog
from .schemas import DEFAULT_PORTAL_ID, FIRST_CUSTOM_TYPE_NUMBER, CustomObjectSchema
from .schemas import define_custom_object as make_custom_object
from .standard_types import STANDARD_TYPES
from .store import ObjectStore, StoredRecord

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from .catalogue import PropertyDef

__all__ = [
    "Clock",
    "Faults",
    "HubSpotSimulator",
    "ManualClock",
    "StoredContact",
    "StoredRecord",
    "WallClock",
]

StoredContact = StoredRecord
"""The name records had when the simulator held only contacts."""

#: Custom properties each standard type other than contacts gets unless told otherwise.
DEFAULT_EXTRA_PROPERTIES = 10


class HubSpotSimulator:
    """An in-memory HubSpot account holding records of every standard object type.

    ``faults``, ``requests`` and ``request_log`` are shared with the HTTP app: tests flip
    faults between requests and read the counters and the log afterwards. ``monotonic`` is
    the time source of the rate-limit windows and the log (real elapsed seconds by default;
    inject a fake in tests). ``custom_properties`` generated custom properties go to
    contacts, ``extra_properties`` to each other standard type (a mapping sets them per
    type name).
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        token: str = "sim-token",
        custom_properties: int = 40,
        extra_properties: int | Mapping[str, int] = DEFAULT_EXTRA_PROPERTIES,
        seed: int = 0,
        monotonic: Callable[[], float] | None = None,
        portal_id: int = DEFAULT_PORTAL_ID,
    ) -> None:
        self.clock: Clock = clock if clock is not None else WallClock()
        self.token = token
        self.seed = seed
        self.portal_id = portal_id
        self.faults = Faults()
        self.requests: Counter[str] = Counter()
        self.request_log = RequestLog()
        self.monotonic: Callable[[], float] = monotonic if monotonic is not None else time.monotonic
        self.list_pause: ListPause | None = None
        """When set, list requests wait there (``pause.py``): a scan held mid-listing."""
        self.malformed_served = 0
        """How many malformed responses were served; decides which kind comes next."""
        self.malformed_batch_reads_served = 0
        """The same for batch read answers."""
        self.search_edits: list[str] = []
        """Ids edited by ``Faults.search_edit_property``, in order (of any type)."""
        self.types = ObjectTypes(STANDARD_TYPES)
        self.links = AssociationGraph([t.name for t in STANDARD_TYPES])
        self._stores: dict[str, ObjectStore] = {}
        for object_type in STANDARD_TYPES:
            if object_type.name == "contacts":
                extra = custom_properties
            elif isinstance(extra_properties, int):
                extra = extra_properties
            else:
                extra = extra_properties.get(object_type.name, DEFAULT_EXTRA_PROPERTIES)
            self._stores[object_type.name] = ObjectStore(
                object_type, self, custom_properties=extra, seed=seed
            )
        self.contacts = self._stores["contacts"]
        self.custom_objects: dict[str, CustomObjectSchema] = {}
        """The custom objects' schemas by name, in the order they were defined."""

    # ----------------------------------------------------------------- types

    def objects(self, object_type: str) -> ObjectStore:
        """The store of the type any of its names (plural, singular, type id, custom
        object name) points at. Raises ``UnknownObjectType`` (a ``KeyError``)."""
        return self._stores[self.types.resolve(object_type).name]

    def stores(self) -> list[ObjectStore]:
        """Every type's store: the standard types, then custom objects as defined."""
        return list(self._stores.values())

    def define_custom_object(
        self,
        name: str,
        properties: Sequence[str] | Mapping[str, str],
        *,
        singular_label: str | None = None,
        plural_label: str | None = None,
        primary_display_property: str | None = None,
        extra_properties: int = 0,
    ) -> CustomObjectSchema:
        """Define a custom object (``schemas.py``): ``properties`` are names of string
        properties, or names mapped to types; the first is the primary display property
        unless told otherwise. Its records are then reached like any type's, through
        ``sim.objects(name)`` (or its objectTypeId or fullyQualifiedName). Raises
        ``ValueError`` for a name taken already or an invalid definition."""
        schema, object_type = make_custom_object(
            name,
            properties,
            portal_id=self.portal_id,
            type_number=FIRST_CUSTOM_TYPE_NUMBER + len(self.custom_objects),
            now_ms=self.clock.now_ms(),
            singular_label=singular_label,
            plural_label=plural_label,
            primary_display_property=primary_display_property,
        )
        self.types.add(object_type)
        self._stores[name] = ObjectStore(
            object_type, self, custom_properties=extra_properties, seed=self.seed
        )
        self.custom_objects[name] = schema
        return schema

    def schema(self, object_type: str) -> CustomObjectSchema:
        """The schema of the custom object any of its names points at; KeyError otherwise."""
        return self.custom_objects[self.types.resolve(object_type).name]

    # ----------------------------------------------------------------- associations

    def associate(
        self,
        from_type: str,
        from_id: str,
        to_type: str,
        to_id: str,
        *,
        label: str | None = None,
        primary: bool = False,
    ) -> None:
        """Link two live records (in both directions) with the pair's unlabeled type, plus
        its ``Primary`` type when ``primary`` (which the from record then has with this
        record only, as HubSpot allows one primary company) and a ``USER_DEFINED`` type for
        ``label``. Associating a linked pair again adds types. Neither record's modification
        time moves unless ``faults.associations_bump_modified``. Raises ``KeyError`` for a
        record that is not live, ``ValueError`` for a record linked to itself or a pair
        without a primary type."""
        source, source_record = self._live(from_type, from_id)
        target, target_record = self._live(to_type, to_id)
        if source.name == target.name and source_record.id == target_record.id:
            raise ValueError("a record cannot be associated with itself")
        kinds = self.links.types
        types = [kinds.unlabeled(source.name, target.name)]
        if primary:
            types.append(kinds.primary(source.name, target.name))
            self._drop_primary(source.name, source_record.id, target.name, types[-1])
        if label is not None:
            types.append(kinds.labeled(source.name, target.name, label))
        self.links.link(source.name, source_record.id, target.name, target_record.id, types)
        self._bump(source_record, target_record)

    def dissociate(
        self,
        from_type: str,
        from_id: str,
        to_type: str,
        to_id: str,
        *,
        label: str | None = None,
    ) -> None:
        """Remove the link between two live records (both directions), or only its type
        ``label`` (``"Primary"`` for the primary one). Raises ``KeyError`` when there is no
        such link or label."""
        source, source_record = self._live(from_type, from_id)
        target, target_record = self._live(to_type, to_id)
        types = None
        if label is not None:
            types = [
                t
                for t in self.links.targets(source.name, source_record.id, target.name).get(
                    target_record.id, {}
                )
                if t.label == label
            ]
        removed = self.links.unlink(
            source.name, source_record.id, target.name, target_record.id, types
        )
        if not removed:
            what = "association" if label is None else f"association labeled {label!r}"
            raise KeyError(f"no {what} from {from_type} {from_id} to {to_type} {to_id}")
        self._bump(source_record, target_record)

    def associations(
        self, from_type: str, from_id: str, to_type: str
    ) -> list[tuple[int, tuple[AssociationType, ...]]]:
        """The live records of ``to_type`` linked from the live record ``from_id``, by
        ascending id, each with the link's types: what the v4 API shows. Links to or from
        an archived record are hidden (HubSpot does not return them) until it is restored.
        A merged-away or unknown id has none."""
        source, target = self.objects(from_type), self.objects(to_type)
        try:
            key = int(from_id)
        except ValueError:
            return []
        if not source.is_live(key):
            return []
        linked = self.links.targets(source.name, key, target.name)
        return [(i, tuple(linked[i])) for i in sorted(linked) if target.is_live(i)]

    def associations_snapshot(self, from_type: str) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """Every visible link from live records of ``from_type``: to type -> from id ->
        ``[{"toObjectId", "associationTypes"}]`` as the v4 API shows them (ids as strings),
        ids ascending; types and records without links are left out."""
        source = self.objects(from_type)
        snapshot: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for to_type in self.links.to_types(source.name):
            by_id: dict[str, list[dict[str, Any]]] = {}
            for from_id in sorted(self.links.linked_ids(source.name, to_type)):
                links = self.associations(source.name, str(from_id), to_type)
                if links:
                    by_id[str(from_id)] = [
                        {
                            "toObjectId": str(to_id),
                            "associationTypes": [t.as_json() for t in types],
                        }
                        for to_id, types in links
                    ]
            if by_id:
                snapshot[to_type] = by_id
        return snapshot

    def _live(self, object_type: str, record_id: str) -> tuple[ObjectStore, StoredRecord]:
        store = self.objects(object_type)
        return store, store.live_record(record_id)

    def _drop_primary(
        self, from_type: str, from_id: int, to_type: str, primary: AssociationType
    ) -> None:
        for other_id, types in list(self.links.targets(from_type, from_id, to_type).items()):
            if primary in types:
                self.links.unlink(from_type, from_id, to_type, other_id, [primary])

    def _bump(self, *records: StoredRecord) -> None:
        if self.faults.associations_bump_modified:
            now = self.clock.now_ms()
            for record in records:
                record.set_updated(now, now)

    # ----------------------------------------------------------------- contacts

    @property
    def catalogue(self) -> tuple[PropertyDef, ...]:
        return self.contacts.catalogue

    @property
    def property_types(self) -> dict[str, str]:
        return self.contacts.property_types

    def property_names(self) -> tuple[str, ...]:
        return self.contacts.property_names()

    def select_properties(self, requested: Iterable[str] | None) -> tuple[str, ...]:
        return self.contacts.select_properties(requested)

    def live_ids(self) -> list[str]:
        return self.contacts.live_ids()

    def archived_ids(self) -> list[str]:
        return self.contacts.archived_ids()

    def contact(self, contact_id: str) -> dict[str, Any]:
        return self.contacts.record(contact_id)

    def find(self, contact_id: str, *, archived: bool) -> StoredRecord | None:
        return self.contacts.find(contact_id, archived=archived)

    def find_many(
        self, contact_ids: Iterable[str], *, archived: bool
    ) -> tuple[list[StoredRecord], list[str]]:
        return self.contacts.find_many(contact_ids, archived=archived)

    def list_page(
        self, *, after: int | None, limit: int, archived: bool
    ) -> tuple[list[StoredRecord], bool]:
        return self.contacts.list_page(after=after, limit=limit, archived=archived)

    def snapshot(self) -> dict[str, Any]:
        """The contacts' upstream truth a mirror is compared with (``ObjectStore.snapshot``)."""
        return self.contacts.snapshot()

    def searchable(self) -> list[StoredRecord]:
        return self.contacts.searchable()

    def create_contacts(self, n: int, *, timestamp_ms: int | None = None) -> list[str]:
        return self.contacts.create(n, timestamp_ms=timestamp_ms)

    def update(
        self,
        contact_id: str,
        properties: dict[str, str | None],
        *,
        timestamp_ms: int | None = None,
    ) -> None:
        self.contacts.update(contact_id, properties, timestamp_ms=timestamp_ms)

    def touch_many(
        self, ids: Iterable[str], properties: dict[str, str | None], *, timestamp_ms: int
    ) -> None:
        self.contacts.touch_many(ids, properties, timestamp_ms=timestamp_ms)

    def archive(self, contact_id: str) -> None:
        self.contacts.archive(contact_id)

    def restore(self, contact_id: str) -> None:
        self.contacts.restore(contact_id)

    def gdpr_delete(self, contact_id: str) -> None:
        self.contacts.gdpr_delete(contact_id)

    def merge(self, primary_id: str, other_id: str) -> str:
        """Merge two live contacts; returns the new record's id."""
        return self.contacts.merge(primary_id, other_id)

    def add_property(self, name: str, type: str = "string") -> None:
        self.contacts.add_property(name, type)
