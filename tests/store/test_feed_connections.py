"""The feed's own Postgres connections: a read survives the server dropping them, and they
close with the store."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from proxy.store import Store
from tests.helpers import complete_scan, contact, incoming

pytestmark = pytest.mark.parametrize(
    "backend", [pytest.param("postgres", marks=pytest.mark.postgres)]
)


async def _others(database_url: str, *, terminate: bool = False) -> int:
    """How many other sessions are connected to this test's database (ending them first
    when ``terminate``), asked from the maintenance database."""
    url = make_url(database_url)
    admin = url.set(database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    try:
        if terminate:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                url.database,
            )
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", url.database
            )
        )
    finally:
        await conn.close()


async def pull(store: Store) -> list[bytes]:
    head = await store.reader.feed_head("contacts")
    assert head is not None and head.ready
    return [
        entity
        async for batch in store.reader.feed_json("contacts", since=0, upto=head.last_change_seq)
        for entity in batch
    ]


async def _mirror(database_url: str) -> Store:
    store = Store.open(database_url)
    await store.changes.register_object_types(["contacts"])
    scan = await store.begin_run("contacts")
    await scan.apply_page(incoming(*(contact(i) for i in range(1, 31))))
    await complete_scan(store, scan)
    await scan.finish("succeeded")
    return store


async def test_a_read_survives_the_server_dropping_the_feed_connections(
    database_url: str,
) -> None:
    store = await _mirror(database_url)
    try:
        first = await pull(store)
        assert len(first) == 30
        await _others(database_url, terminate=True)  # every session: the feed's and the pool's
        assert await pull(store) == first
    finally:
        await store.close()


async def test_the_feed_connections_close_with_the_store(database_url: str) -> None:
    store = await _mirror(database_url)
    try:
        assert len(await pull(store)) == 30
        assert await _others(database_url) > 0
    finally:
        await store.close()
    assert await _others(database_url) == 0
