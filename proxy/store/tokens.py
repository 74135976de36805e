"""Refresh tokens a declared source's OAuth2 server rotated (``source_tokens``)."""

from __future__ import annotations

import sqlalchemy as sa

from proxy.store.database import Database, utcnow
from proxy.store.schema import source_tokens


class SourceTokens:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self, object_type: str) -> str | None:
        """The last refresh token saved for the source (None: use the declared one)."""
        query = sa.select(source_tokens.c.refresh_token).where(
            source_tokens.c.object_type == object_type
        )
        return await self.db.read(lambda conn: conn.execute(query).scalar_one_or_none())

    async def save(self, object_type: str, token: str) -> None:
        """Keep ``token``: the server spent the previous one when it handed this out."""
        statement = self.db.insert(source_tokens).values(
            object_type=object_type, refresh_token=token, saved_at=utcnow()
        )
        statement = statement.on_conflict_do_update(
            index_elements=[source_tokens.c.object_type],
            set_={"refresh_token": token, "saved_at": utcnow()},
        )
        await self.db.write(lambda conn: conn.execute(statement))
