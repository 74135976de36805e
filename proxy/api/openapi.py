"""``GET /openapi.json``: an OpenAPI 3.1 description of every route the app serves.

Built from the settings, because the routes are: each of ``OBJECT_TYPES`` has its two feed
paths, and the feed asks for a token only while ``FEED_TOKEN`` is set. The shapes of run
records and of the upstream budget are read off their dataclasses, so a field added there
shows up here. Everything else is spelled out below, next to what each handler answers;
``tests/api/test_openapi.py`` checks that this description and ``app.router`` name the same
routes, and the schemathesis tier (``tests/api/test_schemathesis.py``) that the responses of
the running service match it.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import types
import typing
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from proxy.api import console
from proxy.api.auth import ADMIN_TOKEN_HEADER, WWW_AUTHENTICATE
from proxy.api.errors import MAX_REQUEST_BODY
from proxy.api.params import BIGINT_MAX, INT_MAX
from proxy.config import Settings
from proxy.sources.configured import feed_names
from proxy.sources.ratelimit import Budget
from proxy.store.runs import STATUSES, RunRecord
from proxy.sync import MODES

OPENAPI_PATH = "/openapi.json"
OPENAPI_VERSION = "3.1.0"

Schema = dict[str, Any]

_JSON = "application/json"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def closed_object(properties: dict[str, Schema], *, description: str | None = None) -> Schema:
    """An object with exactly these properties, all present (values may still be null).
    Closed, so that a field a handler adds without describing it fails the schemathesis
    tier instead of going unnoticed."""
    out: Schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    if description:
        out["description"] = description
    return out


_SCALARS: dict[object, Schema] = {
    int: {"type": "integer"},
    float: {"type": "number"},
    str: {"type": "string"},
    bool: {"type": "boolean"},
    # The handlers send datetimes as isoformat() strings.
    datetime: {"type": "string", "format": "date-time"},
}


def type_schema(annotation: object) -> Schema:
    """The JSON Schema of a dataclass field's type as the admin handlers serialize it."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        others = [a for a in args if a is not type(None)]
        if len(others) != 1:
            raise TypeError(f"no JSON schema for {annotation!r}")
        inner = type_schema(others[0])
        return nullable(inner) if type(None) in args else inner
    if typing.get_origin(annotation) is list:
        return {"type": "array", "items": type_schema(args[0])}
    if annotation in _SCALARS:
        return dict(_SCALARS[annotation])
    raise TypeError(f"no JSON schema for {annotation!r}")


def dataclass_schema(
    cls: type[Any],
    *,
    rename: dict[str, str] | None = None,
    override: dict[str, Schema] | None = None,
    description: str | None = None,
) -> Schema:
    """A closed object schema with one property per field of ``cls`` (as ``asdict`` gives
    it), renamed and overridden where the handler does so."""
    rename, override = rename or {}, override or {}
    hints = typing.get_type_hints(cls)
    properties = {
        rename.get(f.name, f.name): override.get(f.name) or type_schema(hints[f.name])
        for f in dataclasses.fields(cls)
    }
    return closed_object(properties, description=description)


# --- components ----------------------------------------------------------------------------


def _per_object_type(settings: Settings, schema: Schema) -> Schema:
    """An object keyed by every configured object type."""
    return closed_object(dict.fromkeys(feed_names(settings), schema))


