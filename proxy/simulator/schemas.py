"""Custom objects: their schemas, as ``GET /crm-object-schemas/v3/schemas`` lists them, and
the :class:`~.object_types.ObjectType` each one becomes.

A custom object named ``pets`` in portal 7878787 gets the ``objectTypeId`` ``2-<n>`` (n
counts up from :data:`FIRST_CUSTOM_TYPE_NUMBER` per account) and the
``fullyQualifiedName`` ``p7878787_pets``; the objects API takes either, or the plain
name, in ``{objectType}`` (``reference/hubspot-api.md`` Part C). Its records have
``hs_object_id``, ``createdate`` and ``hs_lastmodifieddate`` (the modification property of
every type but contacts) besides the properties it was defined with, and do not merge.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from .catalogue import added_property
from .clock import iso_from_ms
from .object_types import ObjectType
from .standard_types import MODIFIED, system_properties

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .catalogue import PropertyDef
    from .generate import StandardValues

DEFAULT_PORTAL_ID: Final = 7878787
FIRST_CUSTOM_TYPE_NUMBER: Final = 1_000_001
_NAME: Final = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class CustomObjectSchema:
    name: str
    object_type_id: str
    fully_qualified_name: str
    singular_label: str
    plural_label: str
    primary_display_property: str
    created_ms: int

    def as_json(self, catalogue: Sequence[PropertyDef]) -> dict[str, Any]:
        """The schema as HubSpot lists it, with the properties ``catalogue`` has now."""
        stamp = iso_from_ms(self.created_ms)
        return {
            "id": self.object_type_id.split("-", 1)[1],
            "name": self.name,
            "objectTypeId": self.object_type_id,
            "fullyQualifiedName": self.fully_qualified_name,
            "labels": {"singular": self.singular_label, "plural": self.plural_label},
            "properties": [p.as_json(i) for i, p in enumerate(catalogue)],
            "primaryDisplayProperty": self.primary_display_property,
            "requiredProperties": [self.primary_display_property],
            "searchableProperties": [self.primary_display_property],
            "secondaryDisplayProperties": [],
            "archived": False,
            "createdAt": stamp,
            "updatedAt": stamp,
        }


def define_custom_object(
    name: str,
    properties: Sequence[str] | Mapping[str, str],
    *,
    portal_id: int,
    type_number: int,
    now_ms: int,
    singular_label: str | None = None,
    plural_label: str | None = None,
    primary_display_property: str | None = None,
) -> tuple[CustomObjectSchema, ObjectType]:
    """A custom object's schema and type. ``properties`` are names (string properties) or
    a mapping of names to types (``string``, ``number``, ``bool``, ``date``, ``datetime``,
    ``enumeration``). Raises ``ValueError`` for a bad name, property or type."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid object name {name!r}: use lowercase letters, digits and _")
    types = (
        dict(properties) if isinstance(properties, Mapping) else dict.fromkeys(properties, "string")
    )
    if not types:
        raise ValueError("a custom object needs at least one property")
    system = {"hs_object_id", "createdate", MODIFIED}
    clashing = sorted(system.intersection(types))
    if clashing:
        raise ValueError(f"properties are set by the simulator: {clashing}")
    defined = tuple(added_property(prop, type_) for prop, type_ in types.items())
    primary = primary_display_property or defined[0].name
    if primary not in types:
        raise ValueError(f"primaryDisplayProperty {primary!r} is not one of the properties")
    # Names are usually plural ("pets"): labels "Pet" / "Pets" unless given.
    plural = plural_label or name.replace("_", " ").capitalize()
    singular = singular_label or (plural[:-1] if len(plural) > 1 and plural[-1] == "s" else plural)
    schema = CustomObjectSchema(
        name=name,
        object_type_id=f"2-{type_number}",
        fully_qualified_name=f"p{portal_id}_{name}",
        singular_label=singular,
        plural_label=plural,
        primary_display_property=primary,
        created_ms=now_ms,
    )
    object_type = ObjectType(
        name=name,
        singular=name,
        type_id=schema.object_type_id,
        label=schema.fully_qualified_name.upper(),
        modified_property=MODIFIED,
        standard_properties=system_properties(f"{name}_information") + defined,
        default_properties=("createdate", MODIFIED, "hs_object_id", primary),
        standard_values=_primary_values(primary, singular),
        other_names=(schema.fully_qualified_name,),
    )
    return schema, object_type


def _primary_values(primary: str, singular_label: str) -> StandardValues:
    """The primary display property reads like a name (``Pet 17``); the other defined
    properties get generated values like any custom property (``generate.py``)."""

    def values(record_id: int, h: int) -> dict[str, str | None]:
        return {primary: f"{singular_label} {record_id}"}

    return values
