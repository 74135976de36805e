"""Typed keys for what the simulator's aiohttp application holds."""

from __future__ import annotations

from aiohttp import web

from .ratelimit import RateLimiter
from .state import HubSpotSimulator

SIMULATOR = web.AppKey("simulator", HubSpotSimulator)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
PROPERTIES_BODY = web.AppKey("properties_body", bytes)