def _schemas(settings: Settings) -> dict[str, Schema]:
    run = dataclass_schema(
        RunRecord,
        rename={"object_type": "object"},
        override={
            "mode": {"type": "string", "enum": list(MODES)},
            "status": {
                "type": "string",
                "enum": list(STATUSES),
                "description": "coalesced: not run, another run did what it asked for "
                "(scan_run_id names it)",
            },
            "scan_run_id": {
                **nullable({"type": "integer"}),
                "description": "full and verify runs: the run that began the scan this run "
                "carried on (itself if new); a coalesced run: the run that satisfied it",
            },
        },
        description="A sync run (``proxy.api.admin.run_json``).",
    )
    health = closed_object(
        {
            "healthy": {"type": "boolean"},
            "worker_alive": {"type": "boolean"},
            "this_process_syncs": {"type": "boolean"},
            "syncing": {"type": "boolean"},
            "sync_process": nullable({"type": "string"}),
            "last_success_at": nullable({"type": "string", "format": "date-time"}),
            "held_deletions": {"type": "integer", "minimum": 0},
            "problems": {"type": "array", "items": {"type": "string"}},
        },
        description="Whether the object type's sync works (``ObjectHealth.as_json``).",
    )
    health_object = copy.deepcopy(health)
    health_object["properties"] = {
        "ready": {"type": "boolean", "description": "the first full sync has finished"},
        "last_updated": {"type": "integer", "minimum": 0},
        **health["properties"],
    }
    health_object["required"] = list(health_object["properties"])
    health_object["description"] = "An object type in /health: readiness, then sync health."
    held = closed_object(
        {
            "run_id": {"type": "integer"},
            "count": {"type": "integer", "minimum": 1},
            "held_at": nullable({"type": "string", "format": "date-time"}),
            "ids": {"type": "array", "items": {"type": "string"}},
            "why": {"type": "string"},
        },
        description="Deletions a full scan held for an operator (the mass-deletion guard).",
    )
    object_status = closed_object(
        {
            "modes": {
                "type": "array",
                "items": {"type": "string", "enum": list(MODES)},
                "description": "the modes POST /admin/resync takes for it",
            },
            "ready": {"type": "boolean"},
            "live": {"type": "integer", "minimum": 0},
            "deleted": {"type": "integer", "minimum": 0},
            "last_updated": {"type": "integer", "minimum": 0},
            "watermark": nullable({"type": "string", "format": "date-time"}),
            "scan_in_progress": nullable(
                closed_object(
                    {
                        "run_id": {"type": "integer"},
                        "started_at": nullable({"type": "string", "format": "date-time"}),
                    }
                )
            ),
            **{f"last_{mode}_run": nullable(ref("Run")) for mode in MODES},
            "held_deletions": nullable(ref("HeldDeletions")),
            "health": ref("ObjectHealth"),
            "upstream": nullable(ref("Upstream")),
            "running_run_id": nullable({"type": "integer"}),
            "queued_run_ids": {"type": "array", "items": {"type": "integer"}},
            "next_runs": closed_object(
                {mode: nullable({"type": "string", "format": "date-time"}) for mode in MODES}
            ),
            "worker": closed_object(
                {
                    "alive": {"type": "boolean"},
                    "holds_lease": {"type": "boolean"},
                    "last_error": nullable({"type": "string"}),
                }
            ),
        }
    )
    return {
        "Error": closed_object(
            {"error": {"type": "string"}}, description="Every error response of this service."
        ),
        "Entity": {
            "type": "object",
            "description": "A record as HubSpot returned it, plus the feed's three fields. "
            "Tombstones (``_deleted`` true) keep their last known data.",
            "properties": {
                "_id": {"type": "string", "description": "the record's id (= ``id``)"},
                "_updated": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "the record's change number: pass the last one seen as "
                    "``since``",
                },
                "_deleted": {"type": "boolean"},
                "id": {"type": "string"},
                "properties": {
                    "type": "object",
                    "additionalProperties": nullable({"type": "string"}),
                },
                "createdAt": {"type": "string"},
                "updatedAt": {"type": "string"},
                "archived": {"type": "boolean"},
                "archivedAt": {"type": "string"},
            },
            "required": ["_id", "_updated", "_deleted"],
            # HubSpot's own fields vary by object type and API version.
            "additionalProperties": True,
        },
        "Run": run,
        "ObjectHealth": health,
        "HealthObject": health_object,
        "Health": {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["ok", "error"]},
                "database": {
                    "type": "string",
                    "description": '"ok", or "unreachable (<error class>)"',
                },
                "objects": _per_object_type(settings, ref("HealthObject")),
            },
            # Without a database there is nothing to say about the objects.
            "required": ["status", "database"],
            "additionalProperties": False,
        },
        "HeldDeletions": held,
        "ObjectStatus": object_status,
        "Budget": dataclass_schema(
            Budget, description="What HubSpot last announced in X-HubSpot-RateLimit-* headers."
        ),
        "Upstream": closed_object(
            {
                "requests_in_window": {"type": "integer", "minimum": 0},
                "window_seconds": {"type": "number"},
                "allowed_per_window": {"type": "integer", "minimum": 1},
                "last_announced": nullable(ref("Budget")),
            },
            description="A request budget: what was sent in the current window, of how many.",
        ),
        "Status": closed_object(
            {
                "objects": _per_object_type(settings, ref("ObjectStatus")),
                "upstream": ref("Upstream"),
            }
        ),
    }


def _header(description: str, schema: Schema | None = None) -> Schema:
    return {"description": description, "required": True, "schema": schema or {"type": "string"}}


