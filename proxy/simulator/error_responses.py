"""The error bodies HubSpot sends, JSON from the API and HTML from its edge.

Every JSON error carries a fresh ``correlationId`` (HubSpot's per-request support id).
"""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Any, Final

import orjson
from aiohttp import web

AUTH_MESSAGE: Final = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
TEN_SECONDLY_MESSAGE: Final = "You have reached your ten_secondly_rolling limit."
SECONDLY_MESSAGE: Final = "You have reached your secondly limit."

# Statuses HubSpot (via Cloudflare) sends that http.HTTPStatus does not know.
_EXTRA_PHRASES: Final = {
    477: "Migration in Progress",
    521: "Web Server Is Down",
    522: "Connection Timed Out",
    523: "Origin Is Unreachable",
    524: "A Timeout Occurred",
}


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return _EXTRA_PHRASES.get(status, "Error")


class ApiError(Exception):
    """Raised by handlers; the gate turns it into HubSpot's JSON error body."""

    def __init__(self, status: int, message: str, category: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category

    def response(self) -> web.Response:
        return json_error(self.status, self.message, category=self.category)


def json_response(payload: Any, *, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload),
        status=status,
        reason=reason_phrase(status),
        content_type="application/json",
    )


def json_error(status: int, message: str, **fields: Any) -> web.Response:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), **fields}
    return json_response(body, status=status)


def html_error(status: int) -> web.Response:
    """An edge (load balancer) error page: not JSON, as clients must be ready for."""
    reason = reason_phrase(status)
    return web.Response(
        text=f"<html><body><h1>{status} {reason}</h1></body></html>",
        status=status,
        reason=reason,
        content_type="text/html",
    )


def unauthorized() -> web.Response:
    return json_error(401, AUTH_MESSAGE, category="INVALID_AUTHENTICATION")


def rate_limited(*, secondly: bool) -> web.Response:
    """429 for the search per-second budget (``secondly``) or the rolling 10 s budget."""
    if secondly:
        return json_error(429, SECONDLY_MESSAGE, errorType="RATE_LIMIT", policyName="SECONDLY")
    return json_error(
        429, TEN_SECONDLY_MESSAGE, errorType="RATE_LIMIT", policyName="TEN_SECONDLY_ROLLING"
    )


def injected_failure(status: int, *, html: bool) -> web.Response:
    if html:
        return html_error(status)
    return json_error(
        status, f"{reason_phrase(status)} (injected by the simulator)", category="UNKNOWN"
    )
