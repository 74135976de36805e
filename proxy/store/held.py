"""Confirming the deletions a full scan held for an operator (the mass-deletion guard).

What the scan knew when it held them may be stale by the time an operator confirms: the
records may be live again, and a run may have seen them. So confirming is one write
transaction under the object type's sequence lock (``ChangeIndex.confirm_held``) that
first makes sure every sighting is written, then decides each held record afresh from
what the mirror holds, then tombstones the rest:

* Refused while a run of the object type is running: a run buffers the sightings of
  records whose stored copy is current (up to ``SIGHTINGS_BATCH`` ids) and writes them
  later, possibly from another process, so the mirror cannot tell yet what it saw. Refused
  also while a full scan is unfinished: it decides these absences afresh when it completes
  (and drops or replaces the held set), so confirming the old evidence under it would
  race it. The sequence lock makes both checks hold until commit for scans: a scan begins
  by writing its state to the row the lock holds.
* Kept live: a held record that some run has seen since it was held, whose stored copy
  changed since (a new change number), or whose stored modification time is later than
  the hold (HubSpot had it after it was held). These are reported, not tombstoned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from proxy.store.runs import RUNNING
from proxy.store.schema import entities, held_deletions, object_state, sightings, sync_runs


@dataclass(frozen=True)
class RunningRun:
    run_id: int
    mode: str
    started_at: datetime | None


@dataclass(frozen=True)
class ConfirmRefused:
    """Why held deletions cannot be confirmed now (nothing was changed)."""

    reason: str
    running: RunningRun | None = None
    scan_run_id: int | None = None
    scan_started_at: datetime | None = None


@dataclass
class ConfirmResult:
    deleted: int = 0
    skipped: list[str] = field(default_factory=list)  # seen live or changed since held
    already_deleted: int = 0  # tombstoned meanwhile (an archive), or no longer mirrored
    first_seq: int | None = None
    last_seq: int | None = None


def refusal(conn: sa.Connection, object_type: str) -> ConfirmRefused | None:
    """Why confirming must wait, if it must: a running run, or an unfinished scan."""
    running = conn.execute(
        sa.select(sync_runs.c.id, sync_runs.c.mode, sync_runs.c.started_at)
        .where(sync_runs.c.object_type == object_type, sync_runs.c.status == RUNNING)
        .order_by(sync_runs.c.id)
        .limit(1)
    ).one_or_none()
    if running is not None:
        return ConfirmRefused(
            f"run {running.id} ({running.mode}) of {object_type} is running: what it has "
            "seen is not all written yet, so a held record it found live could be deleted; "
            "confirm again once it has finished",
            running=RunningRun(int(running.id), running.mode, running.started_at),
        )
    scan = conn.execute(
        sa.select(object_state.c.scan_run_id, object_state.c.scan_started_at).where(
            object_state.c.object_type == object_type
        )
    ).one_or_none()
    if scan is not None and scan.scan_run_id is not None:
        return ConfirmRefused(
            f"the full scan of {object_type} begun by run {scan.scan_run_id} is unfinished: "
            "it decides these absences afresh when it completes; confirm after it, if it "
            "still holds them",
            scan_run_id=int(scan.scan_run_id),
            scan_started_at=scan.scan_started_at,
        )
    return None


def decide(conn: sa.Connection, object_type: str, run_id: int, result: ConfirmResult) -> list[str]:
    """The held ids of run ``run_id`` to tombstone now, in id order; the others are counted
    in ``result`` (skipped: seen or changed since held; already deleted)."""
    rows = conn.execute(
        sa.select(
            held_deletions.c.entity_id,
            held_deletions.c.held_at,
            entities.c.deleted,
            entities.c.changed_at,
            entities.c.source_modified_ms,
            sightings.c.last_seen_run_id,
        )
        .select_from(
            held_deletions.outerjoin(
                entities,
                sa.and_(
                    entities.c.object_type == held_deletions.c.object_type,
                    entities.c.entity_id == held_deletions.c.entity_id,
                ),
            ).outerjoin(
                sightings,
                sa.and_(
                    sightings.c.object_type == held_deletions.c.object_type,
                    sightings.c.entity_id == held_deletions.c.entity_id,
                ),
            )
        )
        .where(held_deletions.c.object_type == object_type, held_deletions.c.run_id == run_id)
        .order_by(held_deletions.c.entity_id)
    )
    doomed: list[str] = []
    for entity_id, held_at, deleted, changed_at, modified_ms, seen_by in rows:
        if deleted is None or deleted:
            result.already_deleted += 1
        elif (
            # The holding run saw none of them (that is why they were held): any sighting
            # from it on is a later one.
            (seen_by is not None and seen_by >= run_id)
            or changed_at > held_at
            or (modified_ms is not None and modified_ms > held_at.timestamp() * 1000)
        ):
            result.skipped.append(entity_id)
        else:
            doomed.append(entity_id)
    return doomed


def release(conn: sa.Connection, object_type: str, run_id: int) -> None:
    conn.execute(
        held_deletions.delete().where(
            held_deletions.c.object_type == object_type, held_deletions.c.run_id == run_id
        )
    )


def holds(conn: sa.Connection, object_type: str, run_id: int) -> bool:
    return (
        conn.execute(
            sa.select(held_deletions.c.entity_id)
            .where(held_deletions.c.object_type == object_type, held_deletions.c.run_id == run_id)
            .limit(1)
        ).first()
        is not None
    )
