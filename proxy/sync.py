"""One sync run of one feed: find what changed, diff it into the store, record the run.

Full and verify runs are scans (``scan.py``). Incremental: ask the feed what was modified
since the watermark (``FeedRun.recent``), diff it in, move the watermark to the run's start
less the overlap. Deletions: ingest what the feed lists as deleted, and queue a full scan
when the source counts fewer live records than the mirror holds. Either way a failure
leaves every committed page in place and deletes nothing. The engine knows a source only
through :mod:`proxy.sources.base`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from proxy.config import Settings
from proxy.diff import Fingerprinter
from proxy.errors import (
    BadPage,
    DeclarationMismatch,
    LeaseLost,
    ProxyError,
    UnknownObjectType,
    UnsupportedMode,
    UpstreamAuthError,
    UpstreamFatal,
)
from proxy.pipeline import ingest
from proxy.run_context import Progress, RunContext
from proxy.runtime import writer_switch_interval
from proxy.scan import FullScan
from proxy.sources.base import DELETIONS, FULL, INCREMENTAL, MODES, VERIFY, Feed, FeedRun
from proxy.sources.http import RequestStats
from proxy.store import Store
from proxy.store.runs import FAILED, INTERRUPTED, SUCCEEDED, RunCounts

log = logging.getLogger(__name__)

SCANS = (FULL, VERIFY)
NEEDS_MIRROR = (INCREMENTAL, DELETIONS)  # before a complete full sync, these run as full
FETCHING = (FULL, VERIFY, INCREMENTAL)  # the runs that bring records to the feed

# Failures that come back the same on every try: the source sends a malformed page, or refuses
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


class SyncRunner:
    """Runs syncs of any configured feed against one store."""

    def __init__(
        self,
        store: Store,
        feeds: Mapping[str, Feed],
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.feeds = feeds
        self.settings = settings
        self.clock = clock
        self.overlap = timedelta(seconds=settings.search_overlap_seconds)
        self.scans = FullScan(store, settings)
        # Per feed, the counts (the source's, the mirror's) for which a deletion check last
        # queued a full sync.
        self._gaps: dict[str, tuple[int, int]] = {}

    def feed(self, object_type: str) -> Feed:
        feed = self.feeds.get(object_type)
        if feed is None:
            raise UnknownObjectType(f"object type {object_type!r} is not configured")
        return feed

    async def prepare_fingerprints(self, object_type: str) -> int:
        """Recompute stored fingerprints if the settings they depend on changed since they
        were computed (emits nothing). Call while holding the object type's lease, before
        its runs."""
        fingerprint = self.feed(object_type).fingerprint
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
        feed = self.feeds.get(object_type)
        run = RunContext(
            object_type=object_type,
            store=self.store,
            writer=self.store.writer(object_type, run_id, owner=owner),
            stats=RequestStats(),
            started=self.clock(),
            fingerprint=feed.fingerprint if feed is not None else Fingerprinter(),
            progress=progress,
        )
        log.info("run %d: %s sync of %s started", run_id, mode, object_type)
        status, error, configuration_error = SUCCEEDED, None, False
        deadline = asyncio.timeout(self.settings.run_timeout_seconds)
        try:
            async with deadline:
                with writer_switch_interval(self.store.db.is_sqlite):
                    feed = self.feed(object_type)
                    if mode not in feed.modes:
                        raise UnsupportedMode(f"{object_type} has no {mode} sync")
                    source = await feed.open(run)
                    if mode in SCANS:
                        await self._scan(run, feed, source, verify=mode == VERIFY)
                    elif mode == DELETIONS:
                        await self._check_deletions(run, source)
                    else:
                        await self._incremental(run, source)
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
        except (UpstreamAuthError, UnknownObjectType, DeclarationMismatch) as exc:
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

    async def _scan(self, run: RunContext, feed: Feed, source: FeedRun, *, verify: bool) -> None:
        scan = await self.scans.run(run, feed, source, verify=verify)
        # Everything modified before the scan began was listed; later edits are found by
        # asking from there (the overlap also covers clock skew and search lag).
        await self._advance_watermark(run, scan.started_at - self._overlap(run.object_type))

    async def _check_deletions(self, run: RunContext, source: FeedRun) -> None:
        """Bring deletions to the feed between full syncs: tombstone what the source lists
        as deleted (HubSpot: the recycle bin) and the mirror still holds live. Deletions
        that leave no trace to list (HubSpot: GDPR deletions): when the source counts fewer
        live records than the mirror holds, something vanished, and a full sync is queued
        to find out what, with a full scan's evidence rules. (HubSpot's merges reach the
        feed with the incremental run that sees the merged record.)"""
        object_type = run.object_type
        await self._watermark(object_type)  # only a complete mirror has deletions to find
        await ingest(run, source.deleted())
        upstream = await source.live_count()
        mirrored = await self.store.changes.live_count(object_type)
        if upstream is None or upstream >= mirrored:
            self._gaps.pop(object_type, None)
            return
        if self._gaps.get(object_type) == (upstream, mirrored):
            # The full sync queued for these very counts found nothing to delete (search
            # lags, or counts something else): asking again would spend a listing for
            # nothing until one of the counts moves.
            log.info(
                "run %d: the source still counts %d live %s, the mirror %d, as when the last "
                "full sync was queued; not queued again",
                run.writer.run_id, upstream, object_type, mirrored,
            )  # fmt: skip
            return
        self._gaps[object_type] = (upstream, mirrored)
        log.info(
            "run %d: the source counts %d live %s, the mirror %d: a full sync is queued "
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

    async def _incremental(self, run: RunContext, source: FeedRun) -> None:
        object_type = run.object_type
        since = await self._watermark(object_type)
        # Later edits are the next run's.
        await ingest(run, source.recent(since, run.started))
        # Edits older than start - overlap are in the index by now and were read above.
        await self._advance_watermark(run, run.started - self._overlap(object_type))
        await self.store.changes.mark_incremental_done(
            object_type, self.clock(), owner=run.writer.owner
        )

    def _overlap(self, object_type: str) -> timedelta:
        """How far before a run's start the next incremental run reads again: the feed's
        own, or SEARCH_OVERLAP_SECONDS."""
        own = self.feeds[object_type].overlap_seconds
        return self.overlap if own is None else timedelta(seconds=own)

    async def _advance_watermark(self, run: RunContext, candidate: datetime) -> None:
        object_type = run.object_type
        status = await self.store.reader.object_status(object_type)
        current = status.watermark if status else None
        if current is None or candidate > current:
            await self.store.changes.set_watermark(object_type, candidate, owner=run.writer.owner)


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
