"""One sync run: pick the properties, find what changed, fetch it whole, diff it into the
store, and record the run.

Full and verify runs are scans (``scan.py``). Incremental: search by modification time from
the watermark for ids and modification times, fetch whole what moved past the stored copy,
tombstone ids that merge results name, move the watermark to the run's start less the
overlap. Either way a failure leaves every committed page in place and deletes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from proxy.config import Settings
from proxy.diff import Fingerprinter
from proxy.errors import (
    BadPage,
    LeaseLost,
    ProxyError,
    UnknownObjectType,
    UpstreamAuthError,
    UpstreamFatal,
)
from proxy.fetch import Fetched, PageFetcher
from proxy.pipeline import ingest
from proxy.run_context import Progress, RunContext
from proxy.runtime import writer_switch_interval
from proxy.scan import FullScan
from proxy.sources.http import RequestStats
from proxy.sources.hubspot import HubSpotClient, ObjectSpec, spec_for
from proxy.store import Store
from proxy.store.runs import FAILED, INTERRUPTED, SUCCEEDED, RunCounts

log = logging.getLogger(__name__)

FULL = "full"  # the reconciliation: list every id and modification time, fetch what changed
VERIFY = "verify"  # the complete comparison: fetch and compare every record
INCREMENTAL = "incremental"  # search what was modified since the watermark
DELETIONS = "deletions"  # the archived listing, and a count that tells of other deletions
MODES = (FULL, INCREMENTAL, VERIFY, DELETIONS)
SCANS = (FULL, VERIFY)
NEEDS_MIRROR = (INCREMENTAL, DELETIONS)  # before a complete full sync, these run as full
FETCHING = (FULL, VERIFY, INCREMENTAL)  # the runs that bring records to the feed

# Failures that come back the same on every try: HubSpot sends a malformed page, or refuses
# the request (a 4xx other than 429; 401 and 403 are configuration errors). /health names
# three in a row at once instead of waiting for SYNC_STALE_SECONDS.
PERSISTENT_FAILURES: tuple[type[ProxyError], ...] = (BadPage, UpstreamFatal)


def error_text(exc: ProxyError) -> str:
    """How a run records the failure ``exc``: its class, then its message."""
    return f"{type(exc).__name__}: {exc}"


def persistent_failure(error: str | None) -> str | None:
    """The class of a persistent failure that a run recorded as ``error`` (None for any
    other outcome)."""
    if not error:
        return None
    kind = error.partition(":")[0]
    names = set()
    pending = list(PERSISTENT_FAILURES)
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return kind if kind in names else None


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
        self.fetcher = PageFetcher(client, store, settings)
        self.scans = FullScan(store, client, self.fetcher, settings)
        # Per object type, the counts (HubSpot's, the mirror's) for which a deletion check
        # last queued a full sync.
        self._gaps: dict[str, tuple[int, int]] = {}

    def spec(self, object_type: str) -> ObjectSpec:
        return spec_for(object_type, associations=self.settings.associations.get(object_type, ()))

    def fingerprinter(self, spec: ObjectSpec) -> Fingerprinter:
        return fingerprinter_for(self.settings, spec)

    def fetch_signature(self, spec: ObjectSpec) -> str:
        """Changes exactly when a record fetched whole now could hold other content than
        the same record fetched before: the property settings or the associations read."""
        parts = [self.fingerprinter(spec).signature, ",".join(spec.associations)]
        return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()

    async def prepare_fingerprints(self, object_type: str) -> int:
        """Recompute stored fingerprints if the settings they depend on changed since they
        were computed (emits nothing). Call while holding the object type's lease, before
        its runs."""
        fingerprint = self.fingerprinter(self.spec(object_type))
        changed = await self.store.changes.refingerprint(
            object_type, fingerprint, fingerprint.signature
        )
        if changed:
            log.info(
                "%s: recomputed %d fingerprints for new property settings", object_type, changed
            )
        return changed

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
        spec = self.spec(object_type)
        run = RunContext(
            spec=spec,
            writer=self.store.writer(object_type, run_id, owner=owner),
            stats=RequestStats(),
            started=self.clock(),
            fingerprint=self.fingerprinter(spec),
            progress=progress,
            targets=[self.spec(t) for t in spec.associations],
        )
        log.info("run %d: %s sync of %s started", run_id, mode, object_type)
        status, error, configuration_error = SUCCEEDED, None, False
        deadline = asyncio.timeout(self.settings.run_timeout_seconds)
        try:
            async with deadline:
                with writer_switch_interval(self.store.db.is_sqlite):
                    run.spec = await self.client.resolve(spec, run.stats)
                    run.targets = [await self.client.resolve(t, run.stats) for t in run.targets]
                    if mode in SCANS:
                        await self._scan(run, verify=mode == VERIFY)
                    elif mode == DELETIONS:
                        await self._check_deletions(run)
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
        except (UpstreamAuthError, UnknownObjectType) as exc:
            status, error, configuration_error = FAILED, str(exc), True
        except ProxyError as exc:
            status, error = FAILED, error_text(exc)
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
                # Interrupted (the service stops, the lease moved) is no failure to alarm
                # on: the next holder resumes the scan where it stopped.
                level = logging.WARNING if status == INTERRUPTED else logging.ERROR
                log.log(
                    level, "run %d: %s sync of %s %s: %s", run_id, mode, object_type, status, error
                )
        return RunOutcome(run_id, mode, status, counts, error, configuration_error)

    # --- modes ----------------------------------------------------------------------------------

    async def _scan(self, run: RunContext, *, verify: bool) -> None:
        scan = await self.scans.run(
            run, verify=verify, fetch_signature=self.fetch_signature(run.spec)
        )
        # Everything modified before the scan began was listed; later edits are found by
        # searching from there (the overlap also covers clock skew and search lag).
        await self._advance_watermark(run, scan.started_at - self.overlap)

    async def _check_deletions(self, run: RunContext) -> None:
        """Bring deletions to the feed between full syncs. Archives: list the recycle bin
        (ids and modification times: one request per 100 archived records) and tombstone,
        fetched as archived, what the mirror still holds live. GDPR deletions leave no
        trace to list: when HubSpot counts fewer live records than the mirror holds,
        something vanished, and a full sync (the reconciliation, one request per 100
        records) is queued to find out what, with a full scan's evidence rules. Merges
        reach the feed with the incremental run that sees the merged record."""
        object_type = run.spec.name
        await self._watermark(object_type)  # only a complete mirror has deletions to find
        await ingest(run, self.scans.pages(run, archived=True))
        upstream = await self.client.live_count(run.spec, run.stats)
        mirrored = await self.store.changes.live_count(object_type)
        if upstream is None or upstream >= mirrored:
            self._gaps.pop(object_type, None)
            return
        if self._gaps.get(object_type) == (upstream, mirrored):
            # The full sync queued for these very counts found nothing to delete (search
            # lags, or counts something else): asking again would spend a listing for
            # nothing until one of the counts moves.
            log.info(
                "run %d: HubSpot still counts %d live %s, the mirror %d, as when the last "
                "full sync was queued; not queued again",
                run.writer.run_id, upstream, object_type, mirrored,
            )  # fmt: skip
            return
        self._gaps[object_type] = (upstream, mirrored)
        log.info(
            "run %d: HubSpot counts %d live %s, the mirror %d: a full sync is queued "
            "to find what was deleted",
            run.writer.run_id, upstream, object_type, mirrored,
        )  # fmt: skip
        await self.store.runs.request(object_type, FULL, "check")

    async def _watermark(self, object_type: str) -> datetime:
        status = await self.store.reader.object_status(object_type)
        if status is None or status.watermark is None:
            raise ProxyError(
                f"{object_type}: no full sync has completed yet; run a full sync first"
            )
        return status.watermark

    async def _incremental(self, run: RunContext) -> None:
        object_type = run.spec.name
        since_ms = _ms(await self._watermark(object_type))
        until_ms = _ms(run.started) + 1  # inclusive bound; later edits are the next run's
        searched = self._searched(run, since_ms, until_ms)
        await ingest(run, self.fetcher.with_associations(run, searched))
        # Edits older than start - overlap are in the index by now and were read above.
        await self._advance_watermark(run, run.started - self.overlap)
        await self.store.changes.mark_incremental_done(
            object_type, self.clock(), owner=run.writer.owner
        )

    async def _searched(
        self, run: RunContext, since_ms: int, until_ms: int
    ) -> AsyncIterator[Fetched]:
        # Search names only the bookkeeping properties: a body naming hundreds of them could
        # pass the search API's request size limit. What moved is fetched whole by id.
        bookkeeping = [run.spec.modified_property, run.spec.merged_ids_property]
        pages = self.client.search_modified(run.spec, since_ms, until_ms, bookkeeping, run.stats)
        async for page in pages:
            fetched = await self.fetcher.searched(run, page.records)
            fetched.total = page.total
            yield fetched

    async def _advance_watermark(self, run: RunContext, candidate: datetime) -> None:
        object_type = run.spec.name
        status = await self.store.reader.object_status(object_type)
        current = status.watermark if status else None
        if current is None or candidate > current:
            await self.store.changes.set_watermark(object_type, candidate, owner=run.writer.owner)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def describe(counts: RunCounts) -> str:
    held = f", held {counts.held}" if counts.held else ""
    return (
        f"fetched {counts.fetched}, created {counts.created}, updated {counts.updated}, "
        f"deleted {counts.deleted}{held}, unchanged {counts.unchanged}, "
        f"{counts.requests} requests"
    )


__all__: Sequence[str] = [
    "DELETIONS",
    "FETCHING",
    "FULL",
    "INCREMENTAL",
    "MODES",
    "VERIFY",
    "RunOutcome",
    "SyncRunner",
    "describe",
]
