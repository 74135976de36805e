"""The filterless REST simulator's HTTP API: the same orders behind one route per
pagination style. Page size from ``limit`` (default 10) unless a route names its own.

* ``GET  /none/orders``          ``{"orders": [...]}``: everything at once
* ``GET  /next_link/orders?limit&after``  ``{"data": [...], "links": {"next": relative},
  "@odata.nextLink": absolute, "meta": {"total": n}}``
* ``GET  /link_header/orders?per_page&since``  a bare list; ``Link: <...>; rel="next"``
* ``GET  /cursor/orders?limit&starting_after[&updated_since]``  Stripe: ``{"data", "has_more"}``
  (``updated_since``, ISO 8601: only what was updated since; the one change filter)
* ``POST /cursor_body/orders``    Notion: body ``{"page_size", "start_cursor"}``;
  ``{"results", "next_cursor", "has_more"}``
* ``GET  /page/orders?page&per_page``  ``{"items", "page", "total_pages", "total"}``
* ``GET  /offset/orders?offset&limit``  ``{"results", "total"}``
* ``GET  /orders/{id}``           200, 404 (never existed) or 410 (deleted)
* ``POST /oauth/token``           form: client_credentials, or refresh_token (rotated)
* ``POST /_sim/mutate`` ``{"op": create|update|delete|soft_delete, "id", "name"}``;
  ``GET /_sim/stats``; ``POST /_sim/faults`` (``RestFaults`` fields by name);
  ``POST /_sim/conditional`` ``{"on": bool}`` (ETags and 304s from now on, or not)
  ``GET /_sim/snapshot`` ``{"records": [...], "gone": [ids]}``: the collection now (not
  counted as an API request, no delay)

Every list page carries an ``ETag`` (of its body) and ``Last-Modified`` (the collection's
last change) unless ``conditional`` is off, and answers 304 to a matching
``If-None-Match`` / ``If-Modified-Since``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

import orjson
from aiohttp import web
from yarl import URL

from .state import RestSimulator

SIM: web.AppKey[RestSimulator] = web.AppKey("rest_simulator", RestSimulator)
DEFAULT_LIMIT = 10
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def _authorised(sim: RestSimulator, request: web.Request) -> bool:
    header = request.headers.get("Authorization", "")
    auth = sim.auth
    if auth.mode == "none":
        return True
    if auth.mode == "bearer":
        return header == f"Bearer {auth.bearer}"
    if auth.mode == "basic":
        expected = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
        return header == f"Basic {expected}"
    return header.startswith("Bearer ") and sim.token_valid(header[7:])


@web.middleware
async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Auth, request counting and request-numbered faults for the API routes."""
    if request.path.startswith(("/_sim/", "/oauth/")):
        return await handler(request)
    sim = request.app[SIM]
    sim.counters.requests += 1
    number = sim.counters.requests
    if sim.faults.delay_s:
        await asyncio.sleep(sim.faults.delay_s)
    if number in sim.faults.fail_on_request:
        return _json({"message": "simulated failure"}, 500)
    if number in sim.faults.rate_limit_on_request:
        retry = sim.faults.rate_limit_on_request[number]
        return _json({"message": "slow down"}, 429, {"Retry-After": retry})
    if number in sim.faults.unavailable_on_request:
        retry = sim.faults.unavailable_on_request[number]
        return _json({"message": "down for maintenance"}, 503, {"Retry-After": retry})
    if not _authorised(sim, request):
        return _json({"message": "unauthorised"}, 401)
    return await handler(request)


