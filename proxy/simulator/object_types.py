"""What an object type is to the simulator, and how a path names one.

HubSpot's object routes take ``{objectType}`` as the plural name (``contacts``), the
singular (``contact``), the type id (``0-1``) or, for a custom object, its
``fullyQualifiedName`` (``p7878787_pets``) or plain name. :class:`ObjectTypes` maps every
such alias onto one :class:`ObjectType`, whose ``name`` is the key the simulator uses
everywhere else (stores, associations, snapshots, ``/_sim`` routes). Lookups ignore case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .catalogue import PropertyDef
    from .generate import StandardValues


class UnknownObjectType(KeyError):
    """No object type answers to this name; the API answers 400."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Unable to infer object type from: {name}")
        self.name = name


@dataclass(frozen=True)
class ObjectType:
    name: str
    """The plural path name (``companies``) or a custom object's name: the simulator's key."""
    singular: str
    type_id: str
    """``0-1`` for contacts …; ``2-<n>`` for a custom object."""
    label: str
    """How batch read's error message names the type: ``Could not get some COMPANY objects``."""
    modified_property: str
    """``lastmodifieddate`` for contacts, ``hs_lastmodifieddate`` for every other type."""
    standard_properties: tuple[PropertyDef, ...]
    """The type's own properties, system ones first; generated custom ones come after."""
    default_properties: tuple[str, ...]
    """What list, get, batch read and search return when the request names none."""
    standard_values: StandardValues = field(repr=False)
    mergeable: bool = False
    """Only contacts and companies merge in the simulator (a new id, ``hs_merged_object_ids``)."""
    other_names: tuple[str, ...] = ()
    """More aliases: a custom object's ``fullyQualifiedName``."""

    @property
    def always_returned(self) -> tuple[str, ...]:
        """Added to every response whatever was asked for, which is what lets a client that
        splits a long property list into chunks join the chunks back together by id."""
        return ("createdate", "hs_object_id", self.modified_property)

    @property
    def system_properties(self) -> frozenset[str]:
        """Properties a caller may not set: the simulator owns them."""
        return frozenset(self.always_returned)

    def aliases(self) -> tuple[str, ...]:
        return (self.name, self.singular, self.type_id, *self.other_names)


class ObjectTypes:
    """The object types of one account, found by any of their names."""

    def __init__(self, types: tuple[ObjectType, ...] = ()) -> None:
        self._by_alias: dict[str, ObjectType] = {}
        self._types: dict[str, ObjectType] = {}
        for object_type in types:
            self.add(object_type)

    def add(self, object_type: ObjectType) -> None:
        """Raises ``ValueError`` when one of its names is taken already."""
        taken = [a for a in object_type.aliases() if a.lower() in self._by_alias]
        if taken:
            raise ValueError(f"object type names taken already: {taken}")
        self._types[object_type.name] = object_type
        for alias in object_type.aliases():
            self._by_alias[alias.lower()] = object_type

    def resolve(self, name: str) -> ObjectType:
        try:
            return self._by_alias[name.lower()]
        except KeyError:
            raise UnknownObjectType(name) from None

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._by_alias

    def __iter__(self) -> Iterator[ObjectType]:
        return iter(self._types.values())
