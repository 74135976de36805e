"""Background activity for the demo: a HubSpot account where people keep working.

Each tick updates a few contacts and now and then creates, archives, restores or merges
one, so a feed reading the proxy shows every kind of change within a minute or two.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from .catalogue import LIFECYCLE_STAGES
from .generate import JOB_TITLES

if TYPE_CHECKING:
    import random

    from .state import HubSpotSimulator

# Per-tick chances of the rarer events.
CREATE_CHANCE: Final = 0.2
ARCHIVE_CHANCE: Final = 0.05
RESTORE_CHANCE: Final = 0.05
MERGE_CHANCE: Final = 0.03
# Archives and merges shrink the account; below this many live contacts only updates happen.
MIN_LIVE_FOR_REMOVALS: Final = 10


def churn_step(sim: HubSpotSimulator, rng: random.Random) -> None:
    """One tick of activity, all of it stamped with the simulator's clock."""
    live = sim.live_ids()
    if not live:
        sim.create_contacts(1)
        return
    for contact_id in rng.sample(live, k=min(len(live), rng.randint(1, 3))):
        sim.update(contact_id, _edit(rng))
    if rng.random() < CREATE_CHANCE:
        sim.create_contacts(1)
    if len(live) >= MIN_LIVE_FOR_REMOVALS:
        if rng.random() < ARCHIVE_CHANCE:
            sim.archive(rng.choice(live))
            live = sim.live_ids()
        if rng.random() < MERGE_CHANCE:
            primary, other = rng.sample(live, k=2)
            sim.merge(primary, other)
    archived = sim.archived_ids()
    if archived and rng.random() < RESTORE_CHANCE:
        sim.restore(rng.choice(archived))


def _edit(rng: random.Random) -> dict[str, str | None]:
    field = rng.choice(("jobtitle", "lifecyclestage", "phone"))
    if field == "jobtitle":
        return {"jobtitle": rng.choice(JOB_TITLES)}
    if field == "lifecyclestage":
        return {"lifecyclestage": rng.choice(LIFECYCLE_STAGES)}
    return {"phone": f"+47 {rng.randrange(100_000_000):08d}"}


async def churn(
    sim: HubSpotSimulator, *, interval_s: float, rng: random.Random, stop: asyncio.Event
) -> None:
    """Run :func:`churn_step` every ``interval_s`` seconds until ``stop`` is set."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        except TimeoutError:
            churn_step(sim, rng)
