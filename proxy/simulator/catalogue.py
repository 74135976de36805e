"""Property catalogues: which properties a type's records have and what type each one has.

The type decides how search compares values (numbers and dates numerically, strings
case-insensitively, enumerations exactly) and what ``GET /crm/v3/properties/{type}``
reports. The contacts' standard properties live here; the other standard types' in
``standard_types.py``, which builds each type's catalogue with :func:`build_catalogue`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

#: What list, get and search return when the request names no properties.
DEFAULT_PROPERTIES: Final = (
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
)

#: HubSpot adds these to every response whatever was asked for, which is what lets a client
#: that splits a long property list into chunks join the chunks back together by id.
ALWAYS_RETURNED: Final = ("createdate", "hs_object_id", "lastmodifieddate")

LIFECYCLE_STAGES: Final = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)

#: Types whose values search compares as numbers (dates as epoch milliseconds).
NUMERIC_TYPES: Final = frozenset({"number", "datetime", "date"})


@dataclass(frozen=True)
class PropertyDef:
    name: str
    label: str
    type: str
    field_type: str
    group: str = "contactinformation"
    calculated: bool = False
    has_unique_value: bool = False
    hubspot_defined: bool = True
    read_only: bool = False
    options: tuple[str, ...] = field(default=())

    def as_json(self, display_order: int) -> dict[str, Any]:
        """The shape ``GET /crm/v3/properties/contacts`` returns for one property."""
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": "",
            "groupName": self.group,
            "options": [
                {"label": value.title(), "value": value, "displayOrder": i, "hidden": False}
                for i, value in enumerate(self.options)
            ],
            "displayOrder": display_order,
            "calculated": self.calculated,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "formField": not self.read_only,
        }


STANDARD_PROPERTIES: Final = (
    PropertyDef("hs_object_id", "Record ID", "number", "number", has_unique_value=True,
                read_only=True, calculated=False),
    PropertyDef("createdate", "Create Date", "datetime", "date", read_only=True),
    PropertyDef("lastmodifieddate", "Last Modified Date", "datetime", "date", read_only=True),
    PropertyDef("email", "Email", "string", "text"),
    PropertyDef("firstname", "First Name", "string", "text"),
    PropertyDef("lastname", "Last Name", "string", "text"),
    PropertyDef("phone", "Phone Number", "string", "phonenumber"),
    PropertyDef("company", "Company Name", "string", "text"),
    PropertyDef("website", "Website URL", "string", "text"),
    PropertyDef("city", "City", "string", "text"),
    PropertyDef("country", "Country/Region", "string", "text"),
    PropertyDef("jobtitle", "Job Title", "string", "text"),
    PropertyDef("lifecyclestage", "Lifecycle Stage", "enumeration", "radio",
                options=LIFECYCLE_STAGES),
    # Written by merges only; a semicolon list of every id merged into this record.
    PropertyDef("hs_merged_object_ids", "Merged Record IDs", "enumeration", "checkbox",
                read_only=True),
)  # fmt: skip

CUSTOM_ENUM_OPTIONS: Final = ("alpha", "bravo", "charlie", "delta", "echo")

# Custom properties cycle through these (type, fieldType, options) shapes so that search
# sees more than strings.
_CUSTOM_SHAPES: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    ("string", "text", ()),
    ("number", "number", ()),
    ("enumeration", "select", CUSTOM_ENUM_OPTIONS),
    ("bool", "booleancheckbox", ("true", "false")),
)


def custom_property_name(index: int) -> str:
    """Long-ish on purpose: many of these overflow a GET URL that names every property."""
    return f"custom_property_with_a_long_name_{index:03d}"


def build_catalogue(
    custom_properties: int, standard: tuple[PropertyDef, ...] = STANDARD_PROPERTIES
) -> tuple[PropertyDef, ...]:
    """``standard`` properties (default: the contacts') followed by ``custom_properties``
    generated custom ones."""
    custom = []
    for index in range(custom_properties):
        type_, field_type, options = _CUSTOM_SHAPES[index % len(_CUSTOM_SHAPES)]
        custom.append(
            PropertyDef(
                custom_property_name(index),
                f"Custom property {index}",
                type_,
                field_type,
                group="custom_properties",
                hubspot_defined=False,
                options=options,
            )
        )
    return standard + tuple(custom)


# The fieldType (and options) a property gets when an admin adds one of each type.
_ADDED_SHAPES: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "string": ("text", ()),
    "number": ("number", ()),
    "date": ("date", ()),
    "datetime": ("date", ()),
    "enumeration": ("select", ()),
    "bool": ("booleancheckbox", ("true", "false")),
}
# HubSpot's internal names are lowercase letters, digits and underscores.
_PROPERTY_NAME: Final = re.compile(r"[a-z][a-z0-9_]*")


def added_property(name: str, type_: str) -> PropertyDef:
    """A custom property as an admin defines it. Raises ``ValueError`` for a name HubSpot
    would refuse or a type the simulator does not know."""
    if not _PROPERTY_NAME.fullmatch(name):
        raise ValueError(f"invalid property name {name!r}: use lowercase letters, digits and _")
    try:
        field_type, options = _ADDED_SHAPES[type_]
    except KeyError:
        raise ValueError(
            f"unknown property type {type_!r}; one of {sorted(_ADDED_SHAPES)}"
        ) from None
    return PropertyDef(
        name,
        name.replace("_", " ").capitalize(),
        type_,
        field_type,
        group="custom_properties",
        hubspot_defined=False,
        options=options,
    )
