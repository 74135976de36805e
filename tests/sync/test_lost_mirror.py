"""A lost mirror heals without a pipe reset: the database is deleted between two pulls of a
Sesam-style reader, the service starts over on an empty one, and the reader's old ``since``
brings every entity of the new mirror instead of an error or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.simulator import HubSpotSimulator
from tests.sync.conftest import RigFactory


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_pipe_holding_a_since_of_a_lost_mirror_gets_everything_again(
    make_rig: RigFactory, database_url: str
) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(150)
    first = await make_rig(sim)
    await first.sync("full")
    pulled = await first.feed()
    since = pulled[-1]["_updated"]  # what the pipe stored
    await first.client.close()

    database = Path(database_url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):  # the container's volume is gone
        Path(f"{database}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240
    sim.gdpr_delete(ids[0])  # a deletion the new mirror never sees as such
    sim.update(ids[1], {"firstname": "Changed while the mirror was gone"})

    second = await make_rig(sim)
    assert (await second.client.get(f"/contacts?since={since}")).status == 503  # not ready
    await second.sync("full")
    again = await second.feed(since=since)
    assert sorted(e["_id"] for e in again) == sorted(ids[1:])
    assert all(e["_updated"] > since for e in again)
    changed = next(e for e in again if e["_id"] == ids[1])
    assert changed["properties"]["firstname"] == "Changed while the mirror was gone"
    # A since ahead of the new mirror for any other reason is still refused.
    ahead = await second.client.get(f"/contacts?since={again[-1]['_updated'] + 1}")
    assert ahead.status == 400 and "reset the pipe" in (await ahead.json())["error"]
