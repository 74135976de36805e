"""Full scans: where one in progress resumes, its completion, and the deletions it held.

A full scan may take several runs: one that fails or is interrupted leaves its position
(which listing, which cursor) in ``object_state``, saved in the same transaction as the
sightings of the pages before it, and the next full run carries on from there as the same
scan (``scan_run_id``: what the earlier runs saw still counts). Deletions are decided only
once a scan has listed everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from proxy.store.database import ID_CHUNK, Database, utcnow
from proxy.store.leases import check_lease
from proxy.store.schema import held_deletions, object_state

# Where a scan stands: listing the live records, then the archived ones, then done listing
# (only absences are left to confirm).
LIVE, ARCHIVED, LISTED = "live", "archived", "listed"
# What a scan fetches: what the listing shows as new or changed, or every record.
FULL, VERIFY = "full", "verify"


@dataclass(frozen=True)
class ScanPosition:
    phase: str = LIVE
    after: str | None = None  # the cursor of the next page of the phase's listing

    def to_json(self) -> str:
        return orjson.dumps({"phase": self.phase, "after": self.after}).decode()

    @classmethod
    def from_json(cls, text: str) -> ScanPosition:
        raw = orjson.loads(text)
        phase = raw.get("phase") if isinstance(raw, dict) else None
        if phase not in (LIVE, ARCHIVED, LISTED):
            return cls()  # unreadable: start the listing over (never skip part of it)
        after = raw.get("after")
        return cls(phase, after if isinstance(after, str) else None)


@dataclass(frozen=True)
class ScanState:
    scan_id: int  # the run that began the scan
    position: ScanPosition
    started_at: datetime
    verify: bool = False  # fetch and compare every record, not only what the listing says changed
    signature: str | None = None  # a verifying scan's content settings (FullScan._scan)


@dataclass(frozen=True)
class HeldDeletions:
    run_id: int
    count: int
    held_at: datetime
    sample: list[str]


async def update_state(db: Database, object_type: str, owner: str | None, **values: Any) -> None:
    """Update the object type's row of ``object_state``; with ``owner``, only while it holds
    the object type's lease (the writes of a sync run)."""
    statement = (
        object_state.update().where(object_state.c.object_type == object_type).values(**values)
    )

    def write(conn: sa.Connection) -> None:
        if owner is not None:
            check_lease(conn, object_type, owner)
        conn.execute(statement)

    await db.write(write)


def save_position(conn: sa.Connection, object_type: str, position: str) -> None:
    """Save a scan's position inside a write transaction (with its page's sightings)."""
    conn.execute(
        object_state.update()
        .where(object_state.c.object_type == object_type)
        .values(scan_position=position)
    )


