"""One sync run: pick the properties, page through HubSpot, diff each page into the store,
and record the run.

Full: one scan lists every record, then every archived one, saving its position with each
committed page (a scan cut short by a failure or a restart resumes there). Only once both
listings completed are the live records it did not see put to HubSpot (batch read): those it
reports gone or merged away are tombstoned, unless they are more than the mass-deletion
guard allows (then they are held for an operator); if any of them is still live, the listing
was incomplete and nothing is deleted. Incremental: search by modification time from the
watermark, tombstone ids that merge results name, move the watermark to the run's start less
the overlap. Either way a failure leaves every committed page in place and deletes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from proxy.config import Settings
from proxy.diff import Fingerprinter, Incoming, merged_away_ids, prepare
from proxy.errors import LeaseLost, ListingIncomplete, ProxyError, UpstreamAuthError
from proxy.runtime import writer_switch_interval
from proxy.sources.http import RequestStats
from proxy.sources.hubspot import HubSpotClient, ObjectSpec, Page, spec_for
from proxy.sources.hubspot.client import BATCH_READ_SIZE
from proxy.sources.hubspot.pages import modified_ms
from proxy.store import RunWriter, Store
from proxy.store.runs import FAILED, INTERRUPTED, SUCCEEDED, RunCounts
from proxy.store.scans import ARCHIVED, LISTED, LIVE, ScanPosition, ScanState

log = logging.getLogger(__name__)

FULL = "full"
INCREMENTAL = "incremental"
MODES = (FULL, INCREMENTAL)

# A full scan left unfinished longer than this starts over instead of resuming: a listing
# cursor that old may no longer mean the same place, and most of what it saw is stale.
MAX_RESUME_AGE = timedelta(hours=24)
# The mass-deletion guard never holds this few deletions, whatever their share: in a small
# mirror one deletion is already a large share.
MASS_DELETE_MIN = 10

Progress = Callable[[RunCounts, int | None], None]  # counts so far, total when known


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunOutcome:
    run_id: int
    mode: str
    status: str
    counts: RunCounts
    error: str | None = None
    configuration_error: bool = False  # a setting is wrong (the token): retrying won't help

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED


@dataclass
class _Run:
    """What one run's steps share: passed in, never kept on the runner."""

    spec: ObjectSpec
    writer: RunWriter
    stats: RequestStats
    started: datetime
    fingerprint: Fingerprinter
    progress: Progress | None

    def incoming(self, records: Sequence[Mapping[str, Any]]) -> list[Incoming]:
        modified = self.spec.modified_property
        return prepare(records, self.fingerprint, lambda r: modified_ms(r, modified))


def fingerprinter_for(settings: Settings, spec: ObjectSpec) -> Fingerprinter:
    """What counts as a change of a record of ``spec``'s type under ``settings``."""
    # The modification property ticks with every edit, including edits to ignored
    # properties; the edits that matter change other content anyway.
    return Fingerprinter(
        ignored_properties=frozenset({*settings.ignore_properties, spec.modified_property}),
        include=frozenset(settings.include_properties),
        exclude=frozenset(settings.exclude_properties),
        always_kept=frozenset({spec.modified_property, spec.merged_ids_property}),
    )


