"""The simulator's HTTP API: HubSpot CRM v3 contact routes over a :class:`HubSpotSimulator`.

Routes (every API route needs ``Authorization: Bearer <sim.token>``):

* ``GET  /crm/v3/objects/contacts``           list, keyset-paged by ascending id
* ``POST /crm/v3/objects/contacts/search``    search (``search.py``)
* ``POST /crm/v3/objects/contacts/batch/read`` up to 100 records by id (``?archived=true``)
* ``GET  /crm/v3/objects/contacts/{id}``      one record
* ``GET  /crm/v3/properties/contacts``        property definitions
* ``GET  /_sim/stats``, ``POST /_sim/faults`` simulator controls, no auth
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
    return app