def error(description: str, **headers: Schema) -> Schema:
    out: Schema = {"description": description, "content": {_JSON: {"schema": ref("Error")}}}
    if headers:
        out["headers"] = headers
    return out


def json_body(
    description: str, schema: Schema, *, links: dict[str, Schema] | None = None
) -> Schema:
    out: Schema = {"description": description, "content": {_JSON: {"schema": schema}}}
    if links:
        out["links"] = links
    return out


def _link(operation_id: str, **parameters: str) -> Schema:
    """Where a response's values lead (schemathesis follows these in its stateful phase)."""
    return {"operationId": operation_id, "parameters": parameters}


def response_ref(name: str) -> Schema:
    return {"$ref": f"#/components/responses/{name}"}


def _responses() -> dict[str, Schema]:
    """Answers that many operations share."""
    return {
        "Unauthorized": error(
            "The token is missing or wrong.",
            **{
                "WWW-Authenticate": _header(
                    "the schemes the token may come in; only Bearer to a request that sent "
                    f"{ADMIN_TOKEN_HEADER} (the console: a browser would answer a Basic "
                    "challenge with its own login dialog)",
                    {"type": "string", "enum": [WWW_AUTHENTICATE, "Bearer"]},
                )
            },
        ),
        "AdminDisabled": error("Admin routes are disabled: ADMIN_TOKEN is not set."),
        "PayloadTooLarge": error(
            f"The request carries a body over {MAX_REQUEST_BODY} bytes (no route takes a body)."
        ),
        # Not referenced by any operation: it answers the methods a path does *not* list.
        "MethodNotAllowed": error(
            "The path does not take this method.",
            Allow=_header("the methods the path takes, comma-separated"),
        ),
        # Any operation can answer this: the error middleware turns an unexpected exception
        # in a handler into a JSON 500.
        "InternalError": error("An unexpected error; the service log has the traceback."),
    }


# Every operation: a body is read (and bounded) before any handler runs.
_COMMON = {"413": response_ref("PayloadTooLarge"), "500": response_ref("InternalError")}


def _param(name: str, where: str, schema: Schema, description: str, *, required: bool) -> Schema:
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema,
    }


# --- operations ----------------------------------------------------------------------------


def _feed_operation(object_type: str, settings: Settings, operation_id: str) -> Schema:
    responses: dict[str, Schema] = {
        "200": json_body(
            f"The {object_type} changed after ``since``, ascending by ``_updated``, "
            "streamed. A failure after streaming began cuts the connection before the "
            "closing ``]``, so the body is never a shorter valid array.",
            {"type": "array", "items": ref("Entity")},
        ),
        "400": error(
            "``since`` or ``limit`` is malformed, or ``since`` is ahead of the feed (the "
            "mirror database was replaced: reset the pipe)."
        ),
        "503": error(
            "The object type's first full sync has not finished: never an empty 200 for an "
            "incomplete mirror.",
            **{"Retry-After": _header("seconds to wait", {"type": "integer", "minimum": 1})},
        ),
        **_COMMON,
    }
    operation: Schema = {
        "operationId": operation_id,
        "tags": ["feed"],
        "summary": f"The {object_type} feed (Sesam JSON pull)",
        "parameters": [
            _param(
                "since",
                "query",
                {
                    "oneOf": [
                        {"type": "integer", "minimum": 0, "maximum": BIGINT_MAX},
                        {"type": "string", "format": "date-time"},
                    ]
                },
                "an ``_updated`` value this feed emitted; absent means from the beginning. "
                "An ISO 8601 time (what Sesam's HubSpot tutorial service emitted) answers "
                "with every entity changed at or after it, so a pipe switches over without "
                "a reset",
                required=False,
            ),
            _param(
                "limit",
                "query",
                {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX},
                "at most this many entities; absent means all",
                required=False,
            ),
        ],
        "responses": responses,
    }
    if settings.feed_token:
        operation["security"] = [{"feedToken": []}, {"feedBasic": []}]
        responses["401"] = response_ref("Unauthorized")
    else:
        operation["security"] = []
    return operation


def _object_param(settings: Settings, *, required: bool | None = None) -> Schema:
    # The handlers take the only object type when there is just one and none is named.
    one = len(feed_names(settings)) == 1
    return _param(
        "object",
        "query",
        {"type": "string", "enum": list(feed_names(settings))},
        "the object type" + ("; default: the only one configured" if one else ""),
        required=not one if required is None else required,
    )


