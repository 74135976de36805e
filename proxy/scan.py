"""Full scans: the reconciliation (``full``) and the complete comparison (``verify``).

A scan lists every live record's id and modification time, then every archived one's, one
request per 100 records, saving its position with each committed page: a scan cut short by
a failure or a restart resumes there. ``full`` fetches whole (batch read, with associations)
only what the listing shows as new, restored, modified or archived; ``verify`` fetches and
compares every live record, so it also sees changes that do not move the modification time
(association changes among them). A ``full`` scan runs as ``verify`` when the content
settings (properties, associations) changed since every record was last fetched whole.

Only once both listings completed are the live records the scan did not see put to HubSpot
(batch read): those it reports gone or merged away are tombstoned, unless they are more than
the mass-deletion guard allows (then they are held for an operator); if any of them is still
live and older than the scan, the listing was incomplete and nothing is deleted.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from proxy.config import Settings
from proxy.errors import ListingIncomplete
from proxy.fetch import Fetched, PageFetcher
from proxy.pipeline import ingest, prefetched
from proxy.run_context import RunContext
from proxy.sources.hubspot import HubSpotClient
from proxy.sources.hubspot.batch_read import FetchedRecord
from proxy.sources.hubspot.client import BATCH_READ_SIZE
from proxy.store import Store
from proxy.store.scans import ARCHIVED, LISTED, LIVE, ScanPosition, ScanState

log = logging.getLogger(__name__)

# A full scan left unfinished longer than this starts over instead of resuming: a listing
# cursor that old may no longer mean the same place, and most of what it saw is stale.
MAX_RESUME_AGE = timedelta(hours=24)
# The mass-deletion guard never holds this few deletions, whatever their share: in a small
# mirror one deletion is already a large share.
MASS_DELETE_MIN = 10


class FullScan:
    """Runs full and verifying scans of any object type for one client and store."""

    def __init__(
        self, store: Store, client: HubSpotClient, fetcher: PageFetcher, settings: Settings
    ) -> None:
        self.store = store
        self.client = client
        self.fetcher = fetcher
        self.settings = settings

    async def run(self, run: RunContext, *, verify: bool, fetch_signature: str) -> ScanState:
        """List everything, fetch what is due, confirm absences; return the scan that
        completed (its start bounds what the next incremental must search)."""
        object_type = run.spec.name
        stale = await self.store.scans.fetch_signature(object_type) != fetch_signature
        if stale and not verify and await self.store.changes.live_count(object_type):
            log.info(
                "%s: the content settings changed (or this version's first scan): this "
                "scan fetches every record",
                object_type,
            )
        scan = await self._scan(run, verify=verify or stale, signature=fetch_signature)
        position = scan.position
        for phase, archived, then in ((LIVE, False, ARCHIVED), (ARCHIVED, True, LISTED)):
            if position.phase != phase:
                continue

            def after(page: Fetched, phase: str = phase, then: str = then) -> ScanPosition:
                return ScanPosition(phase, page.after) if page.after else ScanPosition(then)

            pages = self.pages(run, archived=archived, after=position.after, verify=scan.verify)
            if not archived:  # a tombstone keeps the stored associations (ChangeIndex)
                pages = self.fetcher.with_associations(run, pages)
            await ingest(run, pages, after)
            position = ScanPosition(then)
            await run.writer.save_position(position)
        try:
            await self._confirm_absences(run, scan)
        except ListingIncomplete:
            # What it saw cannot be trusted.
            await self.store.scans.abandon(object_type, owner=run.writer.owner)
            raise
        await self.store.scans.complete(
            object_type, fetch_signature if scan.verify else None, owner=run.writer.owner
        )
        return scan

    async def pages(
        self,
        run: RunContext,
        *,
        archived: bool,
        after: str | None = None,
        verify: bool = False,
    ) -> AsyncIterator[Fetched]:
        """The live (or archived) listing from cursor ``after``, each page with what is due
        fetched whole (every live record when ``verify``)."""
        listing = self.client.list_stamps(run.spec, run.stats, archived=archived, after=after)
        # The next listing page is asked for while this one's records are read and written.
        async with contextlib.aclosing(prefetched(listing)) as pages:
            async for page in pages:
                fetched = await self.fetcher.listed(
                    run, page.records, archived=archived, everything=verify
                )
                fetched.after = page.after
                yield fetched

    async def _scan(self, run: RunContext, *, verify: bool, signature: str) -> ScanState:
        """The scan this run carries on, or a new one. A verifying scan in progress is
        carried on by either mode (it does more); a reconciling one only by ``full``. A
        verifying scan begun under other content settings (``signature``) starts over:
        the records it fetched before lack what the settings now ask for, and its
        completion would say every record has it."""
        object_type, run_id = run.spec.name, run.writer.run_id
        scan = await self.store.scans.current(object_type)
        if scan is not None and datetime.now(UTC) - scan.started_at > MAX_RESUME_AGE:
            log.info(
                "%s: the unfinished scan of run %d is too old; starting over",
                object_type,
                scan.scan_id,
            )
            scan = None
        if scan is not None and verify and not scan.verify:
            log.info("%s: a verifying run starts a scan of its own", object_type)
            scan = None
        if scan is not None and scan.verify and scan.signature != signature:
            log.info(
                "%s: the content settings changed since run %d began its verifying scan; "
                "starting over",
                object_type,
                scan.scan_id,
            )
            scan = None
        if scan is None:
            scan = await self.store.scans.begin(
                object_type, run_id, verify=verify, signature=signature, owner=run.writer.owner
            )
        else:
            log.info(
                "run %d: resuming the scan begun by run %d (%s listing)",
                run_id, scan.scan_id, scan.position.phase,
            )  # fmt: skip
        await self.store.runs.set_scan(run_id, scan.scan_id)
        return scan

    async def _confirm_absences(self, run: RunContext, scan: ScanState) -> None:
        """Ask HubSpot about every live record the scan did not see. Tombstone those it
        reports not found (held instead when there are too many) and those merged into
        another record. One that is live and was modified after the scan began moved under
        it (a restore bumps the modification time): it is applied as fetched. One that is
        live and older should have been listed: the listing was incomplete."""
        object_type, scan_id = run.spec.name, scan.scan_id
        unseen = await self.store.changes.unseen_live_ids(object_type, scan_id)
        if not unseen:
            await self.store.scans.release_held(object_type, owner=run.writer.owner)
            return
        live_before = await self.store.changes.live_count(object_type)
        began_ms = int(scan.started_at.timestamp() * 1000)
        missing: list[str] = []
        merged: list[str] = []
        survivors: list[FetchedRecord] = []
        properties = await self.fetcher.properties(run)
        for start in range(0, len(unseen), BATCH_READ_SIZE):
            asked = unseen[start : start + BATCH_READ_SIZE]
            answer = await self.client.batch_read(run.spec, asked, properties, run.stats)
            moved = {
                i: r
                for i, r in answer.live.items()
                if r.modified_ms is not None and r.modified_ms >= began_ms
            }
            missed = sorted((answer.live.keys() - moved.keys()) | answer.unresolved)
            if missed:
                raise ListingIncomplete(
                    f"the listing ended early: HubSpot still has {len(missed)} record(s) "
                    f"this scan did not see (e.g. {', '.join(missed[:5])}); no deletions "
                    "applied, and the next full sync starts the scan over"
                )
            missing.extend(answer.missing)
            merged.extend(answer.merged)
            survivors.extend(answer.survivors)
            survivors.extend(moved.values())
        if survivors:  # fresh copies: records merged ids live on in, and records that moved
            await self.fetcher.attach_associations(run, survivors)
            await run.writer.apply_page(run.incoming(survivors))
        if merged:  # named in a merge result: evidence enough, never held
            await run.writer.tombstone_unseen(merged, scan_id)
        if not missing:
            await self.store.scans.release_held(object_type, owner=run.writer.owner)
            return
        share = 100 * len(missing) / max(live_before, 1)
        if len(missing) > MASS_DELETE_MIN and share > self.settings.mass_delete_percent:
            await self.store.scans.hold(
                object_type, run.writer.run_id, sorted(missing), owner=run.writer.owner
            )
            run.writer.counts.held = len(missing)
            log.warning(
                "run %d: %d confirmed deletions of %s (%.1f%% of %d live) exceed "
                "MASS_DELETE_PERCENT=%g; held until an operator confirms them",
                run.writer.run_id, len(missing), object_type, share, live_before,
                self.settings.mass_delete_percent,
            )  # fmt: skip
            return
        await self.store.scans.release_held(object_type, owner=run.writer.owner)
        await run.writer.tombstone_unseen(missing, scan_id)
