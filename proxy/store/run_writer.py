"""The write side of one sync run: pages, tombstones, sightings and the scan position, with
the counters the run's record keeps."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence

from proxy.diff import Incoming
from proxy.errors import LeaseLost
from proxy.store.changes import ApplyResult, ChangeIndex
from proxy.store.database import Database
from proxy.store.runs import RunCounts, RunLog
from proxy.store.scans import ScanPosition

# Sightings of unchanged pages are written in batches of this many ids, with the scan's
# position after them. Larger batches mean fewer transactions (a no-change rescan of
# 100,000 records: 50 commits at 2,000, 10 at 10,000); what a kill loses is the listing
# since the last batch, which a resumed scan lists again (here up to 100 pages of 100).
SIGHTINGS_BATCH = 10_000
# A run's counters are saved this often while it runs, not only at its end.
PROGRESS_EVERY_PAGES = 20
# While a sync rewrites the table (a first sync grows it from nothing; a full sync can
# renumber every record), Postgres plans with stale statistics (and picks the wrong index
# for the feed's reads, ~25x slower) until autovacuum catches up; a run refreshes them
# itself once it has written this many changes. Counted in changes, not pages: a rescan
# that changes nothing must not pay for it (three ANALYZEs of a 100,000-record table cost
# a no-change rescan on Postgres ~0.9 s, bench.rest).
REFRESH_STATISTICS_AT_CHANGES = (1_000, 10_000, 100_000)
# A run's row says when it last committed a page, at most this many seconds behind (health
# tells a long scan that moves from one that hangs; a write per page would cost ingest).
PROGRESS_MARK_SECONDS = 5.0


class RunWriter:
    """Writes for run ``run_id`` of ``object_type``. With ``owner``, every write first
    checks that this process still holds the object type's lease."""

    def __init__(
        self,
        db: Database,
        changes: ChangeIndex,
        runs: RunLog,
        object_type: str,
        run_id: int,
        *,
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.changes = changes
        self.runs = runs
        self.object_type = object_type
        self.run_id = run_id
        self.owner = owner
        self.counts = RunCounts()
        self._pages = 0
        self._unrecorded_sightings: list[str] = []
        self._unsaved_position: str | None = None
        self._progress_marked_at: float | None = None

    @property
    def group_bytes(self) -> int:
        """How much record text pages queued behind a write may bring into one
        transaction (:func:`proxy.pipeline.ingest`); 0: a transaction per page."""
        return self.db.write_group_bytes

    async def apply_page(
        self,
        records: Sequence[Incoming],
        position: ScanPosition | None = None,
        *,
        probe: bool = True,
    ) -> ApplyResult:
        """Apply a page; ``position`` is where a full scan resumes after it. A page that
        changes nothing (most of a verifying rescan) takes no write lock: its sightings (and
        the position after it) are buffered and written in bulk, at the latest when the run
        finishes. ``probe=False`` skips that check for records already known to be new or
        changed (it would read them once more for nothing). A position is never saved
        ahead of the sightings of the pages before it."""
        if not records:
            result: ApplyResult | None = ApplyResult()
        elif probe:
            result = await self.changes.unchanged_page(self.object_type, records)
        else:
            result = None
        if result is None:
            await self.flush_sightings()  # the position saved below must not pass them
            result = await self.changes.apply_page(
                self.object_type,
                records,
                run_id=self.run_id,
                owner=self.owner,
                position=position.to_json() if position is not None else None,
            )
            await self._committed()
        else:
            if position is not None:
                self._unsaved_position = position.to_json()
            await self._buffer_sightings([r.entity_id for r in records])
        self.counts.fetched += len(records)
        before = self._changes()
        self._count(result)
        self._pages += 1
        if any(before < n <= self._changes() for n in REFRESH_STATISTICS_AT_CHANGES):
            await self.db.refresh_statistics()
        if self._pages % PROGRESS_EVERY_PAGES == 0:  # so /admin/runs/{id} shows a long run move
            await self.runs.save_progress(self.run_id, self.counts)
        return result

    async def sight(self, entity_ids: Sequence[str]) -> None:
        """Listed ids whose stored copy is current (nothing fetched): seen by this run, the
        evidence a scan's deletions rest on. Buffered like an unchanged page's; write a
        position only through :meth:`apply_page` or :meth:`save_position`, after them."""
        self.counts.fetched += len(entity_ids)
        self.counts.unchanged += len(entity_ids)
        await self._buffer_sightings(entity_ids)

    async def _buffer_sightings(self, entity_ids: Sequence[str]) -> None:
        self._unrecorded_sightings.extend(entity_ids)
        if len(self._unrecorded_sightings) >= SIGHTINGS_BATCH:
            await self.flush_sightings()

    async def save_position(self, position: ScanPosition) -> None:
        """Save where the scan resumes (with every sighting before it)."""
        self._unsaved_position = position.to_json()
        await self.flush_sightings()

    async def flush_sightings(self) -> None:
        ids, self._unrecorded_sightings = self._unrecorded_sightings, []
        position, self._unsaved_position = self._unsaved_position, None
        await self.changes.record_sightings(
            self.object_type, self.run_id, ids, owner=self.owner, position=position
        )
        if ids or position is not None:
            await self._committed()

    async def _committed(self) -> None:
        now = time.monotonic()
        marked = self._progress_marked_at
        if marked is None or now - marked >= PROGRESS_MARK_SECONDS:
            self._progress_marked_at = now
            await self.runs.mark_progress(self.run_id)

    async def mark_deleted(self, entity_ids: Iterable[str]) -> ApplyResult:
        """Tombstone ids a merge result names (evidence enough)."""
        result = await self.changes.mark_deleted(
            self.object_type, entity_ids, run_id=self.run_id, owner=self.owner
        )
        self._count(result)
        return result

    async def tombstone_unseen(self, entity_ids: Iterable[str], scan_id: int) -> ApplyResult:
        """Tombstone confirmed absences that are still unseen by the scan."""
        await self.flush_sightings()  # the check below rests on every sighting
        result = await self.changes.mark_deleted(
            self.object_type,
            entity_ids,
            run_id=self.run_id,
            owner=self.owner,
            unseen_since=scan_id,
        )
        self._count(result)
        return result

    def _changes(self) -> int:
        return self.counts.created + self.counts.updated + self.counts.deleted

    def _count(self, result: ApplyResult) -> None:
        self.counts.created += result.created
        self.counts.updated += result.updated
        self.counts.deleted += result.deleted
        self.counts.unchanged += result.unchanged + result.skipped + result.stale

    async def finish(self, status: str, error: str | None = None) -> None:
        """Record the run's end. What it saw stays recorded whatever the outcome (a full
        scan resumes from it), unless the lease was lost: then nothing more is written for
        the object type but the run's own record."""
        with contextlib.suppress(LeaseLost):
            await self.flush_sightings()
        await self.runs.finish(self.run_id, self.counts, status=status, error=error)