def _run_id_param(where: str, description: str) -> Schema:
    return _param(
        "run_id",
        where,
        {"type": "integer", "minimum": 1, "maximum": INT_MAX},
        description,
        required=True,
    )


def _admin(
    enabled: bool, operation_id: str, summary: str, responses: dict[str, Schema], **extra: Any
) -> Schema:
    """An admin operation. While ADMIN_TOKEN is unset the auth middleware answers every admin
    request with 403 before any handler runs, so that is all such a service can answer."""
    operation: Schema = {"operationId": operation_id, "tags": ["admin"], "summary": summary}
    if enabled:
        operation["security"] = [{"adminToken": []}, {"adminBasic": []}, {"adminHeader": []}]
        responses = {**responses, "401": response_ref("Unauthorized")}
    else:
        operation["description"] = "Disabled: ADMIN_TOKEN is not set."
        operation["security"] = []
        responses = {"403": response_ref("AdminDisabled")}
    return {**operation, **extra, "responses": {**responses, **_COMMON}}


def _admin_paths(settings: Settings) -> dict[str, Schema]:
    bad_request = error("A parameter is missing, malformed or out of range.")
    held_run = _run_id_param("query", "the run whose held deletions you reviewed")
    admin = functools.partial(_admin, bool(settings.admin_token))
    return {
        "/admin/resync": {
            "post": admin(
                "resync",
                "Queue a sync run (or return the one of this mode already waiting)",
                {
                    "202": json_body(
                        "Queued.",
                        closed_object({"run_id": {"type": "integer", "minimum": 1}}),
                        links={"run": _link("get_run", run_id="$response.body#/run_id")},
                    ),
                    "400": bad_request,
                },
                parameters=[
                    _object_param(settings),
                    _param(
                        "mode",
                        "query",
                        {"type": "string", "enum": list(MODES)},
                        "full: list everything, reconcile, delete what is gone; "
                        "incremental: search what changed since the watermark",
                        required=True,
                    ),
                ],
            )
        },
        "/admin/runs": {
            "get": admin(
                "list_runs",
                "The most recent sync runs, newest first",
                {
                    "200": json_body(
                        "The runs.",
                        closed_object({"runs": {"type": "array", "items": ref("Run")}}),
                        links={"newest": _link("get_run", run_id="$response.body#/runs/0/id")},
                    ),
                    "400": bad_request,
                },
                parameters=[
                    _object_param(settings, required=False),
                    _param(
                        "limit",
                        "query",
                        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
                        "how many runs",
                        required=False,
                    ),
                ],
            )
        },
        "/admin/runs/{run_id}": {
            "get": admin(
                "get_run",
                "One sync run",
                {
                    "200": json_body("The run.", ref("Run")),
                    "400": error("The run id is not an integer from 1 to 2^31-1."),
                    "404": error("No such run."),
                },
                parameters=[_run_id_param("path", "the run's id")],
            )
        },
        "/admin/status": {
            "get": admin(
                "status",
                "Per object type: counts, readiness, runs, held deletions, health, the "
                "schedule; the upstream request budget",
                {"200": json_body("The status.", ref("Status"))},
            )
        },
        "/admin/record": {
            "get": admin(
                "record",
                "One record as the feed serves it, and when and by which run it last changed",
                {
                    "200": json_body(
                        "The record.",
                        closed_object(
                            {
                                "object": {"type": "string"},
                                "id": {"type": "string"},
                                "entity": {"type": "object"},
                                "updated": {"type": "integer"},
                                "deleted": {"type": "boolean"},
                                "changed_at": {"type": "string", "format": "date-time"},
                                "first_seen_at": {"type": "string", "format": "date-time"},
                                "changed_by_run_id": nullable({"type": "integer"}),
                            }
                        ),
                    ),
                    "400": bad_request,
                    "404": error("The mirror has no such record."),
                },
                parameters=[
                    _object_param(settings),
                    _param("id", "query", {"type": "string"}, "the record's _id", required=True),
                ],
            )
        },
        "/admin/activity": {
            "get": admin(
                "activity",
                "The last 24 hours by the hour (what the feed's runs changed and requested), "
                "and the requests of its last 30 runs",
                {
                    "200": json_body(
                        "The activity.",
                        closed_object(
                            {
                                "object": {"type": "string"},
                                "hours": {
                                    "type": "array",
                                    "items": closed_object(
                                        {
                                            "start": {"type": "string", "format": "date-time"},
                                            **{
                                                k: {"type": "integer", "minimum": 0}
                                                for k in (
                                                    "created",
                                                    "updated",
                                                    "deleted",
                                                    "runs",
                                                    "requests",
                                                )
                                            },
                                        }
                                    ),
                                },
                                "runs": {
                                    "type": "array",
                                    "items": closed_object(
                                        {
                                            "id": {"type": "integer"},
                                            "mode": {"type": "string"},
                                            "status": {"type": "string"},
                                            "requests": {"type": "integer", "minimum": 0},
                                            "started_at": nullable(
                                                {"type": "string", "format": "date-time"}
                                            ),
                                        }
                                    ),
                                },
                            }
                        ),
                    ),
                    "400": bad_request,
                },
                parameters=[_object_param(settings)],
            )
        },
        "/admin/changes": {
            "get": admin(
                "changes",
                "The feed's latest changes, newest first (each record's latest)",
                {
                    "200": json_body(
                        "The changes.",
                        closed_object(
                            {
                                "object": {"type": "string"},
                                "changes": {
                                    "type": "array",
                                    "items": closed_object(
                                        {
                                            "id": {"type": "string"},
                                            "kind": {
                                                "type": "string",
                                                "enum": ["created", "updated", "deleted"],
                                            },
                                            "updated": {"type": "integer"},
                                            "changed_at": {"type": "string", "format": "date-time"},
                                            "run_id": nullable({"type": "integer"}),
                                        }
                                    ),
                                },
                            }
                        ),
                    ),
                    "400": bad_request,
                },
                parameters=[
                    _object_param(settings),
                    _param(
                        "limit",
                        "query",
                        {"type": "integer", "minimum": 1, "maximum": 1000},
                        "how many (default 50)",
                        required=False,
                    ),
                ],
            )
        },
        "/admin/deletions": {
            "get": admin(
                "held_deletions",
                "The deletions a full scan held for an operator, if any",
                {
                    "200": json_body(
                        "What is held (``held`` is null when nothing is).",
                        closed_object(
                            {"object": {"type": "string"}, "held": nullable(ref("HeldDeletions"))}
                        ),
                        links={
                            verb: _link(
                                f"{verb}_deletions",
                                object="$response.body#/object",
                                run_id="$response.body#/held/run_id",
                            )
                            for verb in ("confirm", "discard")
                        },
                    ),
                    "400": bad_request,
                },
                parameters=[_object_param(settings)],
            )
        },
        "/admin/deletions/confirm": {
            "post": admin(
                "confirm_deletions",
                "Apply the deletions a run held",
                {
                    "200": json_body(
                        "Applied.",
                        closed_object(
                            {
                                "object": {"type": "string"},
                                "run_id": {"type": "integer"},
                                "deleted": {"type": "integer", "minimum": 0},
                                "already_deleted": {"type": "integer", "minimum": 0},
                                "skipped": closed_object(
                                    {
                                        "count": {"type": "integer", "minimum": 0},
                                        "ids": {"type": "array", "items": {"type": "string"}},
                                        "why": {"type": "string"},
                                    },
                                    description="Held records seen by a run, or changed, "
                                    "since they were held: kept live (the first 100 ids).",
                                ),
                            }
                        ),
                    ),
                    "400": bad_request,
                    "404": error("That run holds no deletions of the object type."),
                    "409": json_body(
                        "Refused, nothing changed: a run of the object type is running, or "
                        "a full scan is unfinished. Confirm again after it.",
                        closed_object(
                            {
                                "error": {"type": "string"},
                                "running_run": nullable(
                                    closed_object(
                                        {
                                            "id": {"type": "integer"},
                                            "mode": {"type": "string"},
                                            "started_at": nullable(
                                                {"type": "string", "format": "date-time"}
                                            ),
                                        }
                                    )
                                ),
                                "scan_in_progress": nullable(
                                    closed_object(
                                        {
                                            "run_id": {"type": "integer"},
                                            "started_at": nullable(
                                                {"type": "string", "format": "date-time"}
                                            ),
                                        }
                                    )
                                ),
                            }
                        ),
                    ),
                },
                parameters=[_object_param(settings), held_run],
            )
        },
        "/admin/deletions/discard": {
            "post": admin(
                "discard_deletions",
                "Drop the deletions a run held without applying them",
                {
                    "200": json_body(
                        "Dropped.",
                        closed_object(
                            {
                                "object": {"type": "string"},
                                "run_id": {"type": "integer"},
                                "discarded": {"type": "integer", "minimum": 1},
                            }
                        ),
                    ),
                    "400": bad_request,
                    "404": error("That run holds no deletions of the object type."),
                },
                parameters=[_object_param(settings), held_run],
            )
        },
    }