class SyncRunner:
    """Runs syncs of any configured object type against one HubSpot client and store."""

    def __init__(
        self,
        store: Store,
        client: HubSpotClient,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.client = client
        self.settings = settings
        self.clock = clock
        self.overlap = timedelta(seconds=settings.search_overlap_seconds)

    def fingerprinter(self, spec: ObjectSpec) -> Fingerprinter:
        return fingerprinter_for(self.settings, spec)

    async def prepare_fingerprints(self, object_type: str) -> int:
        """Recompute stored fingerprints if the settings they depend on changed since they
        were computed (emits nothing). Call while holding the object type's lease, before
        its runs."""
        fingerprint = self.fingerprinter(spec_for(object_type))
        changed = await self.store.changes.refingerprint(
            object_type, fingerprint, fingerprint.signature
        )
        if changed:
            log.info(
                "%s: recomputed %d fingerprints for new property settings", object_type, changed
            )
        return changed

    async def properties(self, spec: ObjectSpec, stats: RequestStats) -> list[str]:
        names = await self.client.property_names(spec, stats)
        include = set(self.settings.include_properties)
        exclude = set(self.settings.exclude_properties)
        chosen = [n for n in names if (not include or n in include) and n not in exclude]
        # The bookkeeping properties are needed whatever the lists say.
        for needed in (spec.modified_property, spec.merged_ids_property):
            if needed not in chosen and needed in names:
                chosen.append(needed)
        return chosen

    async def run(
        self,
        object_type: str,
        mode: str,
        *,
        run_id: int | None = None,
        trigger: str = "cli",
        owner: str | None = None,
        progress: Progress | None = None,
    ) -> RunOutcome:
        """Run one sync to the end and record it. Never raises for upstream, page or
        database failures: they fail the run, which is recorded with its reason. Cancelled
        (the process stops, or lost its lease), the page in flight commits, the run is
        recorded as interrupted, and the cancellation goes on."""
        if mode not in MODES:
            raise ValueError(f"unknown sync mode {mode!r}")
        if run_id is None:
            run_id = await self.store.runs.start(object_type, mode, trigger, owner)
        spec = spec_for(object_type)
        run = _Run(
            spec=spec,
            writer=self.store.writer(object_type, run_id, owner=owner),
            stats=RequestStats(),
            started=self.clock(),
            fingerprint=self.fingerprinter(spec),
            progress=progress,
        )
        log.info("run %d: %s sync of %s started", run_id, mode, object_type)
        status, error, configuration_error = SUCCEEDED, None, False
        deadline = asyncio.timeout(self.settings.run_timeout_seconds)
        try:
            async with deadline:
                with writer_switch_interval(self.store.db.is_sqlite):
                    if mode == FULL:
                        await self._full(run)
                    else:
                        await self._incremental(run)
        except TimeoutError as exc:
            status = FAILED
            if deadline.expired():
                error = (
                    f"the run took longer than RUN_TIMEOUT_SECONDS "
                    f"({self.settings.run_timeout_seconds} s) and was stopped"
                )
            else:  # a timeout of something else (the database, say)
                log.exception("run %d crashed", run_id)
                error = f"internal error: {type(exc).__name__}: {exc}"
        except asyncio.CancelledError as exc:
            status = INTERRUPTED
            error = "interrupted: " + (
                str(exc.args[0]) if exc.args else "the service stopped during the run"
            )
            raise
        except LeaseLost as exc:
            status, error = INTERRUPTED, f"interrupted: {exc}"
        except UpstreamAuthError as exc:
            status, error, configuration_error = FAILED, str(exc), True
        except ProxyError as exc:
            status, error = FAILED, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a bug or a database failure: still record the run
            log.exception("run %d crashed", run_id)
            status, error = FAILED, f"internal error: {type(exc).__name__}: {exc}"
        finally:
            run.writer.counts.requests = run.stats.requests
            await run.writer.finish(status, error)
            counts = run.writer.counts
            if status == SUCCEEDED:
                log.info(
                    "run %d: %s sync of %s succeeded: %s",
                    run_id,
                    mode,
                    object_type,
                    describe(counts),
                )
            else:
                log.error("run %d: %s sync of %s %s: %s", run_id, mode, object_type, status, error)
        return RunOutcome(run_id, mode, status, counts, error, configuration_error)

    # --- pages ----------------------------------------------------------------------------

    async def _ingest(
        self,
        run: _Run,
        pages: AsyncIterator[Page],
        position_after: Callable[[Page], ScanPosition] | None = None,
    ) -> None:
        """Diff and write every page, in order. The next page is fetched while this one is
        processed (``prefetched``), and diffed while the previous one is being written: at
        most one write is in flight, so pages still commit one after another."""
        writing: asyncio.Task[None] | None = None
        try:
            async with contextlib.aclosing(prefetched(pages)) as stream:
                async for page in stream:
                    incoming = run.incoming(page.records)
                    gone = [
                        i
                        for r in page.records
                        for i in merged_away_ids(r, run.spec.merged_ids_property)
                    ]
                    position = position_after(page) if position_after is not None else None
                    if writing is not None:
                        await writing
                    writing = asyncio.ensure_future(
                        self._write(run, incoming, gone, page.total, position)
                    )
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                # A fetch failed, or the run is being cancelled, while a page was being
                # written: let the page commit whole.
                await asyncio.shield(writing)

    async def _write(
        self,
        run: _Run,
        incoming: list[Incoming],
        gone: list[str],
        total: int | None,
        position: ScanPosition | None,
    ) -> None:
        await run.writer.apply_page(incoming, position)
        if gone:
            await run.writer.mark_deleted(gone)
        run.writer.counts.requests = run.stats.requests
        if run.progress is not None:
            run.progress(run.writer.counts, total)

    # --- full -------------------------------------------------------------------------------

    async def _full(self, run: _Run) -> None:
        object_type = run.spec.name
        scan = await self._scan(run)
        properties = await self.properties(run.spec, run.stats)
        position = scan.position
        for phase, archived, then in ((LIVE, False, ARCHIVED), (ARCHIVED, True, LISTED)):
            if position.phase != phase:
                continue

            def after(page: Page, phase: str = phase, then: str = then) -> ScanPosition:
                return ScanPosition(phase, page.after) if page.after else ScanPosition(then)

            pages = self.client.list_all(
                run.spec, properties, run.stats, archived=archived, after=position.after
            )
            await self._ingest(run, pages, after)
            position = ScanPosition(then)
            await run.writer.save_position(position)
        try:
            await self._confirm_absences(run, scan, properties)
        except ListingIncomplete:
            await self.store.scans.abandon(object_type)  # what it saw cannot be trusted
            raise
        await self.store.scans.complete(object_type)
        # Everything modified before the scan began was listed; later edits are found by
        # searching from there (the overlap also covers clock skew and search lag).
        await self._advance_watermark(object_type, scan.started_at - self.overlap)

    async def _scan(self, run: _Run) -> ScanState:
        """The scan this run carries on, or a new one."""
        object_type, run_id = run.spec.name, run.writer.run_id
        scan = await self.store.scans.current(object_type)
        if scan is not None and utcnow() - scan.started_at > MAX_RESUME_AGE:
            log.info(
                "%s: the unfinished scan of run %d is too old; starting over",
                object_type,
                scan.scan_id,
            )
            scan = None
        if scan is None:
            scan = await self.store.scans.begin(object_type, run_id)
        else:
            log.info(
                "run %d: resuming the full scan begun by run %d (%s listing)",
                run_id, scan.scan_id, scan.position.phase,
            )  # fmt: skip
        await self.store.runs.set_scan(run_id, scan.scan_id)
        return scan

    async def _confirm_absences(self, run: _Run, scan: ScanState, properties: list[str]) -> None:
        """Ask HubSpot about every live record the scan did not see. Tombstone those it
        reports not found (held instead when there are too many) and those merged into
        another record. One that is live and was modified after the scan began moved under
        it (a restore bumps the modification time): it is applied as fetched. One that is
        live and older should have been listed: the listing was incomplete."""
        object_type, scan_id = run.spec.name, scan.scan_id
        unseen = await self.store.changes.unseen_live_ids(object_type, scan_id)
        if not unseen:
            await self.store.scans.release_held(object_type)
            return
        live_before = await self.store.changes.live_count(object_type)
        began_ms = _ms(scan.started_at)
        missing: list[str] = []
        merged: list[str] = []
        survivors: list[dict[str, Any]] = []
        for start in range(0, len(unseen), BATCH_READ_SIZE):
            asked = unseen[start : start + BATCH_READ_SIZE]
            answer = await self.client.batch_read(run.spec, asked, properties, run.stats)
            moved = {
                i: r
                for i, r in answer.live.items()
                if (stamp := modified_ms(r, run.spec.modified_property)) is not None
                and stamp >= began_ms
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
            await run.writer.apply_page(run.incoming(survivors))
        if merged:  # named in a merge result: evidence enough, never held
            await run.writer.tombstone_unseen(merged, scan_id)
        if not missing:
            await self.store.scans.release_held(object_type)
            return
        share = 100 * len(missing) / max(live_before, 1)
        if len(missing) > MASS_DELETE_MIN and share > self.settings.mass_delete_percent:
            await self.store.scans.hold(object_type, run.writer.run_id, sorted(missing))
            run.writer.counts.held = len(missing)
            log.warning(
                "run %d: %d confirmed deletions of %s (%.1f%% of %d live) exceed "
                "MASS_DELETE_PERCENT=%g; held until an operator confirms them",
                run.writer.run_id, len(missing), object_type, share, live_before,
                self.settings.mass_delete_percent,
            )  # fmt: skip
            return
        await self.store.scans.release_held(object_type)
        await run.writer.tombstone_unseen(missing, scan_id)

    # --- incremental --------------------------------------------------------------------------

    async def _incremental(self, run: _Run) -> None:
        object_type = run.spec.name
        status = await self.store.reader.object_status(object_type)
        if status is None or status.watermark is None:
            raise ProxyError(
                f"{object_type}: no full sync has completed yet; run a full sync first"
            )
        properties = await self.properties(run.spec, run.stats)
        since_ms = _ms(status.watermark)
        until_ms = _ms(run.started) + 1  # inclusive bound; later edits are the next run's
        pages = self.client.search_modified(run.spec, since_ms, until_ms, properties, run.stats)
        await self._ingest(run, pages)
        # Edits older than start - overlap are in the index by now and were read above.
        await self._advance_watermark(object_type, run.started - self.overlap)
        await self.store.changes.mark_incremental_done(object_type, self.clock())

    async def _advance_watermark(self, object_type: str, candidate: datetime) -> None:
        status = await self.store.reader.object_status(object_type)
        current = status.watermark if status else None
        if current is None or candidate > current:
            await self.store.changes.set_watermark(object_type, candidate)


async def prefetched(pages: AsyncIterator[Page]) -> AsyncGenerator[Page, None]:
    """Yield ``pages`` while already fetching the next one, so HubSpot's (or the network's)
    time overlaps the time spent diffing and writing the current page. At most one page is
    held ahead: memory stays bounded by the page size."""
    iterator = aiter(pages)
    pending: asyncio.Future[Page] | None = asyncio.ensure_future(anext(iterator))
    try:
        while pending is not None:
            try:
                page = await pending
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(anext(iterator))
            yield page
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def describe(counts: RunCounts) -> str:
    held = f", held {counts.held}" if counts.held else ""
    return (
        f"fetched {counts.fetched}, created {counts.created}, updated {counts.updated}, "
        f"deleted {counts.deleted}{held}, unchanged {counts.unchanged}, "
        f"{counts.requests} requests"
    )


__all__: Sequence[str] = ["FULL", "INCREMENTAL", "MODES", "RunOutcome", "SyncRunner", "describe"]
