"""Incremental search loses nothing when records change while it pages.

The simulator edits a record of a page already served at every page boundary
(``Faults.search_edit_property``): the edited record leaves the run's window (its new
modification time is past the run's start). Paged by offset, the records after it would
shift one place towards the start and one would never be read."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from proxy.simulator import HubSpotSimulator
from tests.sync.conftest import RigFactory

AHEAD_MS = 5
CHANGED = 900  # five search pages of 200: four boundaries


class AheadClock:
    """HubSpot's clock a few milliseconds ahead of the proxy's: an edit made during a run
    is stamped strictly after the run's start + 1 ms, the end of its window."""

    def now_ms(self) -> int:
        return int(time.time() * 1000) + AHEAD_MS


async def wall_clock_past(ms: int, deadline_s: float = 5.0) -> None:
    """Wait until the proxy's clock reads later than ``ms`` (a few ms at most)."""
    give_up = time.monotonic() + deadline_s
    while int(time.time() * 1000) <= ms:
        assert time.monotonic() < give_up, "the wall clock did not move"
        await asyncio.sleep(0.001)


def stamps(layout: str, start_ms: int) -> list[int]:
    """The modification time of each changed record, ascending."""
    if layout == "distinct":
        return [start_ms + i for i in range(CHANGED)]
    if layout == "threes":  # ties that page boundaries split (200 is no multiple of 3)
        return [start_ms + i // 3 for i in range(CHANGED)]
    return [start_ms] * CHANGED  # one bulk job: every record in one millisecond


@pytest.mark.parametrize("layout", ["distinct", "threes", "one_millisecond"])
async def test_edits_at_every_search_page_boundary_lose_no_change(
    make_rig: RigFactory, layout: str
) -> None:
    sim = HubSpotSimulator(clock=AheadClock(), custom_properties=2)
    an_hour_ago = int(time.time() * 1000) - 3_600_000
    ids = sim.create_contacts(CHANGED + 100, timestamp_ms=an_hour_ago)
    rig = await make_rig(sim)
    assert (await rig.sync("full")).status == "succeeded"
    mark = await rig.last_updated()
    changed = ids[50 : 50 + CHANGED]  # changed before the run, a minute ago
    for contact_id, stamp in zip(changed, stamps(layout, an_hour_ago + 3_540_000), strict=True):
        sim.update(contact_id, {"jobtitle": f"Skipper {contact_id}"}, timestamp_ms=stamp)

    sim.faults.search_edit_property = "city"
    searches = sim.requests["search"]
    first = await rig.sync("incremental")
    assert first.status == "succeeded", first.error
    edited = list(sim.search_edits)
    assert edited, "the simulator edited no record mid-run"
    if layout != "one_millisecond":
        # Every page but the last was followed by an edit; keyset paging costs no more
        # search requests than offset paging did: one per 200 records.
        assert len(edited) == math.ceil(CHANGED / 200) - 1
        assert sim.requests["search"] - searches == math.ceil(CHANGED / 200)

    # Every change made before the run started is in the feed after it.
    feed = {e["_id"]: e for e in await rig.feed(since=mark)}
    missing = [i for i in changed if i not in feed]
    assert not missing, f"changes never read: {missing}"
    assert all(feed[i]["properties"]["jobtitle"] == f"Skipper {i}" for i in changed)

    # The edits made during the run are read by the next one, at the latest.
    sim.faults.search_edit_property = None
    await wall_clock_past(sim.clock.now_ms())
    second = await rig.sync("incremental")
    assert second.status == "succeeded", second.error
    feed = {e["_id"]: e for e in await rig.feed(since=mark)}
    for n, contact_id in enumerate(edited, start=1):
        assert feed[contact_id]["properties"]["city"] == f"edited after search page {n}"
