"""What differs between HubSpot object types."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ObjectSpec:
    name: str  # the mirror's and the feed's name for the type: its store key and feed path
    modified_property: str  # the search-filterable "last modified" property
    merged_ids_property: str = "hs_merged_object_ids"
    api_path: str | None = None  # /crm/v3/objects/{api_name}; a custom object's type id
    associations: tuple[str, ...] = field(default=())  # the types its records point to

    @property
    def api_name(self) -> str:
        return self.api_path or self.name


# Contacts are the odd one out: their modification property has no "hs_" prefix.
_MODIFIED = {"contacts": "lastmodifieddate"}


def spec_for(
    object_type: str, *, api_path: str | None = None, associations: tuple[str, ...] = ()
) -> ObjectSpec:
    return ObjectSpec(
        name=object_type,
        modified_property=_MODIFIED.get(object_type, "hs_lastmodifieddate"),
        api_path=api_path,
        associations=associations,
    )
