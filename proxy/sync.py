"""One sync run: pick the properties, page through HubSpot, diff each page into the store,
and record the run.

Full: list every record, then every archived one, and only when both listings completed,
tombstone what was not seen. Incremental: search by modification time from the watermark,
tombstone ids that merge results name, move the watermark to the run's start less the
overlap. Either way a failure leaves every committed page in place and deletes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from proxy.config import Settings
from proxy.diff import Fingerprinter, Incoming, merged_away_ids, prepare
from proxy.errors import ProxyError, UpstreamAuthError
from proxy.sources.hubspot import HubSpotClient, ObjectSpec, Page, spec_for
from proxy.store import Store
from proxy.store.writes import RunCounts, ScanWriter

log = logging.getLogger(__name__)

FULL = "full"
INCREMENTAL = "incremental"
MODES = (FULL, INCREMENTAL)

Progress = Callable[[RunCounts, int | None], None]  # counts so far, total when known


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunOutcome:
    run_id: int
    mode: str
    succeeded: bool
    counts: RunCounts
    error: str | None = None


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
        # The modification property ticks with every edit, including edits to ignored
        # properties; the edits that matter change other content anyway.
        ignored = {*self.settings.ignore_properties, spec.modified_property}
        return Fingerprinter(ignored_properties=frozenset(ignored))

    async def properties(self, client: HubSpotClient, spec: ObjectSpec) -> list[str]:
        names = await client.property_names(spec)
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
        progress: Progress | None = None,
    ) -> RunOutcome:
        """Run one sync to the end and record it. Never raises for upstream or page
        failures: they fail the run, which is recorded with its error."""
        if mode not in MODES:
            raise ValueError(f"unknown sync mode {mode!r}")
        if run_id is None:
            run_id = await self.store.queue_run(object_type, mode, trigger)
        await self.store.start_run(run_id)
        scan = ScanWriter(self.store, object_type, run_id)
        spec = spec_for(object_type)
        started = self.clock()
        client = self.client.fork()  # its own request counter, shared pacing
        log.info("run %d: %s sync of %s started", run_id, mode, object_type)
        error: str | None = None
        try:
            with self.store.busy_writer():
                if mode == FULL:
                    await self._full(client, spec, scan, started, progress)
                else:
                    await self._incremental(client, spec, scan, started, progress)
        except asyncio.CancelledError:
            error = "cancelled: the service stopped during the run"
            raise
        except UpstreamAuthError as exc:
            error = str(exc)
        except ProxyError as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a bug or a database failure: still record the run
            log.exception("run %d crashed", run_id)
            error = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            scan.counts.requests = client.http.stats.requests
            await scan.finish(error)
        counts = scan.counts
        if error is None:
            log.info(
                "run %d: %s sync of %s succeeded: fetched %d, created %d, updated %d, "
                "deleted %d, unchanged %d, %d requests",
                run_id, mode, object_type, counts.fetched, counts.created, counts.updated,
                counts.deleted, counts.unchanged, counts.requests,
            )  # fmt: skip
        else:
            log.error("run %d: %s sync of %s failed: %s", run_id, mode, object_type, error)
        return RunOutcome(run_id, mode, error is None, counts, error)

    async def _ingest(
        self,
        client: HubSpotClient,
        spec: ObjectSpec,
        scan: ScanWriter,
        pages: AsyncIterator[Page],
        progress: Progress | None,
    ) -> None:
        """Diff and write every page, in order. The next page is fetched while this one is
        processed (``prefetched``), and diffed while the previous one is being written: at
        most one write is in flight, so pages still commit one after another."""
        fingerprint = self.fingerprinter(spec)
        writing: asyncio.Task[None] | None = None
        try:
            async with contextlib.aclosing(prefetched(pages)) as stream:
                async for page in stream:
                    incoming = prepare(page.records, fingerprint)
                    gone = [
                        i
                        for r in page.records
                        for i in merged_away_ids(r, spec.merged_ids_property)
                    ]
                    if writing is not None:
                        await writing
                    writing = asyncio.ensure_future(
                        self._write(client, scan, incoming, gone, page.total, progress)
                    )
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                # A fetch failed while a page was being written: let the page commit whole.
                await asyncio.shield(writing)

    async def _write(
        self,
        client: HubSpotClient,
        scan: ScanWriter,
        incoming: list[Incoming],
        gone: list[str],
        total: int | None,
        progress: Progress | None,
    ) -> None:
        await scan.apply_page(incoming)
        if gone:
            await scan.mark_deleted(gone)
        scan.counts.requests = client.http.stats.requests
        if progress is not None:
            progress(scan.counts, total)

    async def _full(
        self,
        client: HubSpotClient,
        spec: ObjectSpec,
        scan: ScanWriter,
        started: datetime,
        progress: Progress | None,
    ) -> None:
        properties = await self.properties(client, spec)
        for archived in (False, True):
            pages = client.list_all(spec, properties, archived=archived)
            await self._ingest(client, spec, scan, pages, progress)
        await scan.complete_full_scan()
        # Everything modified before the scan began was listed; later edits are found by
        # searching from here (the overlap also covers clock skew and search lag).
        await self._advance_watermark(spec.name, started - self.overlap)

    async def _incremental(
        self,
        client: HubSpotClient,
        spec: ObjectSpec,
        scan: ScanWriter,
        started: datetime,
        progress: Progress | None,
    ) -> None:
        status = await self.store.reader.object_status(spec.name)
        if status is None or status.watermark is None:
            raise ProxyError(f"{spec.name}: no full sync has completed yet; run a full sync first")
        properties = await self.properties(client, spec)
        since_ms = _ms(status.watermark)
        until_ms = _ms(started) + 1  # inclusive bound; later edits are the next run's
        pages = client.search_modified(spec, since_ms, until_ms, properties)
        await self._ingest(client, spec, scan, pages, progress)
        # Edits older than start - overlap are in the index by now and were read above.
        await self._advance_watermark(spec.name, started - self.overlap)
        await self.store.mark_incremental_done(spec.name, self.clock())

    async def _advance_watermark(self, object_type: str, candidate: datetime) -> None:
        status = await self.store.reader.object_status(object_type)
        current = status.watermark if status else None
        if current is None or candidate > current:
            await self.store.set_watermark(object_type, candidate)


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
    return (
        f"fetched {counts.fetched}, created {counts.created}, updated {counts.updated}, "
        f"deleted {counts.deleted}, unchanged {counts.unchanged}, {counts.requests} requests"
    )


__all__: Sequence[str] = ["FULL", "INCREMENTAL", "MODES", "RunOutcome", "SyncRunner", "describe"]
