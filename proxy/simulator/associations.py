"""Associations between records: bidirectional links, each carrying one or more
association types, as the v4 associations API reports them.

A link from a contact to a company is stored in both directions, each with its own types:
HubSpot's association types are directional (contact→company is 279, company→contact
280). Every link has its pair's unlabeled default type; it may add the pair's ``Primary``
type (contact→company 1, deal→company 5, ticket→company 26 and their inverses) and any
number of labels (``USER_DEFINED``, a type id per pair and label, the inverse direction
getting its own id with the same label).

Type ids: HubSpot's real defaults where they are known (:data:`KNOWN_TYPE_IDS`, from
HubSpot's association type table as its API clients carry it); any other pair, and every
label, gets ids counted up from :data:`FIRST_ALLOCATED_TYPE_ID`, fixed for the life of the
simulator (so they depend on the order pairs are first linked: consistent, not HubSpot's).
Pairs involving a custom object are ``USER_DEFINED``, standard pairs ``HUBSPOT_DEFINED``.

The graph stores links by record id only; whether a linked record is visible (live) is
decided when reading (``HubSpotSimulator.associations``), so archiving hides a link and
restoring shows it again, while a GDPR delete (:meth:`AssociationGraph.forget`) and a merge
(:meth:`AssociationGraph.move`) change the links themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping

HUBSPOT_DEFINED: Final = "HUBSPOT_DEFINED"
USER_DEFINED: Final = "USER_DEFINED"
PRIMARY_LABEL: Final = "Primary"
FIRST_ALLOCATED_TYPE_ID: Final = 1000

#: (from type, to type) -> (unlabeled type id, primary type id or None).
KNOWN_TYPE_IDS: Final[dict[tuple[str, str], tuple[int, int | None]]] = {
    ("contacts", "companies"): (279, 1),
    ("companies", "contacts"): (280, 2),
    ("deals", "contacts"): (3, None),
    ("contacts", "deals"): (4, None),
    ("deals", "companies"): (341, 5),
    ("companies", "deals"): (342, 6),
    ("contacts", "tickets"): (15, None),
    ("tickets", "contacts"): (16, None),
    ("deals", "line_items"): (19, None),
    ("line_items", "deals"): (20, None),
    ("tickets", "companies"): (339, 26),
    ("companies", "tickets"): (340, 25),
    ("deals", "tickets"): (27, None),
    ("tickets", "deals"): (28, None),
}

# to id -> the link's types, in the order they were added (a dict as an ordered set)
Targets = dict[int, dict["AssociationType", None]]


@dataclass(frozen=True, slots=True)
class AssociationType:
    category: str
    type_id: int
    label: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"category": self.category, "typeId": self.type_id, "label": self.label}


class AssociationTypes:
    """The association types of an account, and each one's inverse."""

    def __init__(self, standard_types: Collection[str]) -> None:
        self._standard = frozenset(standard_types)
        self._next_id = FIRST_ALLOCATED_TYPE_ID
        self._unlabeled: dict[tuple[str, str], AssociationType] = {}
        self._primary: dict[tuple[str, str], AssociationType] = {}
        self._labeled: dict[tuple[str, str, str], AssociationType] = {}
        self._inverse: dict[tuple[str, str, AssociationType], AssociationType] = {}
        for (a, b), (unlabeled, primary) in KNOWN_TYPE_IDS.items():
            self._unlabeled[a, b] = AssociationType(HUBSPOT_DEFINED, unlabeled)
            if primary is not None:
                self._primary[a, b] = AssociationType(HUBSPOT_DEFINED, primary, PRIMARY_LABEL)
        for (a, b), forward in list(self._unlabeled.items()):
            self._inverse[a, b, forward] = self._unlabeled[b, a]
        for (a, b), forward in list(self._primary.items()):
            self._inverse[a, b, forward] = self._primary[b, a]

    def unlabeled(self, from_type: str, to_type: str) -> AssociationType:
        pair = (from_type, to_type)
        if pair not in self._unlabeled:
            category = self._category(from_type, to_type)
            self._pair(from_type, to_type, category, None, self._unlabeled)
        return self._unlabeled[pair]

    def primary(self, from_type: str, to_type: str) -> AssociationType:
        """Raises ``ValueError`` for a pair HubSpot has no primary association for."""
        try:
            return self._primary[from_type, to_type]
        except KeyError:
            raise ValueError(f"{from_type} to {to_type} has no primary association") from None

    def labeled(self, from_type: str, to_type: str, label: str) -> AssociationType:
        if label == PRIMARY_LABEL:
            return self.primary(from_type, to_type)
        key = (from_type, to_type, label)
        if key not in self._labeled:
            self._pair(from_type, to_type, USER_DEFINED, label, self._labeled)
        return self._labeled[key]

    def inverse(self, from_type: str, to_type: str, forward: AssociationType) -> AssociationType:
        """The type the other direction (to→from) of a ``forward`` link carries."""
        return self._inverse[from_type, to_type, forward]

    def _category(self, from_type: str, to_type: str) -> str:
        standard = from_type in self._standard and to_type in self._standard
        return HUBSPOT_DEFINED if standard else USER_DEFINED

    def _pair(
        self,
        from_type: str,
        to_type: str,
        category: str,
        label: str | None,
        into: dict[Any, AssociationType],
    ) -> None:
        forward = AssociationType(category, self._take_id(), label)
        # Within one type (company to company) a link's two directions share the type.
        backward = (
            forward if from_type == to_type else AssociationType(category, self._take_id(), label)
        )
        labels = () if label is None else (label,)  # labeled types are keyed by label too
        into[(from_type, to_type, *labels)] = forward
        into[(to_type, from_type, *labels)] = backward
        self._inverse[from_type, to_type, forward] = backward
        self._inverse[to_type, from_type, backward] = forward

    def _take_id(self) -> int:
        type_id = self._next_id
        self._next_id += 1
        return type_id


