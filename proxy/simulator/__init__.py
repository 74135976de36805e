"""A HubSpot CRM simulator served over real HTTP: contacts, companies, deals, tickets,
products and line items.

Tests and ``change-proxy demo`` point the proxy's HubSpot base URL at it::

    sim = HubSpotSimulator(clock=ManualClock(1_700_000_000_000))
    sim.create_contacts(500)
    client = await aiohttp_client(create_app(sim))   # Authorization: Bearer sim-token
    sim.faults.rate_limit_next = 1                    # misbehave on the next request
    sim.archive("17"); sim.merge("3", "4")            # "someone changed HubSpot"
    sim.add_property("new_field")                     # an admin added a field
    sim.objects("companies").create(50)               # any other type: its own store
    sim.associate("contacts", "1", "companies", "7", primary=True)
    sim.define_custom_object("pets", ["pet_name", "species"])

A simulator run as a process (``__main__``) is steered the same way over ``/_sim/`` routes
(``control``, ``mutate``), and logs which client called the API when (``requestlog``).

Module map: ``state`` (the account: one store per type, shared faults and limits),
``store`` (one type's records and their operations), ``object_types`` and
``standard_types`` (what a type is, the names a path may give it, HubSpot's standard
types with their properties and values), ``schemas`` (custom objects), ``associations``
(links between records and their types) and ``associations_api`` (the v4 batch read),
``seeding`` (links for a seeded process), ``search`` (search semantics and
the 10,000-result cap), ``faults`` (fault switches), ``ratelimit`` (budgets), ``pause``
(hold list requests mid-listing, in-process), ``gate`` (auth, limits and faults before
each handler), ``handlers`` (HTTP endpoints), ``control``
and ``mutate`` (the ``/_sim/`` routes that steer a simulator running as a process),
``requestlog`` (which client called when), ``catalogue`` and ``generate`` (property
definitions and fake values), ``churn`` (the demo's background activity), ``__main__``
(standalone process).
"""

from .app import create_app
from .clock import Clock, ManualClock, WallClock
from .faults import Faults
from .state import HubSpotSimulator

__all__ = ["Clock", "Faults", "HubSpotSimulator", "ManualClock", "WallClock", "create_app"]
