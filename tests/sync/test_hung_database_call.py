"""A database call that hangs never leaves a process believing it holds the sync lease:
the lease keeper bounds its calls and gives the lease up before it could expire, so two
processes never both say they run an object type's syncs."""

from __future__ import annotations

import asyncpg
import pytest

from proxy.simulator import HubSpotSimulator
from tests.helpers import wait_until
from tests.sync.conftest import Rig, RigFactory


def holds(rig: Rig) -> bool:
    return rig.scheduler.workers["contacts"].lease.held


async def says_it_syncs(rig: Rig) -> bool:
    body = await (await rig.client.get("/health")).json()
    return bool(body["objects"]["contacts"]["this_process_syncs"])


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=False)
async def test_a_renewal_that_hangs_gives_the_lease_up_and_the_other_process_takes_over(
    make_rig: RigFactory, database_url: str
) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(5)
    first = await make_rig(sim, LEASE_SECONDS="2")
    await wait_until(lambda: _true(holds(first)), what="the first process's lease")
    second = await make_rig(sim, LEASE_SECONDS="2")

    # Another session locks the lease row and keeps it: every renewal (an UPDATE of that
    # row) waits for a lock that is never granted, as a call on a dead connection would.
    blocker = await asyncpg.connect(database_url)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT * FROM leases WHERE object_type = 'contacts' FOR UPDATE")
        # Within the lease's lifetime (2 s) the holder stops saying it holds the lease.
        await wait_until(lambda: _true(not holds(first)), timeout=10, what="the lease given up")
        assert not await says_it_syncs(first)
        assert not holds(second)  # nobody can renew or take it while the row is locked
        await transaction.rollback()
    finally:
        await blocker.close()

    # The database answers again: one process (whichever renews first) holds the lease.
    await wait_until(lambda: _true(holds(first) or holds(second)), what="a new holder")
    assert [holds(first), holds(second)].count(True) == 1
    holder = first if holds(first) else second
    sim.create_contacts(2)
    assert (await holder.sync("incremental")).status == "succeeded"


async def _true(value: bool) -> bool:
    """``value`` as wait_until's condition (it is re-evaluated each time: a lambda)."""
    return value