class AssociationGraph:
    """Every link of the account, stored in both directions, by record id."""

    def __init__(self, standard_types: Collection[str]) -> None:
        self.types = AssociationTypes(standard_types)
        self._edges: dict[tuple[str, str], dict[int, Targets]] = {}
        """(from type, to type) -> from id -> its targets."""

    def link(
        self,
        from_type: str,
        from_id: int,
        to_type: str,
        to_id: int,
        types: Iterable[AssociationType],
    ) -> None:
        """Add ``types`` (from→to) to the link, creating it; the inverses go the other way."""
        forward = self._targets(from_type, from_id, to_type).setdefault(to_id, {})
        backward = self._targets(to_type, to_id, from_type).setdefault(from_id, {})
        for association_type in types:
            forward[association_type] = None
            backward[self.types.inverse(from_type, to_type, association_type)] = None

    def unlink(
        self,
        from_type: str,
        from_id: int,
        to_type: str,
        to_id: int,
        types: Iterable[AssociationType] | None = None,
    ) -> bool:
        """Remove ``types`` from the link (None: the whole link); a link left without types
        is gone. Returns whether there was anything to remove."""
        forward_targets = self._edges.get((from_type, to_type), {}).get(from_id, {})
        forward = forward_targets.get(to_id)
        if forward is None:
            return False
        backward_targets = self._edges[to_type, from_type][to_id]
        backward = backward_targets[from_id]
        removing = list(forward) if types is None else [t for t in types if t in forward]
        for association_type in removing:
            del forward[association_type]
            del backward[self.types.inverse(from_type, to_type, association_type)]
        if not forward:
            del forward_targets[to_id]
            del backward_targets[from_id]
        return bool(removing)

    def targets(
        self, from_type: str, from_id: int, to_type: str
    ) -> Mapping[int, Mapping[AssociationType, None]]:
        """The records of ``to_type`` linked from this one, visible or not, with the link's
        types (read-only: change links through :meth:`link` and :meth:`unlink`)."""
        return self._edges.get((from_type, to_type), {}).get(from_id, {})

    def to_types(self, from_type: str) -> list[str]:
        """The types records of ``from_type`` have (or had) links to."""
        return [to_type for (source, to_type) in self._edges if source == from_type]

    def linked_ids(self, from_type: str, to_type: str) -> list[int]:
        """The records of ``from_type`` with links to ``to_type``, visible or not."""
        return [i for i, targets in self._edges.get((from_type, to_type), {}).items() if targets]

    def forget(self, object_type: str, record_id: int) -> None:
        """Remove every link of a record that no longer exists (GDPR delete)."""
        for (from_type, to_type), by_id in list(self._edges.items()):
            if from_type != object_type:
                continue
            for to_id in list(by_id.get(record_id, {})):
                self.unlink(object_type, record_id, to_type, to_id)

    def move(self, object_type: str, old_ids: Iterable[int], new_id: int) -> None:
        """A merge: the old records' links, with all their types, become the new record's
        (links between the merged records themselves disappear)."""
        old = set(old_ids)
        for (from_type, to_type), by_id in list(self._edges.items()):
            if from_type != object_type:
                continue
            for old_id in old:
                for to_id, types in list(by_id.get(old_id, {}).items()):
                    kept = list(types)
                    self.unlink(object_type, old_id, to_type, to_id)
                    if to_type == object_type and (to_id in old or to_id == new_id):
                        continue
                    self.link(object_type, new_id, to_type, to_id, kept)

    def _targets(self, from_type: str, from_id: int, to_type: str) -> Targets:
        return self._edges.setdefault((from_type, to_type), {}).setdefault(from_id, {})
