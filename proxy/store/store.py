"""One process's view of the mirror database."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.store.changes import ChangeIndex
from proxy.store.database import Database
from proxy.store.engine import create_engine
from proxy.store.held import ConfirmRefused, ConfirmResult
from proxy.store.leases import Leases
from proxy.store.reads import FeedReader
from proxy.store.run_writer import RunWriter
from proxy.store.runs import RunLog
from proxy.store.scans import FullScans
from proxy.store.tokens import SourceTokens


class Store:
    """One per process; cheap to share between tasks."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.db = Database(engine)
        self.reader = FeedReader(engine)
        self.changes = ChangeIndex(self.db)
        self.runs = RunLog(self.db)
        self.leases = Leases(self.db)
        self.scans = FullScans(self.db)
        self.tokens = SourceTokens(self.db)

    @classmethod
    def open(cls, url: str, **engine_kwargs: Any) -> Store:
        return cls(create_engine(url, **engine_kwargs))

    async def close(self) -> None:
        await self.db.close()

    def writer(self, object_type: str, run_id: int, *, owner: str | None = None) -> RunWriter:
        """The writer of run ``run_id``'s changes."""
        return RunWriter(self.db, self.changes, self.runs, object_type, run_id, owner=owner)

    async def begin_run(
        self, object_type: str, mode: str = "full", trigger: str = "cli", owner: str | None = None
    ) -> RunWriter:
        """Record a run that starts now and return its writer (tests and benchmarks; the
        scheduler claims queued runs instead)."""
        run_id = await self.runs.start(object_type, mode, trigger, owner)
        return self.writer(object_type, run_id, owner=owner)

    async def apply_held_deletions(
        self, object_type: str, run_id: int
    ) -> ConfirmResult | ConfirmRefused | None:
        """An operator confirmed the deletions run ``run_id`` held: tombstone those still
        live and neither seen nor changed since (``ChangeIndex.confirm_held``); refused
        while a run or a scan of the object type is under way. None when that run holds
        nothing (any more)."""
        return await self.changes.confirm_held(object_type, run_id)
