"""The simulator's HTTP API: HubSpot CRM v3 contact routes over a :class:`HubSpotSimulator`.

Routes (every API route needs ``Authorization: Bearer <sim.token>``):

* ``GET  /crm/v3/objects/contacts``             list, keyset-paged by ascending id
* ``POST /crm/v3/objects/contacts/search``      search (``search.py``)
* ``POST /crm/v3/objects/contacts/batch/read``  up to 100 records by id, merges followed
* ``GET  /crm/v3/objects/contacts/{id}``        one record
* ``GET  /crm/v3/properties/contacts``          property definitions, as the catalogue is now

Simulator controls (``control.py``; no auth, no limits or faults, not logged):

* ``GET  /_sim/stats``          request counters (by route and by client), sizes, faults
* ``POST /_sim/faults``         set ``Faults`` fields by name: ``{"fail_next": 2, ...}``
* ``GET  /_sim/log?after=N``    API requests numbered above N: client, route, status, time
* ``POST /_sim/mutate``         one change to the account (``mutate.py``): create, update,
  archive, restore, gdpr_delete, merge, add_property
* ``GET  /_sim/snapshot``       every live record with every property, and the archived ids
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aiohttp import web

from . import control, handlers
from .app_keys import PROPERTIES_BODY, RATE_LIMITER, SIMULATOR, PropertiesBody
from .gate import SEARCH_ROUTE, api_gate
from .ratelimit import RateLimiter

if TYPE_CHECKING:
    from .state import HubSpotSimulator

# aiohttp refuses request lines over 8190 bytes with its own 400 before any handler runs;
# raise that so over-long URLs reach the gate and get HubSpot's 414 page instead.
MAX_REQUEST_LINE: Final = 1 << 20


def create_app(sim: HubSpotSimulator) -> web.Application:
    app = web.Application(
        middlewares=[api_gate],
        handler_args={"max_line_size": MAX_REQUEST_LINE},
    )
    app[SIMULATOR] = sim
    app[RATE_LIMITER] = RateLimiter()
    app[PROPERTIES_BODY] = PropertiesBody()
    app.router.add_get("/crm/v3/objects/contacts", handlers.list_contacts, name="list")
    app.router.add_post(
        "/crm/v3/objects/contacts/search", handlers.search_contacts, name=SEARCH_ROUTE
    )
    app.router.add_post(
        "/crm/v3/objects/contacts/batch/read", handlers.batch_read, name="batch_read"
    )
    app.router.add_get("/crm/v3/objects/contacts/{contact_id}", handlers.get_contact, name="get")
    app.router.add_get("/crm/v3/properties/contacts", handlers.list_properties, name="properties")
    app.router.add_get("/_sim/stats", control.stats, name="sim_stats")
    app.router.add_post("/_sim/faults", control.set_faults, name="sim_faults")
    app.router.add_get("/_sim/log", control.request_log, name="sim_log")
    app.router.add_post("/_sim/mutate", control.apply_mutation, name="sim_mutate")
    app.router.add_get("/_sim/snapshot", control.snapshot, name="sim_snapshot")
    return app
