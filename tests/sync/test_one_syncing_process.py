"""One syncing process per object type: a lease decides which process runs the syncs, runs
requested anywhere are queued in the database and executed by the holder, a dead holder is
replaced, and neither a sighting nor a record ever goes back to an older run's copy."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from proxy.api.keys import SCHEDULER
from proxy.simulator import HubSpotSimulator
from proxy.store import Store
from proxy.store.schema import leases, sightings, sync_runs
from tests.helpers import base_of, contact, incoming, wait_until
from tests.sync.conftest import RigFactory


async def test_two_processes_one_holder_and_requests_from_either_run_there(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(120)
    first = await make_rig(sim)
    await first.sync("full")
    second = await make_rig(sim)  # another process on the same database
    holders = [r.scheduler.workers["contacts"].lease.held for r in (first, second)]
    assert holders == [True, False]
    run = await second.sync("full")  # asked of the process that does not sync
    assert run.status == "succeeded" and run.owner == first.scheduler.owner
    runs = await first.store.runs.recent(limit=10)
    assert {r.owner for r in runs} == {first.scheduler.owner}


async def test_runs_of_two_processes_never_overlap(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(300)
    first = await make_rig(sim)
    second = await make_rig(sim)
    await first.sync("full")
    ids = []
    for rig, mode in ((first, "full"), (second, "incremental"), (second, "full")):
        ids.append((await rig.admin("POST", f"/admin/resync?mode={mode}", status=202))["run_id"])
    await first.scheduler.idle()
    runs = sorted(
        [r for r in [await first.store.runs.get(i) for i in set(ids)] if r is not None],
        key=lambda r: r.started_at or r.queued_at,
    )
    assert all(r.status == "succeeded" for r in runs)
    for earlier, later in itertools.pairwise(runs):
        assert earlier.finished_at is not None and later.started_at is not None
        assert later.started_at >= earlier.finished_at


async def test_another_process_takes_over_when_the_holder_dies(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(50)
    first = await make_rig(sim, LEASE_SECONDS="2")
    second = await make_rig(sim, LEASE_SECONDS="2")
    await first.sync("full")
    # The holder dies without a word: its tasks stop, its lease row stays until it expires.
    holder = first.scheduler.workers["contacts"]
    for task in holder._tasks:
        task.cancel()
    follower = second.scheduler.workers["contacts"]
    await asyncio.wait_for(follower.lease.acquired.wait(), timeout=10)
    sim.create_contacts(5)
    run = await second.sync("incremental")
    assert (run.status, run.created, run.owner) == ("succeeded", 5, second.scheduler.owner)


async def test_a_stopping_holder_hands_over_at_once(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(20)
    first = await make_rig(sim, LEASE_SECONDS="8")
    second = await make_rig(sim, LEASE_SECONDS="8")
    await first.sync("full")
    await first.client.app[SCHEDULER].stop()  # a clean shutdown releases the lease
    follower = second.scheduler.workers["contacts"]
    # The follower's next try (every quarter lease) finds it free, before it would expire.
    await asyncio.wait_for(follower.lease.acquired.wait(), timeout=7)
    assert follower.lease.held


async def test_a_starting_process_interrupts_only_runs_whose_owner_is_gone(
    make_rig: RigFactory, database_url: str
) -> None:
    store = Store.open(database_url)
    try:
        await store.changes.register_object_types(["contacts"])
        # A live process elsewhere holds the lease and runs a sync (a `change-proxy sync`).
        assert await store.leases.acquire("contacts", "other-host:1:live", timedelta(minutes=5))
        alive = await store.runs.start("contacts", "full", "cli", "other-host:1:live")
        dead = await store.runs.start("contacts", "full", "cli", "other-host:2:dead")
        await store.runs.heartbeat(alive)
        # The dead one's heartbeat is an hour old.
        hour_ago = datetime.now(UTC) - timedelta(hours=1)
        stale = sync_runs.update().where(sync_runs.c.id == dead).values(heartbeat_at=hour_ago)
        await store.db.write(lambda conn: conn.execute(stale))
    finally:
        await store.close()
    rig = await make_rig()  # a process starting beside it
    live_run, dead_run = await rig.store.runs.get(alive), await rig.store.runs.get(dead)
    assert live_run is not None and live_run.status == "running"
    assert dead_run is not None and dead_run.status == "interrupted"
    assert "stopped beating" in (dead_run.error or "")


async def test_concurrent_requests_queue_one_run(database_url: str) -> None:
    stores = [Store.open(database_url) for _ in range(2)]  # two processes
    try:
        await stores[0].changes.register_object_types(["contacts"])
        ids = await asyncio.gather(
            *(stores[i % 2].runs.request("contacts", "full", "admin") for i in range(50))
        )
        assert len(set(ids)) == 1
        assert len(await stores[0].runs.waiting("contacts")) == 1
        other = await stores[1].runs.request("contacts", "incremental", "admin")
        assert other not in ids
    finally:
        for s in stores:
            await s.close()


async def test_fifty_concurrent_resync_requests_queue_at_most_one_waiting_run(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(100)
    rig = await make_rig(sim)
    await rig.sync("full")
    answers = await asyncio.gather(
        *(rig.admin("POST", "/admin/resync?mode=full", status=202) for _ in range(50))
    )
    ids = {a["run_id"] for a in answers}
    # One may already be running when later requests arrive: they queue one more, not 49.
    assert 1 <= len(ids) <= 2
    await rig.scheduler.idle()
    full_runs = [r for r in await rig.store.runs.recent(limit=100) if r.mode == "full"]
    assert len(full_runs) <= 3


async def test_a_sighting_never_moves_to_an_older_run(store: Store) -> None:
    later = await store.begin_run("contacts")
    earlier_id = later.run_id - 1
    await later.apply_page(incoming(contact(1)))
    await store.changes.record_sightings("contacts", earlier_id, ["1"])

    def read(conn: object) -> int:
        return int(
            conn.execute(  # type: ignore[attr-defined]
                sightings.select().with_only_columns(sightings.c.last_seen_run_id)
            ).scalar_one()
        )

    assert await store.db.read(read) == later.run_id


async def test_a_record_is_never_replaced_by_an_older_copy_of_itself(store: Store) -> None:
    from proxy.diff import Fingerprinter, prepare
    from proxy.sources.hubspot.pages import modified_ms

    def page(*records: dict) -> list:  # type: ignore[type-arg]
        return prepare(records, Fingerprinter(), lambda r: modified_ms(r, "lastmodifieddate"))

    base = await base_of(store)
    writer = await store.begin_run("contacts")
    newer = contact(1, version=5, firstname="Newer")
    older = contact(1, version=2, firstname="Older")
    await writer.apply_page(page(newer))
    result = await writer.apply_page(page(older))  # a slower writer's copy
    assert (result.stale, result.changes) == (1, 0)
    status = await store.reader.object_status("contacts")
    assert status is not None and status.last_change_seq == base + 1


async def test_a_process_that_lost_its_lease_cannot_write(store: Store) -> None:
    from proxy.errors import LeaseLost

    base = await base_of(store)
    ttl = timedelta(seconds=30)
    assert await store.leases.acquire("contacts", "me", ttl)
    assert not await store.leases.acquire("contacts", "someone-else", ttl)
    writer = await store.begin_run("contacts", owner="me")
    await writer.apply_page(incoming(contact(1)))
    await store.leases.release("contacts", "me")
    assert await store.leases.acquire("contacts", "someone-else", ttl)
    with pytest.raises(LeaseLost, match="someone-else"):
        await writer.apply_page(incoming(contact(2)))
    status = await store.reader.object_status("contacts")
    assert status is not None and status.last_change_seq == base + 1


async def test_a_new_holder_closes_the_run_a_killed_holder_left_running(
    make_rig: RigFactory, database_url: str
) -> None:
    """The heartbeat of a holder killed just after renewing can look fresh when the lease
    expires: the new holder closes its run anyway, since only the holder can write."""
    store = Store.open(database_url)
    try:
        await store.changes.register_object_types(["contacts"])
        assert await store.leases.acquire("contacts", "killed:1:x", timedelta(milliseconds=1))
        orphan = await store.runs.start("contacts", "full", "cli", "killed:1:x")
        await store.runs.heartbeat(orphan)  # fresh: within any lease's lifetime
    finally:
        await store.close()
    rig = await make_rig()

    async def closed() -> bool:
        run = await rig.store.runs.get(orphan)
        return run is not None and run.status == "interrupted"

    await wait_until(closed, what="the orphaned run to be closed")
    assert await rig.store.runs.waiting("contacts") == []


async def test_every_state_write_of_a_run_checks_the_lease(store: Store) -> None:
    """Not only pages: the scan's state, held deletions, the watermark and the incremental
    stamp a run writes are all refused once another process holds the lease."""
    from proxy.errors import LeaseLost

    ttl = timedelta(seconds=30)
    assert await store.leases.acquire("contacts", "me", ttl)
    writer = await store.begin_run("contacts", owner="me")
    scan = await store.scans.begin("contacts", writer.run_id, verify=False, owner="me")
    await store.scans.hold("contacts", writer.run_id, ["1", "2"], owner="me")
    before = await store.reader.object_status("contacts")
    await store.leases.release("contacts", "me")
    assert await store.leases.acquire("contacts", "someone-else", ttl)

    later = datetime.now(UTC) + timedelta(hours=1)
    writes = {
        "begin": store.scans.begin("contacts", writer.run_id, verify=True, owner="me"),
        "complete": store.scans.complete("contacts", "signature", owner="me"),
        "abandon": store.scans.abandon("contacts", owner="me"),
        "hold": store.scans.hold("contacts", writer.run_id, ["3"], owner="me"),
        "release_held": store.scans.release_held("contacts", owner="me"),
        "set_watermark": store.changes.set_watermark("contacts", later, owner="me"),
        "mark_incremental_done": store.changes.mark_incremental_done("contacts", later, owner="me"),
    }
    for name, write in writes.items():
        with pytest.raises(LeaseLost, match="someone-else"):
            await write
        assert await store.reader.object_status("contacts") == before, name
    held = await store.scans.held("contacts")
    assert held is not None and held.sample == ["1", "2"]
    current = await store.scans.current("contacts")
    assert current is not None and current.scan_id == scan.scan_id


async def test_an_incremental_run_that_lost_its_lease_leaves_the_watermark(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(10)
    rig = await make_rig(sim, LEASE_SECONDS="600")  # the keeper will not notice in time
    await rig.sync("full")
    before = await rig.store.reader.object_status("contacts")
    assert before is not None and before.watermark is not None
    sim.faults.delay_seconds = 1.0  # the run's search is in flight for a second
    run_id = await rig.request("incremental")

    async def running() -> bool:
        run = await rig.store.runs.get(run_id)
        return run is not None and run.status == "running"

    await wait_until(running, what="the incremental run")
    # Another process takes the lease over while the run waits for HubSpot.
    await rig.store.db.write(
        lambda conn: conn.execute(
            sa.update(leases)
            .where(leases.c.object_type == "contacts")
            .values(owner="someone-else", expires_at=datetime.now(UTC) + timedelta(hours=1))
        )
    )
    await rig.scheduler.idle()
    sim.faults.delay_seconds = 0
    run = await rig.store.runs.get(run_id)
    assert run is not None and run.status == "interrupted", run
    assert "no longer holds" in (run.error or "")
    after = await rig.store.reader.object_status("contacts")
    assert after is not None
    assert (after.watermark, after.last_incremental_sync_at) == (
        before.watermark,
        before.last_incremental_sync_at,
    )
