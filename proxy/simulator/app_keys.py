"""Typed keys for what the simulator's aiohttp application holds."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from .catalogue import PropertyDef
from .ratelimit import RateLimiter
from .state import HubSpotSimulator


@dataclass
class PropertiesBody:
    """``GET /crm/v3/properties/{type}`` serialised, and the catalogue it was made from:
    the catalogue is an immutable tuple replaced when a property is added, so a different
    object means the body is stale."""

    catalogue: tuple[PropertyDef, ...] = ()
    body: bytes = b""


@dataclass
class PropertiesBodies:
    """One :class:`PropertiesBody` per object type (by its simulator name)."""

    by_type: dict[str, PropertiesBody] = field(default_factory=dict)

    def of(self, object_type: str) -> PropertiesBody:
        return self.by_type.setdefault(object_type, PropertiesBody())


SIMULATOR = web.AppKey("simulator", HubSpotSimulator)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
PROPERTIES_BODIES = web.AppKey("properties_bodies", PropertiesBodies)
