"""Invariant 1: a since-reader never sees change N+1 while N is invisible.

Two stores (two engines, as two processes would have) write the same object type at once,
each holding its transaction open a little longer than needed to widen the race window,
while a reader keeps pulling ``since=<last _updated it saw>``. The reader must end with
exactly the database's final state. If change numbers were handed out without the
counter row being locked until commit, a later number could commit first and the reader
would skip the earlier one for ever (or the writers would collide on the unique index).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.util import await_only

from proxy.store import Store
from tests.helpers import contact, incoming

IDS = [str(i) for i in range(60)]


def _slow_commits(store: Store) -> None:
    """Hold each write transaction open a little after the change numbers are taken."""
    original = store.changes._save_sequence

    def slow_save(conn: sa.Connection, *args: Any) -> None:
        original(conn, *args)
        # Still inside the transaction: the counter stays locked. SQLite writes run in the
        # store's writer thread; Postgres ones in SQLAlchemy's greenlet on the event loop.
        if conn.dialect.name == "sqlite":
            time.sleep(0.005)
        else:
            await_only(asyncio.sleep(0.005))

    store.changes._save_sequence = slow_save  # type: ignore[method-assign]


async def _writer(store: Store, seed: int, rounds: int) -> None:
    rng = random.Random(seed)
    for version in range(rounds):
        chosen = rng.sample(IDS, 8)
        if rng.random() < 0.2:
            await store.changes.mark_deleted("contacts", chosen[:2])
        else:
            await store.changes.apply_page(
                "contacts", incoming(*(contact(i, version=seed * 1000 + version) for i in chosen))
            )


async def _pull(store: Store, since: int, seen: dict[str, tuple[int, bool, bytes]]) -> int:
    status = await store.reader.object_status("contacts")
    assert status is not None
    async for rows in store.reader.feed_json(
        "contacts", since=since, upto=status.last_change_seq, batch_size=7
    ):
        for text in rows:
            entity = orjson.loads(text)
            assert entity["_updated"] > since, "the feed went backwards"
            since = entity["_updated"]
            seen[entity["_id"]] = (since, entity["_deleted"], text)
    return since


async def test_concurrent_writers_never_hide_a_change_from_a_since_reader(
    database_url: str,
) -> None:
    writers = [Store.open(database_url) for _ in range(2)]
    reader = Store.open(database_url)
    await writers[0].changes.register_object_types(["contacts"])
    for w in writers:
        _slow_commits(w)
    seen: dict[str, tuple[int, bool, bytes]] = {}
    try:
        tasks = [asyncio.create_task(_writer(w, seed, 40)) for seed, w in enumerate(writers, 1)]
        since = 0
        while not all(t.done() for t in tasks):
            since = await _pull(reader, since, seen)
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        await _pull(reader, since, seen)

        final: dict[str, tuple[int, bool, bytes]] = {}
        await _pull(reader, 0, final)
        assert len(final) > len(IDS) // 2  # the writers touched most ids
        assert seen == final
        status = await reader.reader.object_status("contacts")
        assert status is not None
        assert max(seq for seq, _, _ in final.values()) == status.last_change_seq
        # Every stored record is valid JSON of the contact it claims to be.
        for entity_id, (_, _, text) in final.items():
            assert orjson.loads(text)["id"] == entity_id
    finally:
        for s in (*writers, reader):
            await s.close()
