"""Token checks, compared in constant time.

A token travels as ``Authorization: Bearer <token>``, or as the password of HTTP Basic auth
(any user name): a Sesam microservice system authenticates to its service only with Basic
or Digest, so that is how Sesam presents FEED_TOKEN. The admin token may also come in an
``X-Admin-Token`` header, for requests through a Sesam node's system proxy, whose own
``Authorization`` header carries the node's JWT.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web

from proxy.api.errors import json_error

ADMIN_TOKEN_HEADER = "X-Admin-Token"
WWW_AUTHENTICATE = 'Bearer, Basic realm="change-proxy"'


def _raw(value: str) -> bytes:
    """A header value as the bytes it was. aiohttp hands over bytes that are not UTF-8 as
    surrogate escapes: they are compared as those bytes (and can never match a token that
    is valid UTF-8), instead of failing to encode."""
    return value.encode("utf-8", "surrogateescape")


def presented_tokens(request: web.Request, *, extra_header: str | None = None) -> list[bytes]:
    """Every token the request presents: the Bearer token, the Basic password, and the
    value of ``extra_header`` when given."""
    tokens: list[bytes] = []
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        tokens.append(_raw(credentials))
    elif scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(_raw(credentials), validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        _, colon, password = decoded.partition(b":")
        if colon and password:
            tokens.append(password)
    if extra_header is not None and request.headers.get(extra_header, "").strip():
        tokens.append(_raw(request.headers[extra_header].strip()))
    return tokens


def check_token(
    request: web.Request, expected: str, *, extra_header: str | None = None
) -> web.Response | None:
    """None when the request presents ``expected`` (see :func:`presented_tokens`), else the
    401 to send."""
    wanted = expected.encode()
    # Compare every presented token, so the time taken does not tell which one was close.
    matches = [
        hmac.compare_digest(t, wanted) for t in presented_tokens(request, extra_header=extra_header)
    ]
    if any(matches):
        return None
    # A request that sent the extra header (the console's fetch) is not offered Basic: a
    # browser would answer that challenge with its own login dialog.
    sent_extra = extra_header is not None and extra_header in request.headers
    return json_error(
        401,
        "missing or wrong token (Bearer, or the password of Basic auth)",
        **{"WWW-Authenticate": "Bearer" if sent_extra else WWW_AUTHENTICATE},
    )
