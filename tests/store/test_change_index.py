"""The change index on a real database (SQLite and Postgres): numbering, no-op suppression,
deletion only from evidence, resurrection, persistence across restarts."""

from __future__ import annotations

import orjson
import pytest

from proxy.store import Store
from tests.helpers import archived, base_of, complete_scan, contact, incoming


async def feed_all(store: Store, since: int = 0) -> list[tuple[str, int, bool, dict]]:
    """What the feed holds after ``since``: (_id, _updated, _deleted, the stored record)."""
    status = await store.reader.object_status("contacts")
    assert status is not None
    out = []
    batches = store.reader.feed_json("contacts", since=since, upto=status.last_change_seq)
    async for rows in batches:
        for text in rows:
            entity = orjson.loads(text)
            record = {k: v for k, v in entity.items() if not k.startswith("_")}
            out.append((entity["_id"], entity["_updated"], entity["_deleted"], record))
    return out


async def test_creates_get_consecutive_numbers_in_page_order(store: Store) -> None:
    b = await base_of(store)
    scan = await store.begin_run("contacts")
    result = await scan.apply_page(incoming(contact(3), contact(1), contact(2)))
    assert (result.created, result.first_seq, result.last_seq) == (3, b + 1, b + 3)
    rows = await feed_all(store)
    assert [(i, seq - b) for i, seq, _, _ in rows] == [("3", 1), ("1", 2), ("2", 3)]
    assert rows[0][3] == contact(3)  # stored verbatim


async def test_unchanged_content_gets_no_new_number_whatever_the_key_order(store: Store) -> None:
    b = await base_of(store)
    scan = await store.begin_run("contacts")
    await scan.apply_page(incoming(contact(1), contact(2)))
    reordered = dict(reversed(list(contact(1).items())))
    reordered["properties"] = dict(reversed(list(contact(1)["properties"].items())))
    result = await scan.apply_page(incoming(reordered, contact(2)))
    assert (result.unchanged, result.changes) == (2, 0)
    status = await store.reader.object_status("contacts")
    assert status is not None and status.last_change_seq == b + 2


async def test_a_content_change_moves_the_record_to_the_end(store: Store) -> None:
    b = await base_of(store)
    scan = await store.begin_run("contacts")
    await scan.apply_page(incoming(contact(1), contact(2)))
    result = await scan.apply_page(incoming(contact(1, version=1)))
    assert (result.updated, result.first_seq) == (1, b + 3)
    rows = await feed_all(store)
    assert [(i, seq - b) for i, seq, _, _ in rows] == [("2", 2), ("1", 3)]
    assert rows[-1][3]["properties"]["company"].endswith("1")
    assert await feed_all(store, since=b + 2) == rows[-1:]


async def test_ignored_properties_and_updated_at_do_not_count_as_change(
    database_url: str,
) -> None:
    from proxy.diff import Fingerprinter, prepare

    store = Store.open(database_url)
    await store.changes.register_object_types(["contacts"])
    fp = Fingerprinter(ignored_properties=frozenset({"lastmodifieddate", "hs_ticker"}))
    try:
        scan = await store.begin_run("contacts")
        await scan.apply_page(prepare([contact(1, hs_ticker="1")], fp))
        ticked = contact(1, version=7, hs_ticker="2")
        ticked["properties"]["company"] = contact(1)["properties"]["company"]
        result = await scan.apply_page(prepare([ticked], fp))
        assert result.unchanged == 1
        real = contact(1, hs_ticker="3", firstname="Changed")
        assert (await scan.apply_page(prepare([real], fp))).updated == 1
    finally:
        await store.close()


async def test_archived_record_becomes_tombstone_keeping_its_data(store: Store) -> None:
    b = await base_of(store)
    scan = await store.begin_run("contacts")
    await scan.apply_page(incoming(contact(1), contact(2)))
    result = await scan.apply_page(incoming(archived(contact(1))))
    assert (result.deleted, result.first_seq) == (1, b + 3)
    rows = await feed_all(store, since=b + 2)
    assert rows == [("1", b + 3, True, archived(contact(1)))]
    # Seeing the same archived record again is not a new change.
    assert (await scan.apply_page(incoming(archived(contact(1))))).unchanged == 1


async def test_archived_record_never_mirrored_is_skipped(store: Store) -> None:
    scan = await store.begin_run("contacts")
    result = await scan.apply_page(incoming(archived(contact(9))))
    assert (result.skipped, result.changes) == (1, 0)
    assert await feed_all(store) == []


async def test_mark_deleted_tombstones_live_ids_only(store: Store) -> None:
    b = await base_of(store)
    scan = await store.begin_run("contacts")
    await scan.apply_page(incoming(contact(1), contact(2), contact(3)))
    result = await scan.mark_deleted(["2", "3", "404"])
    assert (result.deleted, result.first_seq, result.last_seq) == (2, b + 4, b + 5)
    again = await scan.mark_deleted(["2"])
    assert again.deleted == 0
    rows = await feed_all(store, since=b + 3)
    assert [(i, seq - b, d) for i, seq, d, _ in rows] == [("2", 4, True), ("3", 5, True)]
    assert rows[0][3] == contact(2)  # last known data kept


async def test_deleted_id_that_reappears_comes_back_live_with_new_number(store: Store) -> None:
    b = await base_of(store)
    scan = await store.begin_run("contacts")
    await scan.apply_page(incoming(contact(1)))
    await scan.mark_deleted(["1"])
    result = await scan.apply_page(incoming(contact(1)))
    assert (result.updated, result.first_seq) == (1, b + 3)
    assert [(i, seq - b, d) for i, seq, d, _ in await feed_all(store)] == [("1", 3, False)]