def _service_paths() -> dict[str, Schema]:
    return {
        "/health": {
            "get": {
                "operationId": "health",
                "tags": ["service"],
                "summary": "Database reachability and per-object readiness and sync health",
                "security": [],
                "responses": {
                    "200": json_body("The database answers and every sync works.", ref("Health")),
                    "503": json_body(
                        "The database is unreachable (no ``objects``), or a sync worker is "
                        "dead or runs stopped succeeding (``problems`` says which).",
                        ref("Health"),
                    ),
                    **_COMMON,
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "tags": ["service"],
                "summary": "Prometheus metrics",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The Prometheus text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_COMMON,
                },
            }
        },
        **{
            f"/admin/{path}": {
                "get": {
                    "operationId": f"console_{name.replace('.', '_')}",
                    "tags": ["console"],
                    "summary": f"The ops console's {name} (no data; served without a token)",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": name,
                            "content": {content_type.split(";")[0]: {"schema": {"type": "string"}}},
                        },
                        **_COMMON,
                    },
                }
            }
            for path, (name, content_type) in console.FILES.items()
        },
        "/admin": {
            "get": {
                "operationId": "console_redirect",
                "tags": ["console"],
                "summary": "Redirects to the console, admin/ (relative: it holds under a prefix)",
                "security": [],
                "responses": {"301": {"description": "To admin/."}, **_COMMON},
            }
        },
        OPENAPI_PATH: {
            "get": {
                "operationId": "openapi",
                "tags": ["service"],
                "summary": "This description",
                "security": [],
                "responses": {
                    "200": json_body("An OpenAPI 3.1 document.", {"type": "object"}),
                    **_COMMON,
                },
            }
        },
    }


