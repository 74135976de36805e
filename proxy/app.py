"""The application factory: routes, and the resources each run of the app owns."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from proxy.api import feed, health
from proxy.api.errors import error_middleware
from proxy.api.keys import METRICS, SETTINGS, STORE
from proxy.api.metrics import Metrics
from proxy.config import Settings
from proxy.store import Store, migrate

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> web.Application:
    """The HTTP app. Its cleanup contexts open the database (applying migrations first) and
    close it again on shutdown."""
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app.cleanup_ctx.append(_store_ctx)
    feed.add_routes(app, settings.object_types)
    health.add_routes(app)
    return app


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = Store.open(settings.database_url)
    try:
        await migrate.upgrade(store.engine)
        await store.register_object_types(settings.object_types)
        app[STORE] = store
        yield
    finally:
        await store.close()
