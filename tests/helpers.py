"""Test helpers: realistic records and small store shortcuts."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from proxy.diff import Fingerprinter, Incoming, prepare
from proxy.store import ApplyResult, RunWriter, Store
from proxy.store.schema import sync_runs

FINGERPRINT = Fingerprinter()


def contact(entity_id: int | str, version: int = 0, **props: str | None) -> dict[str, Any]:
    """A contact shaped like HubSpot's (every value a string), ``version`` varying content."""
    rng = random.Random(f"{entity_id}")
    first = rng.choice(["Ada", "Brian", "Chen", "Dina", "Emil", "Fatima", "Gustav", "Hilde"])
    last = rng.choice(["Berg", "Hansen", "Ito", "Jensen", "Kaur", "Larsen", "Moreau"])
    properties: dict[str, str | None] = {
        "hs_object_id": str(entity_id),
        "email": f"{first.lower()}.{last.lower()}.{entity_id}@example.com",
        "firstname": first,
        "lastname": last,
        "phone": f"+47 {rng.randint(10000000, 99999999)}",
        "company": f"{last} & Co {version}",
        "createdate": "2024-01-01T00:00:00.000Z",
        "lastmodifieddate": f"2024-02-01T00:00:{version % 60:02d}.000Z",
        "hs_merged_object_ids": None,
    }
    properties.update(props)
    return {
        "id": str(entity_id),
        "properties": properties,
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": properties["lastmodifieddate"],
        "archived": False,
    }


def archived(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "archived": True, "archivedAt": "2024-03-01T00:00:00.000Z"}


def incoming(*records: dict[str, Any]) -> list[Incoming]:
    return prepare(records, FINGERPRINT)


async def complete_scan(
    store: Store, writer: RunWriter, object_type: str = "contacts"
) -> ApplyResult:
    """What a full run does once its listing is done and HubSpot confirmed every absence:
    tombstone the live records the scan (begun by ``writer``'s run) did not see, and mark the
    mirror complete. (The sync tests cover the confirmation against the simulator.)"""
    await writer.flush_sightings()
    unseen = await store.changes.unseen_live_ids(object_type, writer.run_id)
    result = await writer.tombstone_unseen(unseen, writer.run_id)
    await store.scans.complete(object_type)
    return result


async def wait_until(
    condition: Callable[[], Awaitable[bool]],
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for polling, not a cancellation
    what: str = "condition",
) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds. For outcomes
    another task or process brings about in its own time (never a fixed sleep)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def base_of(store: Store, object_type: str = "contacts") -> int:
    """The number an object type's change numbers start after: the mirror's creation time in
    microseconds (``sequence_base``). Read it before anything is written; tests state the
    numbers they expect relative to it."""
    status = await store.reader.object_status(object_type)
    assert status is not None
    return status.last_change_seq


async def age_runs(store: Store, *, hours: int) -> None:
    """Move every finished run's end ``hours`` into the past (as if it had ended then)."""

    def age(conn: sa.Connection) -> None:
        finished = sa.select(sync_runs.c.id, sync_runs.c.finished_at).where(
            sync_runs.c.finished_at.is_not(None)
        )
        for run_id, at in conn.execute(finished).all():
            conn.execute(
                sync_runs.update()
                .where(sync_runs.c.id == run_id)
                .values(finished_at=at - timedelta(hours=hours))
            )

    await store.db.write(age)