def _head_of(get: Schema) -> Schema:
    """aiohttp answers HEAD on every GET route: the same statuses and headers, no body."""
    head = copy.deepcopy(get)
    head["operationId"] = f"{get['operationId']}_head"
    head["summary"] = f"{get['summary']} (headers only)"
    for response in head["responses"].values():
        response.pop("content", None)
        response.pop("links", None)
    return head


def build(settings: Settings) -> Schema:
    """The OpenAPI document for an app created with ``settings``."""
    paths: dict[str, Schema] = {}
    for object_type in feed_names(settings):
        for path, operation_id in (
            (f"/{object_type}", f"{object_type}_feed"),
            (f"/get_{object_type}", f"get_{object_type}_feed"),
        ):
            paths[path] = {"get": _feed_operation(object_type, settings, operation_id)}
    paths.update(_service_paths())
    paths.update(_admin_paths(settings))
    for item in paths.values():
        if "get" in item:
            item["head"] = _head_of(item["get"])
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "change-proxy",
            "version": _version(),
            "description": "HubSpot CRM objects mirrored into SQL, served as Sesam JSON-pull "
            'feeds, plus admin routes. Every error is ``{"error": …}`` JSON; a method a '
            "path does not list answers 405 with ``Allow`` (401 or 403 first under "
            "``/admin/``).",
        },
        "tags": [
            {"name": "feed", "description": "Sesam JSON pull, one feed per object type"},
            {"name": "admin", "description": "Operator routes (ADMIN_TOKEN)"},
            {"name": "service", "description": "Health, metrics, this description"},
        ],
        "paths": paths,
        "components": {
            "schemas": _schemas(settings),
            "responses": _responses(),
            "securitySchemes": {
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "ADMIN_TOKEN (admin routes answer only 403 while it is unset)",
                },
                "adminBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "ADMIN_TOKEN as the password, any user name",
                },
                "adminHeader": {
                    "type": "apiKey",
                    "in": "header",
                    "name": ADMIN_TOKEN_HEADER,
                    "description": "ADMIN_TOKEN, for requests through a Sesam node's system "
                    "proxy (its Authorization header carries the node's JWT)",
                },
                "feedToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "FEED_TOKEN; the feed asks for it only while it is set",
                },
                "feedBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "FEED_TOKEN as the password, any user name (how a Sesam "
                    "microservice system authenticates)",
                },
            },
        },
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("change-proxy")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0"


def operations(document: Schema) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation the document describes."""
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in _METHODS
    }


def add_routes(app: web.Application, settings: Settings) -> None:
    # Built once: the routes cannot change after the app is created.
    body = orjson.dumps(build(settings))

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=_JSON)

    app.router.add_get(OPENAPI_PATH, openapi)
