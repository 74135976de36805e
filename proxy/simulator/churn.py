"""Background activity for the demo: a HubSpot account where people keep working.

Each tick updates a few contacts and now and then creates, archives, restores or merges
one, so a feed reading the proxy shows every kind of change within a minute or two. Every
other type that has records gets the same kinds of change at a gentler pace (an edit of
one of its standard enumeration or number properties, creations, archives, restores, and
company merges), and now and then two records of types that link (``seeding.py``) are
associated or a link is removed. A contacts-only account draws exactly the random numbers
it drew before other types existed, so its churn is unchanged.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from .catalogue import LIFECYCLE_STAGES
from .generate import JOB_TITLES
from .seeding import SEEDED_LINKS

if TYPE_CHECKING:
    import random

    from .catalogue import PropertyDef
    from .state import HubSpotSimulator
    from .store import ObjectStore

# Per-tick chances of the rarer events.
CREATE_CHANCE: Final = 0.2
ARCHIVE_CHANCE: Final = 0.05
RESTORE_CHANCE: Final = 0.05
MERGE_CHANCE: Final = 0.03
# Archives and merges shrink the account; below this many live contacts only updates happen.
MIN_LIVE_FOR_REMOVALS: Final = 10
# Per-tick chances for each other type that has records, and for each pair that links.
OTHER_UPDATE_CHANCE: Final = 0.5
OTHER_CREATE_CHANCE: Final = 0.1
OTHER_ARCHIVE_CHANCE: Final = 0.02
OTHER_RESTORE_CHANCE: Final = 0.02
OTHER_MERGE_CHANCE: Final = 0.01
ASSOCIATE_CHANCE: Final = 0.1
DISSOCIATE_CHANCE: Final = 0.05


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
    for store in sim.stores():
        if store is not sim.contacts and (store.live_ids() or store.archived_ids()):
            _churn_other(store, rng)
    for from_type, to_type, _ in SEEDED_LINKS:
        _churn_links(sim, from_type, to_type, rng)


def _churn_other(store: ObjectStore, rng: random.Random) -> None:
    """One tick of a type other than contacts (which has had records)."""
    live = store.live_ids()
    editable = _editable(store)
    if live and editable and rng.random() < OTHER_UPDATE_CHANCE:
        prop = rng.choice(editable)
        value = rng.choice(prop.options) if prop.options else str(rng.randrange(1, 100_000))
        store.update(rng.choice(live), {prop.name: value})
    if rng.random() < OTHER_CREATE_CHANCE:
        store.create(1)
    if len(live) >= MIN_LIVE_FOR_REMOVALS:
        if rng.random() < OTHER_ARCHIVE_CHANCE:
            store.archive(rng.choice(live))
            live = store.live_ids()
        if store.object_type.mergeable and rng.random() < OTHER_MERGE_CHANCE:
            store.merge(*rng.sample(live, k=2))
    archived = store.archived_ids()
    if archived and rng.random() < OTHER_RESTORE_CHANCE:
        store.restore(rng.choice(archived))


def _editable(store: ObjectStore) -> list[PropertyDef]:
    """The type's own properties churn can give a plausible new value."""
    return [
        p
        for p in store.object_type.standard_properties
        if not p.read_only and (p.options or p.type == "number")
    ]


def _churn_links(sim: HubSpotSimulator, from_type: str, to_type: str, rng: random.Random) -> None:
    sources, targets = sim.objects(from_type).live_ids(), sim.objects(to_type).live_ids()
    if not sources or not targets:
        return
    if rng.random() < ASSOCIATE_CHANCE:
        sim.associate(from_type, rng.choice(sources), to_type, rng.choice(targets))
    if rng.random() < DISSOCIATE_CHANCE:
        from_id = rng.choice(sources)
        linked = sim.associations(from_type, from_id, to_type)
        if linked:
            to_id, _ = rng.choice(linked)
            sim.dissociate(from_type, from_id, to_type, str(to_id))


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
