"""The application factory: routes, and the resources each run of the app owns (database,
HTTP session and the sources, scheduler), opened and closed by cleanup contexts in that order."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from proxy.api import admin, console, feed, health, openapi
from proxy.api.errors import MAX_REQUEST_BODY, bounded_body, error_middleware
from proxy.api.keys import FEED_SLOTS, METRICS, OWNER, SCHEDULER, SETTINGS, SOURCES, STORE
from proxy.api.metrics import Metrics
from proxy.api.slots import FEED_CONCURRENCY, FEED_SLOT_WAIT_SECONDS, FeedSlots
from proxy.config import Settings
from proxy.scheduler import SyncScheduler
from proxy.sources.configured import build_sources, feed_names
from proxy.sources.http import source_session
from proxy.store import Store, migrate
from proxy.sync import SyncRunner
from proxy.worker import process_owner

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    schedule: bool = True,
    feed_concurrency: int = FEED_CONCURRENCY,
    feed_slot_wait_s: float = FEED_SLOT_WAIT_SECONDS,
) -> web.Application:
    """The HTTP app. With ``schedule`` (the default) syncs run by themselves; without, only
    when requested through the admin routes. At most ``feed_concurrency`` feed responses
    stream at once; a pull waits up to ``feed_slot_wait_s`` for its turn (the defaults are
    measured; tests lower them)."""
    app = web.Application(
        middlewares=[error_middleware, bounded_body, admin.admin_auth],
        client_max_size=MAX_REQUEST_BODY,
    )
    app[SETTINGS] = settings
    app[OWNER] = process_owner()
    app[METRICS] = metrics = Metrics()
    app[FEED_SLOTS] = slots = FeedSlots(feed_concurrency, feed_slot_wait_s)
    metrics.feed_streaming.set_function(lambda: slots.streaming)
    metrics.feed_waiting.set_function(lambda: slots.waiting)
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_sources_ctx)
    app.cleanup_ctx.append(_scheduler_ctx(schedule))
    feed.add_routes(app, feed_names(settings))
    admin.add_routes(app)
    console.add_routes(app)
    health.add_routes(app)
    openapi.add_routes(app, settings)
    return app


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = Store.open(settings.database_url)
    try:
        await migrate.upgrade(store.engine)
        await store.changes.register_object_types(feed_names(settings))
        app[STORE] = store
        yield
    finally:
        await store.close()


async def _sources_ctx(app: web.Application) -> AsyncIterator[None]:
    async with source_session(app[OWNER]) as session:
        app[SOURCES] = build_sources(app[SETTINGS], session)
        yield


def _scheduler_ctx(schedule: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        runner = SyncRunner(app[STORE], app[SOURCES].feeds, app[SETTINGS])
        scheduler = SyncScheduler(
            app[STORE],
            runner,
            app[SETTINGS],
            owner=app[OWNER],
            on_finished=app[METRICS].observe_run,
        )
        app[SCHEDULER] = scheduler
        await scheduler.start(schedule=schedule)
        try:
            yield
        finally:
            await scheduler.stop()

    return ctx
