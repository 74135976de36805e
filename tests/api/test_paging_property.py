"""Property: for any sequence of writes and any page size, a reader that keeps asking for
``since=<last _updated>&limit=<page>`` between the writes ends with the final state.

Runs the feed's own read path and encoder (``FeedReader.feed_json`` + ``encode_chunk``) on a real
SQLite database; each example gets its own object type, so one database serves them all.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.api.feed import encode_chunk
from proxy.store import Store, migrate
from tests.helpers import archived, contact, incoming

# A write: (kind, ids, version). kind 0 = upsert live, 1 = archive via page, 2 = mark deleted.
writes = st.lists(
    st.tuples(
        st.integers(0, 2), st.lists(st.integers(1, 15), min_size=1, max_size=6), st.integers(0, 3)
    ),
    max_size=25,
)
_counter = itertools.count()


async def _pull(store: Store, object_type: str, since: int, page: int, view: dict) -> int:
    while True:
        status = await store.reader.object_status(object_type)
        assert status is not None
        chunks = [
            encode_chunk(rows, first=i == 0)
            async for i, rows in _enumerate(
                store.reader.feed_json(
                    object_type, since=since, upto=status.last_change_seq, limit=page
                )
            )
        ]
        batch = orjson.loads(b"[" + b"".join(chunks) + b"]")
        assert len(batch) <= page
        for entity in batch:
            assert entity["_updated"] > since
            since = entity["_updated"]
            view[entity["_id"]] = entity
        if len(batch) < page:
            return since


async def _enumerate(aiter):  # type: ignore[no-untyped-def]
    i = 0
    async for item in aiter:
        yield i, item
        i += 1


async def _scenario(url: str, ops: list[tuple[int, list[int], int]], page: int) -> None:
    store = Store.open(url)
    object_type = f"t{next(_counter)}"
    await store.changes.register_object_types([object_type])
    view: dict[str, dict] = {}
    since = 0
    try:
        for kind, ids, version in ops:
            if kind == 0:
                await store.changes.apply_page(
                    object_type, incoming(*(contact(i, version) for i in ids))
                )
            elif kind == 1:
                await store.changes.apply_page(
                    object_type, incoming(*(archived(contact(i, version)) for i in ids))
                )
            else:
                await store.changes.mark_deleted(object_type, [str(i) for i in ids])
            since = await _pull(store, object_type, since, page, view)
        final: dict[str, dict] = {}
        await _pull(store, object_type, 0, 10_000, final)
        assert view == final
    finally:
        await store.close()


def test_a_since_reader_converges_to_the_final_state(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/prop.db"

    async def setup() -> None:
        store = Store.open(url)
        await migrate.upgrade(store.engine)
        await store.close()

    asyncio.run(setup())

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops=writes, page=st.integers(1, 8))
    def prop(ops: list[tuple[int, list[int], int]], page: int) -> None:
        asyncio.run(_scenario(url, ops, page))

    prop()
