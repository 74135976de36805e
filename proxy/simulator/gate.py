"""What every API request passes before its handler, in HubSpot's order.

1. the injected delay (``Faults.delay_seconds``), so clients can be timed out;
2. URL length: the edge answers 414 with an HTML page before anything else looks at it;
3. authentication: 401 ``INVALID_AUTHENTICATION`` without the right Bearer token;
4. rate limits: the request is counted in its window (search: 1 s, others: rolling 10 s),
   then an injected 429 (``rate_limit_next``) or a real one when over budget, with
   ``Retry-After`` from ``retry_after_raw`` (verbatim) or else ``retry_after_seconds``;
5. injected failures (``fail_next``), as if the edge could not reach HubSpot;
6. the handler; its ``ApiError`` becomes a JSON error.

Non-search responses that got past authentication carry the ``X-HubSpot-RateLimit-*``
headers (the interval as ``rate_interval_raw`` says when that is set); search responses
carry none, as HubSpot documents. Routes under ``/_sim/`` skip all
of this. ``HubSpotSimulator.requests`` counts answered requests by route name, plus ``429``
and ``error`` (every other non-2xx answer); ``HubSpotSimulator.request_log`` records every
API request with its client (``User-Agent``), route, status and arrival time
(``requestlog.py``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from aiohttp import web

from .app_keys import RATE_LIMITER, SIMULATOR
from .error_responses import ApiError, html_error, injected_failure, rate_limited, unauthorized
from .ratelimit import TEN_SECONDS_MS, Admission

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler

    from .faults import Faults
    from .state import HubSpotSimulator

SIM_PREFIX: Final = "/_sim/"
SEARCH_ROUTE: Final = "search"


@web.middleware
async def api_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(SIM_PREFIX):
        try:
            return await handler(request)
        except ApiError as error:
            return error.response()
    sim = request.app[SIMULATOR]
    # "schemas:v3" is an alias path of "schemas": one route to counters and the log.
    route = (request.match_info.route.name or "other").partition(":")[0]
    arrived = sim.monotonic()
    status = 500  # what aiohttp answers if the handler breaks
    try:
        response = await _answer(request, handler, sim)
        status = response.status
    except web.HTTPException as error:  # aiohttp's own 404/405 for routes that do not exist
        status = error.status
        sim.requests["error"] += 1
        raise
    finally:
        client = request.headers.get("User-Agent", "")
        sim.request_log.record(t=arrived, client=client, route=route, status=status)
    if status == 429:
        sim.requests["429"] += 1
    elif status >= 400:
        sim.requests["error"] += 1
    else:
        sim.requests[route] += 1
    return response


async def _answer(
    request: web.Request, handler: Handler, sim: HubSpotSimulator
) -> web.StreamResponse:
    faults = sim.faults
    if faults.delay_seconds > 0:
        await asyncio.sleep(faults.delay_seconds)
    if len(request.raw_path) > faults.max_url_length:
        return html_error(414)
    if request.headers.get("Authorization") != f"Bearer {sim.token}":
        return unauthorized()

    is_search = request.match_info.route.name == SEARCH_ROUTE
    admission = request.app[RATE_LIMITER].admit(
        search=is_search,
        now=sim.monotonic(),
        per_10s=faults.rate_limit_per_10s,
        search_per_second=faults.search_per_second,
    )
    if faults.rate_limit_next > 0 or not admission.allowed:
        injected = faults.rate_limit_next > 0
        if injected:
            faults.rate_limit_next -= 1
        # An injected 429 always looks like the 10-second one; a real one on search is the
        # per-second limit.
        limited = rate_limited(secondly=is_search and not injected)
        if faults.retry_after_raw is not None:
            limited.headers["Retry-After"] = faults.retry_after_raw
        elif faults.retry_after_seconds is not None:
            limited.headers["Retry-After"] = f"{faults.retry_after_seconds:g}"
        if not is_search:
            _add_rate_headers(limited, admission, faults, remaining=0)
        return limited

    if faults.fail_after > 0:
        faults.fail_after -= 1
    elif faults.fail_next > 0:
        faults.fail_next -= 1
        return injected_failure(faults.fail_status, html=faults.fail_html)

    try:
        response = await handler(request)
    except ApiError as error:
        response = error.response()
    if not is_search:
        _add_rate_headers(response, admission, faults, remaining=admission.remaining)
    return response


def _add_rate_headers(
    response: web.StreamResponse, admission: Admission, faults: Faults, *, remaining: int
) -> None:
    interval = faults.rate_interval_raw
    response.headers["X-HubSpot-RateLimit-Max"] = str(admission.max)
    response.headers["X-HubSpot-RateLimit-Remaining"] = str(remaining)
    response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = (
        str(TEN_SECONDS_MS) if interval is None else interval
    )
