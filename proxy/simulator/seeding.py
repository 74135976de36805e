"""Filling a simulator run as a process: records of several types and links between them.

``python -m proxy.simulator --contacts 3000 --companies 500 --deals 800 --associate`` ends
up with an account that looks worked in: :func:`associate_all` links each contact to a
primary company, each deal to a contact and a company, each ticket to a contact, each line
item to a deal, and each custom object record to a contact (where those types have
records). The choices come from ``rng``, so a seed gives the same links every time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import random

    from .state import HubSpotSimulator

#: (from type, to type, primary): every live record of the first gets one of the second.
SEEDED_LINKS: Final = (
    ("contacts", "companies", True),
    ("deals", "contacts", False),
    ("deals", "companies", True),
    ("tickets", "contacts", False),
    ("line_items", "deals", False),
)


def associate_all(sim: HubSpotSimulator, rng: random.Random) -> int:
    """Link the records as the module says; returns how many links were made."""
    plan = list(SEEDED_LINKS)
    plan.extend((name, "contacts", False) for name in sim.custom_objects)
    made = 0
    for from_type, to_type, primary in plan:
        targets = sim.objects(to_type).live_ids()
        if not targets:
            continue
        for from_id in sim.objects(from_type).live_ids():
            sim.associate(from_type, from_id, to_type, rng.choice(targets), primary=primary)
            made += 1
    return made
