"""Deterministic, fast generation of realistic property values.

Every value of record N of a type depends only on (seed, type, N), never on call order, so
two simulators built with the same seed agree record by record however they were filled.
Speed matters (100,000 contacts in a couple of seconds): one hash per record supplies all
the random bits, and each property picks from a small precomputed table.

:class:`RecordFactory` fills the custom properties of any type; the type's own standard
values come from a :data:`StandardValues` function (the contacts' is :func:`contact_values`,
the other standard types' are in ``standard_types.py``).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Final, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .catalogue import PropertyDef

FIRST_NAMES: Final = (
    "Ada", "Bjørn", "Carmen", "Dmitri", "Elif", "Farah", "Gustav", "Hana", "Ingrid", "Jamal",
    "Kari", "Liam", "Maja", "Nils", "Olga", "Pablo", "Quinn", "Rania", "Sven", "Tove",
    "Ulrik", "Vera", "Wei", "Ximena", "Yusuf", "Zofia", "Astrid", "Bilal", "Chloé", "Diego",
    "Emma", "Finn",
)  # fmt: skip
LAST_NAMES: Final = (
    "Andersen", "Berg", "Costa", "Dahl", "Eriksen", "Fischer", "García", "Hansen", "Ito",
    "Johansen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Olsen", "Pedersen", "Quist",
    "Rossi", "Solberg", "Tanaka", "Ullmann", "Vik", "Walker", "Xu", "Yilmaz", "Zhang",
    "Aasen", "Brekke", "Christensen", "Dalen", "Eide", "Fjeld",
)  # fmt: skip
COMPANIES: Final = (
    "Acme Logistics", "Bluefjord Analytics", "Cobalt Marine", "Delta Hydro", "Evergreen Foods",
    "Fjellstue Consulting", "Granite Robotics", "Harbor Health", "Iris Energy", "Juniper Retail",
    "Kestrel Aviation", "Lumen Media", "Mistral Software", "Nordlys Telecom", "Orca Shipping",
    "Polar Textiles",
)  # fmt: skip
CITIES: Final = (
    ("Oslo", "Norway"), ("Bergen", "Norway"), ("Trondheim", "Norway"), ("Stockholm", "Sweden"),
    ("Gothenburg", "Sweden"), ("Copenhagen", "Denmark"), ("Helsinki", "Finland"),
    ("Berlin", "Germany"), ("Hamburg", "Germany"), ("Amsterdam", "Netherlands"),
    ("London", "United Kingdom"), ("Dublin", "Ireland"), ("Madrid", "Spain"),
    ("Lisbon", "Portugal"), ("Warsaw", "Poland"), ("Toronto", "Canada"),
)  # fmt: skip
JOB_TITLES: Final = (
    "Chief Executive Officer", "Head of Data", "Integration Engineer", "Sales Manager",
    "Marketing Specialist", "Account Executive", "Operations Lead", "Product Owner",
    "Customer Success Manager", "Finance Controller", "Solutions Architect", "Office Manager",
    "Procurement Officer", "Developer Advocate", "Support Engineer", "HR Partner",
)  # fmt: skip
LIFECYCLE_WEIGHTED: Final = (
    "subscriber", "lead", "lead", "lead", "marketingqualifiedlead", "salesqualifiedlead",
    "opportunity", "customer",
)  # fmt: skip
_TEXT_SNIPPETS: Final = (
    "Prefers email contact during business hours",
    "Met at the Oslo integration meetup",
    "Requested a follow-up about the enterprise tier",
    "Imported from the legacy CRM migration batch",
    "Interested in the data platform webinar series",
    "Referred by an existing customer",
)

# Each custom property picks one of eight values with 3 bits of the contact's hash.
_CHOICE_BITS: Final = 3
_CHOICES: Final = 1 << _CHOICE_BITS


def _custom_choices(prop: PropertyDef, index: int) -> tuple[str | None, ...]:
    """Eight candidate values for one custom property; ``None`` where HubSpot has no value."""
    if prop.type == "number":
        values: list[str | None] = [str((index + 1) * 37 * k % 100_000) for k in range(7)]
        return (*values, None)
    if prop.type == "bool":
        return ("true", "false", "true", "false", "true", "false", None, None)
    if prop.options:
        return (*prop.options, prop.options[0], None, None)[:_CHOICES]
    snippets = [_TEXT_SNIPPETS[(index + k) % len(_TEXT_SNIPPETS)] for k in range(5)]
    return (*snippets, None, None, None)


StandardValues: TypeAlias = "Callable[[int, int], dict[str, str | None]]"
"""The standard (non-custom) writable properties of record N, given N and 64 random bits."""


class RecordFactory:
    """Makes the writable properties of record N (not ids or timestamps; the store owns
    those): ``standard_values`` for the type's own properties, then every custom property
    of ``catalogue``. ``salt`` (the type's name) keeps types of one seed apart; contacts use
    none, so their values are what they were before other types existed."""

    def __init__(
        self,
        seed: int,
        catalogue: Sequence[PropertyDef],
        standard_values: StandardValues | None = None,
        *,
        salt: str = "",
    ) -> None:
        self._prefix = f"{seed}:{salt}:" if salt else f"{seed}:"
        self._standard: StandardValues = (
            contact_values if standard_values is None else standard_values
        )
        # Properties the type's own values fill are not generated again (a custom object's
        # primary display property is user-defined, yet reads like a name); their names
        # are the keys of any record's standard values.
        own = self._standard(1, 0).keys()
        custom = [prop for prop in catalogue if not prop.hubspot_defined and prop.name not in own]
        # The low 64 bits go to the standard properties, the custom ones take 3 bits each
        # after that; blake2b gives at most 512 bits, so a very wide catalogue reuses bits.
        self._digest_size = min(64, (64 + _CHOICE_BITS * len(custom) + 7) // 8)
        spare_bits = self._digest_size * 8 - 64 - _CHOICE_BITS
        self._custom = tuple(
            (prop.name, _custom_choices(prop, index), 64 + (_CHOICE_BITS * index) % spare_bits)
            for index, prop in enumerate(custom)
        )

    def _bits(self, record_id: int) -> int:
        digest = hashlib.blake2b(
            f"{self._prefix}{record_id}".encode(), digest_size=self._digest_size
        ).digest()
        return int.from_bytes(digest, "little")

    def properties(self, record_id: int) -> dict[str, str | None]:
        h = self._bits(record_id)
        props = self._standard(record_id, h)
        for name, choices, shift in self._custom:
            props[name] = choices[(h >> shift) & (_CHOICES - 1)]
        return props


def contact_values(contact_id: int, h: int) -> dict[str, str | None]:
    """A contact's standard properties from its id and random bits ``h``."""
    first = FIRST_NAMES[h & 31]
    last = LAST_NAMES[(h >> 5) & 31]
    company = COMPANIES[(h >> 10) & 15]
    city, country = CITIES[(h >> 14) & 15]
    domain = company.split()[0].lower()
    return {
        "email": f"{first}.{last}.{contact_id}@{domain}.example".lower(),
        "firstname": first,
        "lastname": last,
        "phone": f"+47 {(h >> 18) % 100_000_000:08d}",
        "company": company,
        "website": f"https://www.{domain}.example",
        "city": city,
        "country": country,
        "jobtitle": JOB_TITLES[(h >> 45) & 15],
        "lifecyclestage": LIFECYCLE_WEIGHTED[(h >> 49) & 7],
        "hs_merged_object_ids": None,
    }
