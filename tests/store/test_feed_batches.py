"""Feed batches are bounded in bytes, on a real database (SQLite and Postgres): however the
records' sizes change along the feed, a batch never holds more than the budget plus one
record, while the order, ``upto`` and ``limit`` stay exact."""

from __future__ import annotations

import orjson
import pytest

from proxy.store import Store
from tests.helpers import base_of, complete_scan, contact, incoming

BUDGET = 6_000


async def store_sizes(store: Store, sizes: list[int]) -> dict[str, int]:
    """One contact per size (``notes`` padded to it), ids 1.., in one complete full scan;
    returns each id's stored JSON size."""
    scan = await store.begin_run("contacts")
    records = [contact(i, notes="n" * size) for i, size in enumerate(sizes, 1)]
    for start in range(0, len(records), 50):
        await scan.apply_page(incoming(*records[start : start + 50]))
    await complete_scan(store, scan)
    await scan.finish("succeeded")
    return {r["id"]: len(orjson.dumps(r)) for r in records}


async def read_batches(store: Store, *, since: int = 0, limit: int | None = None) -> list[list]:
    status = await store.reader.object_status("contacts")
    assert status is not None
    batches = store.reader.feed_json(
        "contacts", since=since, upto=status.last_change_seq, limit=limit, batch_bytes=BUDGET
    )
    return [[orjson.loads(e) for e in batch] async for batch in batches]


async def test_batches_stay_within_the_budget_when_records_grow_and_shrink(store: Store) -> None:
    # Small records teach the reader to ask for many rows; then every record is 15x larger
    # (a portal that added properties), then small again, and one record alone exceeds the
    # budget. Sizes are in bytes of padding; each record adds ~400 bytes of its own.
    sizes = [100] * 60 + [7_500] * 25 + [100] * 40 + [20_000] + [100] * 10
    base = await base_of(store)
    stored = await store_sizes(store, sizes)
    batches = await read_batches(store)

    entities = [e for batch in batches for e in batch]
    assert [e["_updated"] - base for e in entities] == list(range(1, len(sizes) + 1))
    assert [e["_id"] for e in entities] == [str(i) for i in range(1, len(sizes) + 1)]
    for batch in batches:
        assert batch, "an empty batch"
        held = [stored[e["_id"]] for e in batch]
        # The budget is reached by the last row at the latest: everything before it fits.
        assert sum(held[:-1]) < BUDGET, [len(b) for b in batches]
    # The oversized record still comes, alone or last in its batch.
    assert any(batch[-1]["_id"] == "126" for batch in batches)
    # Batches adapt to the records: more rows per batch while records are small.
    assert max(len(b) for b in batches) > 5 * min(len(b) for b in batches)


@pytest.mark.parametrize("limit", [1, 7, 59, 60, 61, 136, 1000])
async def test_limit_is_exact_across_batches(store: Store, limit: int) -> None:
    base = await base_of(store)
    await store_sizes(store, [100] * 60 + [3_000] * 76)
    batches = await read_batches(store, since=0, limit=limit)
    got = [e["_updated"] - base for batch in batches for e in batch]
    assert got == list(range(1, min(limit, 136) + 1))


async def test_since_and_upto_bound_the_batches(store: Store) -> None:
    base = await base_of(store)
    await store_sizes(store, [2_000] * 30)
    batches = store.reader.feed_json(
        "contacts", since=base + 4, upto=base + 23, batch_bytes=BUDGET, batch_size=3
    )
    got = [orjson.loads(e)["_updated"] - base async for batch in batches for e in batch]
    assert got == list(range(5, 24))
