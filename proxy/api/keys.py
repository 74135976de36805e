"""Typed application state: every ``app[...]`` key is declared here, once."""

from __future__ import annotations

from aiohttp import web

from proxy.api.metrics import Metrics
from proxy.api.slots import FeedSlots
from proxy.config import Settings
from proxy.scheduler import SyncScheduler
from proxy.sources.configured import Sources
from proxy.store import Store

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
METRICS = web.AppKey("metrics", Metrics)
SOURCES = web.AppKey("sources", Sources)
SCHEDULER = web.AppKey("scheduler", SyncScheduler)
FEED_SLOTS = web.AppKey("feed_slots", FeedSlots)
# This app's name in leases, run records and the User-Agent it sends the source.
OWNER = web.AppKey("owner", str)

# Set once a streamed response has sent its headers: from then on an error can only abort
# the connection (see the error middleware).
STREAM_STARTED = web.RequestKey("stream_started", bool)
