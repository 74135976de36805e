"""Bearer-token checks, compared in constant time."""

from __future__ import annotations

import hmac

from aiohttp import web

from proxy.api.errors import json_error


def bearer_token(request: web.Request) -> bytes | None:
    """The request's Bearer token as bytes. aiohttp hands over header bytes that are not
    UTF-8 as surrogate escapes; they are compared as the bytes they were (and can never
    match a token that is valid UTF-8), instead of failing to encode."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip().encode("utf-8", "surrogateescape")


def check_bearer(request: web.Request, expected: str) -> web.Response | None:
    """None when the request carries ``expected`` as its Bearer token, else the 401 to send."""
    given = bearer_token(request)
    if given is not None and hmac.compare_digest(given, expected.encode()):
        return None
    return json_error(401, "missing or wrong bearer token", **{"WWW-Authenticate": "Bearer"})
