"""The simulator's HTTP API: HubSpot CRM routes over a :class:`HubSpotSimulator`.

Routes (every API route needs ``Authorization: Bearer <sim.token>``); ``{type}`` is any
name of an object type (``contacts``, ``company``, ``0-3``, a custom object's name,
objectTypeId or fullyQualifiedName), the route name (in counters and the log) in brackets:

* ``GET  /crm/v3/objects/{type}``             [list] keyset-paged by ascending id
* ``POST /crm/v3/objects/{type}/search``      [search] (``search.py``)
* ``POST /crm/v3/objects/{type}/batch/read``  [batch_read] up to 100 records by id, merges followed
* ``GET  /crm/v3/objects/{type}/{id}``        [get] one record
* ``GET  /crm/v3/properties/{type}``          [properties] definitions, as the catalogue is now
* ``POST /crm/v4/associations/{from}/{to}/batch/read``  [associations] linked records
  (``associations_api.py``)
* ``GET  /crm-object-schemas/v3/schemas``      [schemas] the custom objects (also under
  ``/crm/v3/schemas``); ``…/schemas/{type}`` [schema] one of them

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

from . import associations_api, control, handlers
from .app_keys import PROPERTIES_BODIES, RATE_LIMITER, SIMULATOR, PropertiesBodies
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
    app[PROPERTIES_BODIES] = PropertiesBodies()
    objects = "/crm/v3/objects/{object_type}"
    app.router.add_get(objects, handlers.list_objects, name="list")
    app.router.add_post(f"{objects}/search", handlers.search_objects, name=SEARCH_ROUTE)
    app.router.add_post(f"{objects}/batch/read", handlers.batch_read, name="batch_read")
    app.router.add_get(f"{objects}/{{object_id}}", handlers.get_object, name="get")
    app.router.add_get(
        "/crm/v3/properties/{object_type}", handlers.list_properties, name="properties"
    )
    app.router.add_post(
        "/crm/v4/associations/{from_object_type}/{to_object_type}/batch/read",
        associations_api.batch_read,
        name="associations",
    )
    # Both paths HubSpot documents for schemas; the gate counts and logs a route under the
    # part of its name before ":", so the alias counts as the same route.
    for schemas, alias in (("/crm-object-schemas/v3/schemas", ""), ("/crm/v3/schemas", ":v3")):
        app.router.add_get(schemas, handlers.list_schemas, name=f"schemas{alias}")
        app.router.add_get(f"{schemas}/{{object_type}}", handlers.get_schema, name=f"schema{alias}")
    app.router.add_get("/_sim/stats", control.stats, name="sim_stats")
    app.router.add_post("/_sim/faults", control.set_faults, name="sim_faults")
    app.router.add_get("/_sim/log", control.request_log, name="sim_log")
    app.router.add_post("/_sim/mutate", control.apply_mutation, name="sim_mutate")
    app.router.add_get("/_sim/snapshot", control.snapshot, name="sim_snapshot")
    return app