async def test_complete_full_scan_tombstones_exactly_the_unseen(store: Store) -> None:
    b = await base_of(store)
    first = await store.begin_run("contacts")
    await first.apply_page(incoming(*(contact(i) for i in range(1, 6))))
    await complete_scan(store, first)
    await first.finish("succeeded")

    second = await store.begin_run("contacts")
    await second.apply_page(incoming(contact(1), contact(3)))
    await second.apply_page(incoming(contact(5, version=2)))
    result = await complete_scan(store, second)
    assert result.deleted == 2
    rows = await feed_all(store, since=b + 5)
    assert [(i, d) for i, d in ((r[0], r[2]) for r in rows)] == [
        ("5", False),
        ("2", True),
        ("4", True),
    ]
    status = await store.reader.object_status("contacts", counts=True)
    assert status is not None and (status.live, status.deleted) == (3, 2)


async def test_a_scan_that_never_completes_deletes_nothing(store: Store) -> None:
    first = await store.begin_run("contacts")
    await first.apply_page(incoming(contact(1), contact(2)))
    await complete_scan(store, first)
    interrupted = await store.begin_run("contacts")
    await interrupted.apply_page(incoming(contact(1)))
    await interrupted.finish("failed", "HubSpot failed")
    status = await store.reader.object_status("contacts", counts=True)
    assert status is not None and (status.live, status.deleted) == (2, 0)


async def test_records_seen_by_a_later_run_survive_an_earlier_scans_completion(
    store: Store,
) -> None:
    full = await store.begin_run("contacts")
    await full.apply_page(incoming(contact(1)))
    later = await store.begin_run("contacts", mode="incremental")
    await later.apply_page(incoming(contact(2)))  # created while the full scan ran
    assert (await complete_scan(store, full)).deleted == 0


async def test_readiness_and_numbers_survive_a_restart(database_url: str) -> None:
    store = Store.open(database_url)
    await store.changes.register_object_types(["contacts"])
    b = await base_of(store)
    status = await store.reader.object_status("contacts")
    assert status is not None and not status.ready
    scan = await store.begin_run("contacts")
    await scan.apply_page(incoming(contact(1), contact(2)))
    await complete_scan(store, scan)
    await store.close()

    reopened = Store.open(database_url)
    await reopened.changes.register_object_types(["contacts"])  # idempotent
    try:
        status = await reopened.reader.object_status("contacts")
        assert status is not None and status.ready and status.last_change_seq == b + 2
        scan = await reopened.begin_run("contacts")
        assert (await scan.apply_page(incoming(contact(3)))).first_seq == b + 3
    finally:
        await reopened.close()


async def test_numbers_are_never_reused_after_tombstones(store: Store) -> None:
    b = await base_of(store)
    scan = await store.begin_run("contacts")
    await scan.apply_page(incoming(contact(1), contact(2)))
    await scan.mark_deleted(["1", "2"])
    result = await scan.apply_page(incoming(contact(3)))
    assert result.first_seq == b + 5


async def test_sequences_are_per_object_type(store: Store) -> None:
    await store.changes.register_object_types(["companies"])
    companies = await base_of(store, "companies")
    await store.changes.apply_page("contacts", incoming(contact(1), contact(2)))
    result = await store.changes.apply_page("companies", incoming(contact(1)))
    assert result.first_seq == companies + 1


async def test_a_new_mirror_numbers_above_everything_an_earlier_one_handed_out(
    tmp_path: object,
) -> None:
    """A lost mirror (the container's volume gone, the database recreated) must not hand out
    numbers a Sesam pipe already holds: a new mirror starts at its creation time."""
    from datetime import UTC, datetime

    from proxy.store import migrate
    from proxy.store.changes import sequence_base

    last_of_lost: int | None = None
    for name in ("lost", "new"):
        url = f"sqlite:///{tmp_path}/{name}.db"
        mirror = Store.open(url)
        try:
            await migrate.upgrade(mirror.engine)
            before = sequence_base(datetime.now(UTC))
            await mirror.changes.register_object_types(["contacts"])
            first = await base_of(mirror)
            assert first >= before and first < 2**53  # exact in any JSON reader
            writer = await mirror.begin_run("contacts")
            result = await writer.apply_page(incoming(*(contact(i) for i in range(1, 1001))))
            assert result.first_seq is not None and result.last_seq is not None
            if last_of_lost is not None:
                assert result.first_seq > last_of_lost
            last_of_lost = result.last_seq
        finally:
            await mirror.close()


async def test_unknown_object_type_is_refused(store: Store) -> None:
    from proxy.errors import StoreError

    with pytest.raises(StoreError, match="not registered"):
        await store.changes.apply_page("deals", incoming(contact(1)))


async def test_run_record_counts_what_happened(store: Store) -> None:
    scan = await store.begin_run("contacts")
    await scan.apply_page(incoming(contact(1), contact(2)))
    await scan.apply_page(incoming(contact(1), contact(2, version=1)))
    await scan.mark_deleted(["1"])
    await scan.finish("failed", "boom")
    run = await store.runs.get(scan.run_id)
    assert run is not None
    assert (run.status, run.fetched, run.created, run.updated, run.deleted, run.unchanged) == (
        "failed",
        4,
        2,
        1,
        1,
        1,
    )
    assert run.error == "boom" and run.finished_at is not None


async def test_busy_writer_tunes_the_gil_only_while_runs_write(store: Store) -> None:
    import sys

    from proxy.runtime import writer_switch_interval

    before = sys.getswitchinterval()
    sqlite = store.db.is_sqlite
    with writer_switch_interval(sqlite), writer_switch_interval(sqlite):  # two object types
        expected = min(before, 0.001) if sqlite else before
        assert sys.getswitchinterval() == expected
    assert sys.getswitchinterval() == before
