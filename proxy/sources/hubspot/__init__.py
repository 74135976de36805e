"""HubSpot CRM v3: object-type specs, the list and search paginators, property discovery,
and each object type as a feed of the engine (``feed.py``). Only
``proxy.sources.configured`` imports this package outside ``proxy/sources/``."""

from proxy.sources.hubspot.client import HubSpotClient, Page, client_from_settings
from proxy.sources.hubspot.objects import ObjectSpec, spec_for

__all__ = ["HubSpotClient", "ObjectSpec", "Page", "client_from_settings", "spec_for"]
