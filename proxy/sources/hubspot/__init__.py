"""HubSpot CRM v3: object-type specs, the list and search paginators, property discovery."""

from proxy.sources.hubspot.client import HubSpotClient, Page, client_from_settings
from proxy.sources.hubspot.objects import ObjectSpec, spec_for

__all__ = ["HubSpotClient", "ObjectSpec", "Page", "client_from_settings", "spec_for"]
