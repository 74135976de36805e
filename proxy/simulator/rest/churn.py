"""Background activity for the demo's filterless API: orders keep changing, so a feed
mirroring it shows creations, edits and deletions within a minute or two (the API itself
has no change filter: only the mirror can tell what changed)."""

from __future__ import annotations

import asyncio
import random
from typing import Final

from .state import RestSimulator

# Per-tick chances of the rarer events.
CREATE_CHANCE: Final = 0.3
DELETE_CHANCE: Final = 0.05
# Below this many orders, nothing is deleted.
MIN_FOR_DELETES: Final = 10


def churn_step(sim: RestSimulator, rng: random.Random) -> None:
    """One tick: an order or two edited, now and then one created or deleted."""
    ids = sorted(sim.records)
    if not ids:
        sim.create()
        return
    for rid in rng.sample(ids, k=min(len(ids), rng.randint(1, 2))):
        sim.update(rid, name=f"order {rid} (edited {rng.randint(1, 999)})")
    if rng.random() < CREATE_CHANCE:
        sim.create()
    if len(ids) >= MIN_FOR_DELETES and rng.random() < DELETE_CHANCE:
        sim.delete(rng.choice(ids))


async def churn(sim: RestSimulator, interval_s: float, seed: int | None = None) -> None:
    """Run :func:`churn_step` every ``interval_s`` seconds until cancelled."""
    rng = random.Random(seed)
    while True:
        await asyncio.sleep(interval_s)
        churn_step(sim, rng)
