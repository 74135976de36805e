"""What differs between HubSpot object types."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectSpec:
    name: str  # the path segment: /crm/v3/objects/{name}
    modified_property: str  # the search-filterable "last modified" property
    merged_ids_property: str = "hs_merged_object_ids"


# Contacts are the odd one out: their modification property has no "hs_" prefix.
_MODIFIED = {"contacts": "lastmodifieddate"}


def spec_for(object_type: str) -> ObjectSpec:
    return ObjectSpec(
        name=object_type,
        modified_property=_MODIFIED.get(object_type, "hs_lastmodifieddate"),
    )
