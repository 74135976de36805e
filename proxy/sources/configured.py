"""The one place that builds the configured sources: every module outside
``proxy/sources/`` reaches a source through this module and :mod:`proxy.sources.base`,
never through a source's own package."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from proxy.config import Settings
from proxy.sources.base import Feed
from proxy.sources.hubspot import client_from_settings
from proxy.sources.hubspot.feed import HubSpotFeed
from proxy.sources.hubspot.names import mirrored_names, name_custom_objects
from proxy.sources.ratelimit import RollingWindowLimiter

__all__ = ["Sources", "build_sources", "feed_names", "mirrored_names", "name_custom_objects"]


@dataclass(frozen=True)
class Sources:
    feeds: Mapping[str, Feed]  # by name: the store key and the feed path
    limiter: RollingWindowLimiter  # the upstream budget /admin/status shows (HubSpot's)


def feed_names(settings: Settings) -> tuple[str, ...]:
    """The names of the feeds ``settings`` configure, known before any source is asked
    (the feed routes are made from them)."""
    return settings.object_types


def build_sources(settings: Settings, session: aiohttp.ClientSession) -> Sources:
    """The feeds ``settings`` configure, sharing ``session``: one per object type in
    OBJECT_TYPES, all served by one HubSpot client (one rate budget)."""
    client = client_from_settings(session, settings)
    feeds = {t: HubSpotFeed(client, settings, t) for t in settings.object_types}
    return Sources(feeds, client.http.limiter)