class FullScans:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def current(self, object_type: str) -> ScanState | None:
        """The full scan in progress, if one is."""
        query = sa.select(
            object_state.c.scan_run_id,
            object_state.c.scan_position,
            object_state.c.scan_started_at,
            object_state.c.scan_mode,
            object_state.c.scan_signature,
        ).where(object_state.c.object_type == object_type)
        row = await self.db.read(lambda conn: conn.execute(query).one_or_none())
        if row is None or row.scan_run_id is None:
            return None
        position = (
            ScanPosition.from_json(row.scan_position) if row.scan_position else ScanPosition()
        )
        return ScanState(
            row.scan_run_id,
            position,
            row.scan_started_at or utcnow(),
            row.scan_mode == VERIFY,
            row.scan_signature,
        )

    async def begin(
        self,
        object_type: str,
        run_id: int,
        *,
        verify: bool,
        signature: str | None = None,
        owner: str | None = None,
    ) -> ScanState:
        """Start a new scan with run ``run_id``, from the beginning of the live listing; a
        verifying one fetches under the content settings ``signature``."""
        state = ScanState(run_id, ScanPosition(), utcnow(), verify, signature if verify else None)
        await self._set(
            object_type,
            owner,
            scan_run_id=run_id,
            scan_position=state.position.to_json(),
            scan_started_at=state.started_at,
            scan_mode=VERIFY if verify else FULL,
            scan_signature=state.signature,
        )
        return state

    async def fetch_signature(self, object_type: str) -> str | None:
        """The content settings every stored record was last fetched whole under."""
        query = sa.select(object_state.c.fetch_signature).where(
            object_state.c.object_type == object_type
        )
        return await self.db.read(lambda conn: conn.execute(query).scalar_one_or_none())

    async def abandon(self, object_type: str, *, owner: str | None = None) -> None:
        """Forget the scan in progress: the next full run starts a new one."""
        await self._set(
            object_type,
            owner,
            scan_run_id=None,
            scan_position=None,
            scan_started_at=None,
            scan_mode=None,
            scan_signature=None,
        )

    async def complete(
        self, object_type: str, fetch_signature: str | None = None, *, owner: str | None = None
    ) -> None:
        """The scan listed everything and its deletions are decided: the mirror is complete
        (the feed may answer from now on) and no scan is in progress. A verifying scan
        fetched every record under ``fetch_signature``'s settings."""
        now = utcnow()
        values: dict[str, Any] = {}
        if fetch_signature is not None:
            values["fetch_signature"] = fetch_signature
        await self._set(
            object_type,
            owner,
            first_full_sync_at=sa.func.coalesce(object_state.c.first_full_sync_at, now),
            last_full_sync_at=now,
            scan_run_id=None,
            scan_position=None,
            scan_started_at=None,
            scan_mode=None,
            scan_signature=None,
            **values,
        )

    async def _set(self, object_type: str, owner: str | None, **values: Any) -> None:
        await update_state(self.db, object_type, owner, **values)

    # --- held deletions ---------------------------------------------------------------------

    async def hold(
        self, object_type: str, run_id: int, ids: list[str], *, owner: str | None = None
    ) -> None:
        """Replace the object type's held deletions with ``ids``, held by run ``run_id``."""
        now = utcnow()

        def write(conn: sa.Connection) -> None:
            if owner is not None:
                check_lease(conn, object_type, owner)
            conn.execute(held_deletions.delete().where(held_deletions.c.object_type == object_type))
            for start in range(0, len(ids), ID_CHUNK):
                conn.execute(
                    held_deletions.insert(),
                    [
                        {
                            "object_type": object_type,
                            "entity_id": i,
                            "run_id": run_id,
                            "held_at": now,
                        }
                        for i in ids[start : start + ID_CHUNK]
                    ],
                )

        await self.db.write(write)

    async def held(self, object_type: str, sample: int = 20) -> HeldDeletions | None:
        def read(conn: sa.Connection) -> HeldDeletions | None:
            summary = conn.execute(
                sa.select(
                    sa.func.min(held_deletions.c.run_id),
                    sa.func.count(),
                    sa.func.min(held_deletions.c.held_at),
                ).where(held_deletions.c.object_type == object_type)
            ).one()
            run_id, count, held_at = summary
            if not count:
                return None
            ids = conn.execute(
                sa.select(held_deletions.c.entity_id)
                .where(held_deletions.c.object_type == object_type)
                .order_by(held_deletions.c.entity_id)
                .limit(sample)
            )
            return HeldDeletions(int(run_id), int(count), held_at, [row[0] for row in ids])

        return await self.db.read(read)

    async def held_ids(self, object_type: str, run_id: int) -> list[str]:
        query = (
            sa.select(held_deletions.c.entity_id)
            .where(held_deletions.c.object_type == object_type, held_deletions.c.run_id == run_id)
            .order_by(held_deletions.c.entity_id)
        )
        return await self.db.read(lambda conn: [row[0] for row in conn.execute(query)])

    async def release_held(
        self, object_type: str, run_id: int | None = None, *, owner: str | None = None
    ) -> int:
        """Drop the held deletions (all, or only run ``run_id``'s); how many were dropped.
        With ``owner`` (a run's write), only while it holds the object type's lease."""
        statement = held_deletions.delete().where(held_deletions.c.object_type == object_type)
        if run_id is not None:
            statement = statement.where(held_deletions.c.run_id == run_id)

        def write(conn: sa.Connection) -> int:
            if owner is not None:
                check_lease(conn, object_type, owner)
            return int(conn.execute(statement).rowcount)

        return await self.db.write(write)
