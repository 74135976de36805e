from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from proxy.api.keys import STORE
from proxy.app import create_app
from proxy.store import Store
from tests.conftest import make_settings

ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def make_client(
    aiohttp_client: Callable[..., Awaitable[TestClient]], database_url: str
) -> ClientFactory:
    """The real app on this test's fresh database; keyword arguments are settings."""

    async def factory(**env: str) -> TestClient:
        return await aiohttp_client(create_app(make_settings(database_url, **env), schedule=False))

    return factory


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient:
    return await make_client()


def store_of(client: TestClient) -> Store:
    return client.app[STORE]  # type: ignore[index]
