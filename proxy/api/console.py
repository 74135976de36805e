"""The ops console: ``GET /admin/`` and its static files, shipped in the package.

The page holds no data and is served without a token; every datum comes from the
authenticated JSON admin routes, which the page calls by relative URLs with the token it
keeps in ``sessionStorage`` (``X-Admin-Token``: it works through a Sesam node's system
proxy, whose ``Authorization`` header is Sesam's own, and under any path prefix).

The Content-Security-Policy allows scripts, styles, images and requests from the page's
own origin only, and no inline script: upstream content the page shows is text, and even
markup smuggled into the page could not run.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

# The console's files: the path under /admin/ and the content type.
FILES = {
    "": ("index.html", "text/html; charset=utf-8"),
    "console.js": ("console.js", "text/javascript; charset=utf-8"),
    "console.css": ("console.css", "text/css; charset=utf-8"),
    "icon.svg": ("icon.svg", "image/svg+xml"),
}
# Requests the admin token does not guard (the page and its files; no data).
PUBLIC_PATHS = frozenset({"/admin", *(f"/admin/{name}" for name in FILES)})

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _read(name: str) -> bytes:
    return resources.files("proxy.api").joinpath("console_static", name).read_bytes()


def add_routes(app: web.Application) -> None:
    for path, (name, content_type) in FILES.items():
        body = _read(name)  # read once, at start: a missing file fails the start

        async def serve(
            request: web.Request, body: bytes = body, content_type: str = content_type
        ) -> web.Response:
            return web.Response(body=body, headers={**HEADERS, "Content-Type": content_type})

        app.router.add_get(f"/admin/{path}", serve)

    async def with_slash(request: web.Request) -> web.Response:
        # Relative, so that it holds under a path prefix (a Sesam node's system proxy).
        raise web.HTTPMovedPermanently(location="admin/")

    app.router.add_get("/admin", with_slash)
