"""The one place that builds the configured sources: every module outside
``proxy/sources/`` reaches a source through this module and :mod:`proxy.sources.base`,
never through a source's own package.

Two kinds today: HubSpot object types (``OBJECT_TYPES``, one HubSpot client and rate budget
for all of them) and declared JSON APIs (``SOURCES_FILE`` or ``SOURCES``, one feed each).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from proxy.config import Settings
from proxy.errors import ConfigError
from proxy.sources.base import Feed
from proxy.sources.hubspot import client_from_settings
from proxy.sources.hubspot.feed import HubSpotFeed
from proxy.sources.hubspot.names import mirrored_names, name_custom_objects
from proxy.sources.ratelimit import RollingWindowLimiter
from proxy.sources.rest.declaration import DeclaredSource, parse_json, parse_toml
from proxy.sources.rest.feed import RestFeed
from proxy.store import Store

__all__ = [
    "Sources",
    "build_sources",
    "declared_sources",
    "feed_names",
    "resolve_feed_names",
    "scan_intervals",
    "stored_feed_names",
]

# Paths of the service itself: no feed may take one.
RESERVED_NAMES = frozenset({"admin", "health", "metrics"})


@dataclass(frozen=True)
class Sources:
    feeds: Mapping[str, Feed]  # by name: the store key and the feed path
    limiter: RollingWindowLimiter  # the upstream budget /admin/status shows (HubSpot's)


def declared_sources(settings: Settings) -> dict[str, DeclaredSource]:
    """The sources ``SOURCES_FILE`` or ``SOURCES`` declare, checked: each key, each
    ``${VAR}``, and each name (a feed path that no object type and no route of the service
    has). Raises :class:`ConfigError` naming the source and the key."""
    given = settings.declarations()
    if given is None:
        return {}
    # Asked by every admin, health and status request (the feed names): parsed once.
    declared = dict(_parsed(*given, tuple(sorted(settings.source_env.items()))))
    routes = {*settings.object_types, *(f"get_{t}" for t in settings.object_types)}
    for name in declared:
        if name in routes:
            raise ConfigError(
                f"sources.{name}: the name is taken by an object type of OBJECT_TYPES "
                f"({', '.join(settings.object_types)}); a source's name is its feed path"
            )
        if name in RESERVED_NAMES or (name.startswith("get_") and name[4:] in declared):
            raise ConfigError(f"sources.{name}: /{name} is a route of the service; rename it")
    return declared


@functools.lru_cache(maxsize=4)
def _parsed(origin: str, text: str, env: tuple[tuple[str, str], ...]) -> dict[str, DeclaredSource]:
    parse = parse_toml if origin == "SOURCES_FILE" else parse_json
    return parse(text, dict(env), origin)


def scan_intervals(settings: Settings) -> dict[str, float | None]:
    """Each feed's own full-scan period (a declared source's ``interval_seconds``; None
    for an object type: by FULL_SYNC_CRON), known without building the feeds."""
    declared = declared_sources(settings)
    return {
        **dict.fromkeys(settings.object_types),
        **{name: d.spec.interval_seconds for name, d in declared.items()},
    }


async def resolve_feed_names(settings: Settings) -> tuple[Settings, dict[str, str]]:
    """``settings`` with every feed under the name it is served at, and the renaming (empty
    when nothing was renamed). Call before the app is built: feed paths are routes. Only
    HubSpot renames: a custom object given by its objectTypeId is named by HubSpot's schemas
    API once, and the name kept in the store."""
    return await name_custom_objects(settings)


async def stored_feed_names(store: Store, names: tuple[str, ...]) -> dict[str, str]:
    """The names ``names`` were mirrored under, read from the store alone (commands that
    must not ask a source): a custom object's id -> its name."""
    return await mirrored_names(store, names)


def feed_names(settings: Settings) -> tuple[str, ...]:
    """The names of the feeds ``settings`` configure, known before any source is asked
    (the feed routes are made from them): the object types, then the declared sources."""
    return (*settings.object_types, *declared_sources(settings))


def build_sources(settings: Settings, session: aiohttp.ClientSession) -> Sources:
    """The feeds ``settings`` configure, sharing ``session``: one per object type in
    OBJECT_TYPES, all served by one HubSpot client (one rate budget), and one per declared
    source."""
    feeds: dict[str, Feed] = {}
    if settings.object_types:
        client = client_from_settings(session, settings)
        feeds.update({t: HubSpotFeed(client, settings, t) for t in settings.object_types})
        limiter = client.http.limiter
    else:  # no HubSpot: its budget stays unused
        limiter = RollingWindowLimiter(settings.hubspot_requests_per_10s, 10.0)
    for name, declared in declared_sources(settings).items():
        feeds[name] = RestFeed(declared, session)
    return Sources(feeds, limiter)
