"""Leases: which process runs the syncs of an object type.

A lease is a row per object type naming its holder and when the lease expires. The holder
renews it well before then; once it has expired (the holder died, hung, or lost the
database), any process may take it over. Every write a sync run makes checks, inside its
own transaction, that its process still holds the lease (:func:`check_lease`), so once a
takeover has committed no write of the old holder can commit after it: on Postgres the
check takes a share lock on the lease row, which the takeover's UPDATE waits for; on SQLite
every write transaction holds the database's one write lock.

Why a lease row and not a Postgres advisory lock: it works the same on SQLite (where
``change-proxy sync`` beside ``serve`` needs it too), it survives a dropped database
connection instead of silently releasing the lock with it, and a developer can see who
holds what with one ``SELECT * FROM leases``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from proxy.errors import LeaseLost
from proxy.store.database import Database
from proxy.store.schema import leases


@dataclass(frozen=True)
class Lease:
    object_type: str
    owner: str
    acquired_at: datetime
    expires_at: datetime


def check_lease(conn: sa.Connection, object_type: str, owner: str) -> None:
    """Raise :class:`LeaseLost` unless ``owner`` holds the object type's lease. Call inside
    a write transaction: the row stays locked (Postgres) until it commits."""
    query = sa.select(leases.c.owner).where(leases.c.object_type == object_type)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    holder = conn.execute(query).scalar_one_or_none()
    if holder != owner:
        raise LeaseLost(
            f"this process no longer holds the {object_type} sync lease "
            f"(held by {holder or 'nobody'})"
        )


class Leases:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def acquire(self, object_type: str, owner: str, ttl: timedelta) -> bool:
        """Take the lease if it is free, expired, or already ours (then renew it)."""

        def take(conn: sa.Connection) -> bool:
            now = self.db.now(conn)
            statement = self.db.insert(leases).values(
                object_type=object_type, owner=owner, acquired_at=now, expires_at=now + ttl
            )
            statement = statement.on_conflict_do_update(
                index_elements=[leases.c.object_type],
                set_={
                    "owner": owner,
                    "expires_at": now + ttl,
                    "acquired_at": sa.case(
                        (leases.c.owner == owner, leases.c.acquired_at),
                        else_=sa.literal(now, leases.c.acquired_at.type),
                    ),
                },
                where=(leases.c.owner == owner) | (leases.c.expires_at < now),
            )
            conn.execute(statement)
            holder = conn.execute(
                sa.select(leases.c.owner).where(leases.c.object_type == object_type)
            ).scalar_one()
            return bool(holder == owner)

        return await self.db.write(take)

    async def renew(self, object_type: str, owner: str, ttl: timedelta) -> bool:
        """Extend our lease; False when it is no longer ours (someone took it over)."""

        def extend(conn: sa.Connection) -> bool:
            now = self.db.now(conn)
            result = conn.execute(
                leases.update()
                .where(leases.c.object_type == object_type, leases.c.owner == owner)
                .values(expires_at=now + ttl)
            )
            return bool(result.rowcount)

        return await self.db.write(extend)

    async def release(self, object_type: str, owner: str) -> None:
        """Give the lease up at once (a clean shutdown), so another process need not wait
        for it to expire."""
        statement = leases.delete().where(
            leases.c.object_type == object_type, leases.c.owner == owner
        )
        await self.db.write(lambda conn: conn.execute(statement))

    async def holder(self, object_type: str) -> Lease | None:
        """The live lease of the object type, or None when nobody holds one."""

        def read(conn: sa.Connection) -> Lease | None:
            row = conn.execute(
                sa.select(leases).where(
                    leases.c.object_type == object_type, leases.c.expires_at >= self.db.now(conn)
                )
            ).one_or_none()
            return Lease(**row._asdict()) if row is not None else None

        return await self.db.read(read)
