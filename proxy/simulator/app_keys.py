"""Typed keys for what the simulator's aiohttp application holds."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .catalogue import PropertyDef
from .ratelimit import RateLimiter
from .state import HubSpotSimulator


@dataclass
class PropertiesBody:
    """``GET /crm/v3/properties/contacts`` serialised, and the catalogue it was made from:
    the catalogue is an immutable tuple replaced when a property is added, so a different
    object means the body is stale."""

    catalogue: tuple[PropertyDef, ...] = ()
    body: bytes = b""


SIMULATOR = web.AppKey("simulator", HubSpotSimulator)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
PROPERTIES_BODY = web.AppKey("properties_body", PropertiesBody)
