"""A filterless JSON API of the project's own: orders behind one route per pagination
style, for the declared-source tests and the demo (``state.py``, ``app.py``). Kept apart
from the HubSpot simulator: it shares nothing with it."""

from .app import create_rest_app
from .state import RestFaults, RestSimulator

__all__ = ["RestFaults", "RestSimulator", "create_rest_app"]