def _int(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be an integer") from None


def _page(
    request: web.Request,
    route: str,
    first: bool,
    body: Any,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Serve one list page: conditional headers, the 304, and the after-page faults."""
    sim = request.app[SIM]
    number = sim.served_page(route, first)
    if sim.faults.html_on_page == number:
        return web.Response(text="<html>upstream proxy error</html>", content_type="text/html")
    raw = orjson.dumps(body)
    headers = dict(headers or {})
    if sim.conditional:
        etag = f'"{hashlib.sha1(raw).hexdigest()}"'
        modified = formatdate(sim.changed_at, usegmt=True)
        headers.update({"ETag": etag, "Last-Modified": modified})
        if _not_modified(request, etag, sim.changed_at):
            sim.counters.not_modified += 1
            sim.after_page(number)
            return web.Response(status=304, headers=headers)
    sim.counters.pages += 1
    sim.after_page(number)
    return web.Response(body=raw, content_type="application/json", headers=headers)


def _not_modified(request: web.Request, etag: str, changed_at: float) -> bool:
    match = request.headers.get("If-None-Match")
    if match is not None:
        return etag in [t.strip() for t in match.split(",")]
    since = request.headers.get("If-Modified-Since")
    if since is None:
        return False
    try:
        return int(changed_at) <= parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError):
        return False


def _drop(sim: RestSimulator, route: str, first: bool) -> bool:
    """Whether this page loses its next link (a cut listing)."""
    number = 1 if first else sim.page_counts.get(route, 0) + 1
    return sim.faults.drop_next_on_page == number


async def list_none(request: web.Request) -> web.Response:
    return _page(request, "none", True, {"orders": request.app[SIM].ordered()})


async def list_next_link(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    limit = _int(request, "limit", DEFAULT_LIMIT)
    after = request.query.get("after")
    rows = sim.after(int(after) if after else None, limit)
    more = bool(sim.after(rows[-1]["id"], 1)) if rows else False
    next_after = after if sim.faults.repeat_cursor and after else (rows[-1]["id"] if rows else 0)
    link = f"/next_link/orders?limit={limit}&after={next_after}" if more else None
    if _drop(sim, "next_link", after is None):
        link = None
    body = {
        "data": rows,
        "links": {"next": link},
        "@odata.nextLink": str(request.url.join(URL(link))) if link else None,
        "meta": {"total": len(sim.records)},
    }
    return _page(request, "next_link", after is None, body)


async def list_link_header(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    limit = _int(request, "per_page", DEFAULT_LIMIT)
    since = request.query.get("since")
    rows = sim.after(int(since) if since else None, limit)
    headers = {}
    more = bool(sim.after(rows[-1]["id"], 1)) if rows else False
    if more and not _drop(sim, "link_header", since is None):
        nxt = since if sim.faults.repeat_cursor and since else rows[-1]["id"]
        url = request.url.with_query({"per_page": str(limit), "since": str(nxt)})
        headers["Link"] = f'<{url}>; rel="next", <{request.url.with_query({})}>; rel="first"'
    return _page(request, "link_header", since is None, rows, headers)


def _cursor_rows(
    sim: RestSimulator, after: int | None, limit: int, updated_since: str | None = None
) -> tuple[list[dict[str, Any]], bool]:
    if updated_since:  # the one server-side change filter this API has (cursor route)
        since = _instant(updated_since)
        changed = [r for r in sim.ordered() if _instant(r["updated_at"]) >= since]
        rest = [r for r in changed if after is None or r["id"] > after]
        return rest[:limit], len(rest) > limit
    rows = sim.after(after, limit + 1)
    return rows[:limit], len(rows) > limit


def _instant(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise web.HTTPBadRequest(text=f"not an ISO 8601 time: {text!r}") from None


async def list_cursor(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    start = request.query.get("starting_after")
    since = request.query.get("updated_since")
    rows, more = _cursor_rows(sim, int(start) if start else None, _int(request, "limit", 10), since)
    if _drop(sim, "cursor", start is None):
        more = False
    if sim.faults.repeat_cursor and start:
        rows, _ = _cursor_rows(sim, None, _int(request, "limit", 10))
    return _page(
        request, "cursor", start is None, {"object": "list", "data": rows, "has_more": more}
    )


async def list_cursor_body(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    query = await request.json() if request.can_read_body else {}
    size = int(query.get("page_size", DEFAULT_LIMIT))
    cursor = query.get("start_cursor")
    after = int(cursor.removeprefix("cur_")) if cursor else None
    rows, more = _cursor_rows(sim, after, size)
    next_cursor = f"cur_{rows[-1]['id']}" if more and rows else None
    if sim.faults.repeat_cursor and cursor:
        next_cursor = cursor
    if _drop(sim, "cursor_body", cursor is None):
        next_cursor = None
    body = {"object": "list", "results": rows, "next_cursor": next_cursor, "has_more": more}
    return _page(request, "cursor_body", cursor is None, body)


async def list_page(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    size = _int(request, "per_page", DEFAULT_LIMIT)
    page = 1 if sim.faults.ignore_page_param else _int(request, "page", 1)
    rows = sim.ordered()
    total_pages = (len(rows) + size - 1) // size
    if _drop(sim, "page", _int(request, "page", 1) == 1):
        total_pages = page  # the API claims this is the last page
    body = {
        "items": rows[(page - 1) * size : page * size],
        "page": page,
        "total_pages": total_pages,
        "total": len(rows),
    }
    return _page(request, "page", _int(request, "page", 1) == 1, body)


async def list_offset(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    limit = _int(request, "limit", DEFAULT_LIMIT)
    offset = 0 if sim.faults.ignore_page_param else _int(request, "offset", 0)
    rows = sim.ordered()
    body = {"results": rows[offset : offset + limit], "total": len(rows)}
    return _page(request, "offset", _int(request, "offset", 0) == 0, body)


async def get_item(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    try:
        rid = int(request.match_info["id"])
    except ValueError:
        return _json({"message": "not found"}, 404)
    if rid in sim.records:
        return _json(sim.records[rid])
    if rid in sim.gone:
        return _json({"message": "gone"}, 410)
    return _json({"message": "not found"}, 404)


async def token(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    sim.counters.token_requests += 1
    form = await request.post()
    auth = sim.auth
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    basic = request.headers.get("Authorization", "")
    if basic.startswith("Basic "):
        client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
    if (client_id, client_secret) != (auth.client_id, auth.client_secret):
        return _json({"error": "invalid_client"}, 401)
    grant = form.get("grant_type")
    auth.token_requests.append(str(grant))
    if grant == "client_credentials":
        return _json(sim.issue_token())
    if grant == "refresh_token":
        if form.get("refresh_token") != auth.refresh_token:
            return _json({"error": "invalid_grant"}, 400)
        answer = sim.issue_token()
        answer["refresh_token"] = sim.rotate_refresh_token()
        return _json(answer)
    return _json({"error": "unsupported_grant_type"}, 400)


async def mutate(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    body = await request.json()
    try:
        result = sim.mutate(str(body.get("op")), body.get("id"), body.get("name"))
    except KeyError:
        return _json({"message": f"no record {body.get('id')}"}, 404)
    except ValueError:
        return _json({"message": "op must be create, update, delete or soft_delete"}, 400)
    return _json(result)


async def stats(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    c = sim.counters
    return _json(
        {
            "requests": c.requests,
            "pages": c.pages,
            "not_modified": c.not_modified,
            "token_requests": c.token_requests,
            "records": len(sim.records),
            "conditional": sim.conditional,
        }
    )


async def set_conditional(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    body = await request.json()
    on = body.get("on") if isinstance(body, dict) else None
    if not isinstance(on, bool):
        return _json({"message": 'expected {"on": true} or {"on": false}'}, 400)
    sim.conditional = on
    return _json({"conditional": on})


async def snapshot(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    return _json({"records": sim.ordered(), "gone": sorted(sim.gone)})


async def set_faults(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    body = await request.json()
    for name, value in body.items():
        if not hasattr(sim.faults, name):
            return _json({"message": f"unknown fault {name}"}, 400)
        current = getattr(sim.faults, name)
        if isinstance(current, set):
            value = set(value)
        elif isinstance(current, dict):
            value = {int(k): v for k, v in value.items()}
        setattr(sim.faults, name, value)
    return _json({"ok": True})


def create_rest_app(sim: RestSimulator) -> web.Application:
    app = web.Application(middlewares=[gate])
    app[SIM] = sim
    app.router.add_get("/none/orders", list_none)
    app.router.add_get("/next_link/orders", list_next_link)
    app.router.add_get("/link_header/orders", list_link_header)
    app.router.add_get("/cursor/orders", list_cursor)
    app.router.add_post("/cursor_body/orders", list_cursor_body)
    app.router.add_get("/page/orders", list_page)
    app.router.add_get("/offset/orders", list_offset)
    app.router.add_get("/orders/{id}", get_item)
    app.router.add_post("/oauth/token", token)
    app.router.add_post("/_sim/mutate", mutate)
    app.router.add_get("/_sim/stats", stats)
    app.router.add_post("/_sim/faults", set_faults)
    app.router.add_post("/_sim/conditional", set_conditional)
    app.router.add_get("/_sim/snapshot", snapshot)
    return app
