"""Full scans: the reconciliation (``full``) and the complete comparison (``verify``), for
any feed (:mod:`proxy.sources.base`).

A scan lists each of the feed's listing phases in turn (HubSpot: the live records, then the
archived ones), saving its position with each committed page: a scan cut short by a failure
or a restart resumes there. What the feed sends whole is applied; the ids it names as
current are marked seen. ``verify`` asks the feed for every record whole, so it also sees
changes that do not move a modification time. A ``full`` scan runs as ``verify`` when the
feed's content settings (its ``fetch_signature``) changed since every record was last
fetched whole.

Only once every phase is listed are the live records the scan did not see put to the feed
(``confirm_absences``): those it confirms gone or merged away are tombstoned, unless they
are more than the mass-deletion guard allows (then they are held for an operator); if any of
them should have been listed, the listing was incomplete and nothing is deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from proxy.config import Settings
from proxy.errors import ListingIncomplete
from proxy.pipeline import ingest
from proxy.run_context import RunContext
from proxy.sources.base import Feed, FeedPage, FeedRun
from proxy.store import Store
from proxy.store.scans import LISTED, ScanPosition, ScanState

log = logging.getLogger(__name__)

# A full scan left unfinished longer than this starts over instead of resuming: a listing
# cursor that old may no longer mean the same place, and most of what it saw is stale.
MAX_RESUME_AGE = timedelta(hours=24)
# The mass-deletion guard never holds this few deletions, whatever their share: in a small
# mirror one deletion is already a large share.
MASS_DELETE_MIN = 10


class FullScan:
    """Runs full and verifying scans of any feed for one store."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    async def run(self, run: RunContext, feed: Feed, source: FeedRun, *, verify: bool) -> ScanState:
        """List everything, apply what changed, confirm absences; return the scan that
        completed (its start bounds what the next incremental must search)."""
        object_type = run.object_type
        fetch_signature = feed.fetch_signature
        stale = await self.store.scans.fetch_signature(object_type) != fetch_signature
        if stale and not verify and await self.store.changes.live_count(object_type):
            log.info(
                "%s: the content settings changed (or this version's first scan): this "
                "scan fetches every record",
                object_type,
            )
        scan = await self._scan(run, verify=verify or stale, signature=fetch_signature)
        try:
            await self._list(run, source, feed.phases, scan)
            await self._confirm_absences(run, source, scan)
        except ListingIncomplete:
            # A listing that ended early (found at its end, or by the absences it left):
            # what the scan saw cannot be trusted; the next full sync starts over.
            await self.store.scans.abandon(object_type, owner=run.writer.owner)
            raise
        await self.store.scans.complete(
            object_type, fetch_signature if scan.verify else None, owner=run.writer.owner
        )
        return scan

    async def _list(
        self, run: RunContext, source: FeedRun, phases: Sequence[str], scan: ScanState
    ) -> None:
        """Every listing phase from the scan's position, each page written with the
        position after it."""
        position = scan.position
        for index, phase in enumerate(phases):
            if position.phase != phase:
                continue
            then = phases[index + 1] if index + 1 < len(phases) else LISTED

            def after(page: FeedPage, phase: str = phase, then: str = then) -> ScanPosition:
                return ScanPosition(phase, page.after) if page.after else ScanPosition(then)

            pages = source.scan_pages(phase, position.after, verify=scan.verify)
            await ingest(run, pages, after)
            position = ScanPosition(then)
            await run.writer.save_position(position)

    async def _scan(self, run: RunContext, *, verify: bool, signature: str) -> ScanState:
        """The scan this run carries on, or a new one. A verifying scan in progress is
        carried on by either mode (it does more); a reconciling one only by ``full``. A
        verifying scan begun under other content settings (``signature``) starts over:
        the records it fetched before lack what the settings now ask for, and its
        completion would say every record has it."""
        object_type, run_id = run.object_type, run.writer.run_id
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

    async def _confirm_absences(self, run: RunContext, source: FeedRun, scan: ScanState) -> None:
        """Ask the feed about every live record the scan did not see. Tombstone those it
        confirms gone (held instead when there are too many) and those merged into another
        record; apply the fresh copies it sends (records that moved under the scan, records
        merged ids live on in). A record that should have been listed fails the scan
        (ListingIncomplete, raised by the feed): nothing is deleted."""
        object_type, scan_id = run.object_type, scan.scan_id
        unseen = await self.store.changes.unseen_live_ids(object_type, scan_id)
        if not unseen:
            await self.store.scans.release_held(object_type, owner=run.writer.owner)
            return
        live_before = await self.store.changes.live_count(object_type)
        answer = await source.confirm_absences(unseen, scan.started_at)
        missing, merged, survivors = answer.gone, answer.merged, answer.survivors
        if survivors:
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
