"""A declared REST source as a feed of the engine (:mod:`proxy.sources.base`).

A scan is the source's listing, page by page: every record comes whole, so each page is
diffed into the mirror as it is (no fetch step), and its position is the listing's resume
token. A page the API answers ``304 Not Modified`` (conditional requests), or whose bytes
are those of the page last written, is the same page as before: its ids are seen, nothing
is parsed. Absences, once a scan has listed everything
(and the listing was complete and saw no id twice), are confirmed by asking ``item_url``
about each (404 or 410: gone; 200: the listing missed a live record, nothing is deleted),
or without ``item_url`` by the record having been absent from the previous complete scan
too. ``deletions = "never"`` confirms nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import aiohttp
import orjson

from proxy.diff import Fingerprinter
from proxy.errors import ListingIncomplete
from proxy.run_context import RunContext
from proxy.sources.base import FULL, INCREMENTAL, LIVE, VERIFY, Absences, FeedPage
from proxy.sources.ratelimit import RollingWindowLimiter
from proxy.sources.rest.client import ConditionalCache, RestRecord, RestSource, TokenStore
from proxy.sources.rest.declaration import DeclaredSource, OffsetPaging, PagePaging
from proxy.sources.rest.paths import Path, compile_path
from proxy.store.runs import SUCCEEDED

SCANS = (FULL, VERIFY)  # the runs that complete a scan
# Keys of a record that the feed's own replace: Sesam reads them as the entity's.
FEED_KEYS = ("_id", "_updated", "_deleted")


@dataclass(frozen=True)
class PathFingerprinter(Fingerprinter):
    """What counts as a change of a declared source's record: everything but the dotted
    paths of ``ignore`` (key order never matters)."""

    ignored_paths: tuple[str, ...] = ()

    @property
    def signature(self) -> str:
        parts = [super().signature, "paths", *self.ignored_paths]
        return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()

    def canonical(self, record: Mapping[str, Any]) -> dict[str, Any]:
        out: Any = dict(record)
        for path in self._paths:
            out = path.remove(out)
        return dict(out)

    @cached_property
    def _paths(self) -> list[Path]:  # compiled once, not for every record compared
        return [compile_path(p, "ignore") for p in self.ignored_paths]


@dataclass(frozen=True)
class Record:
    """A listed record as the engine applies it: its JSON without the feed's own keys."""

    id: str
    deleted: bool
    text: str
    modified_ms: int | None = None  # a declared source has no modification time

    def data(self) -> str:
        return self.text


def filter_value(moment: datetime, fmt: str) -> str:
    """``moment`` as the declared ``incremental.format`` writes it."""
    if fmt == "unix":
        return str(int(moment.timestamp()))
    if fmt == "unix_ms":
        return str(int(moment.timestamp() * 1000))
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def as_record(record: RestRecord) -> Record:
    text = record.data.decode()
    if '"_' in text:  # rare: only then parse to drop the keys the feed sets itself
        parsed = orjson.loads(text)
        if isinstance(parsed, dict) and any(k in parsed for k in FEED_KEYS):
            for key in FEED_KEYS:
                parsed.pop(key, None)
            text = orjson.dumps(parsed).decode()
    return Record(record.id, record.deleted, text)


class RestFeed:
    """One declared source, for the life of the process (:class:`proxy.sources.base.Feed`).
    Its runs are full scans (every record comes whole, so a scan compares every record:
    there is no separate verify), and, where the API has a change filter, incremental
    runs between them."""

    phases = (LIVE,)

    def __init__(self, declared: DeclaredSource, session: aiohttp.ClientSession) -> None:
        self.declared = declared
        # Kept across scans: a page the API answers 304 is not parsed again.
        self.source = RestSource(declared, session, cache=ConditionalCache())
        self.fingerprint = PathFingerprinter(
            ignored_fields=frozenset(), ignored_paths=tuple(declared.spec.ignore)
        )
        self.fetch_signature = self.fingerprint.signature
        spec = declared.spec
        self.scan_interval_seconds: float | None = spec.interval_seconds
        # With a change filter declared, incremental runs between the scans.
        self.modes = frozenset({FULL, INCREMENTAL} if spec.incremental else {FULL})
        self.incremental_interval_seconds: float | None = (
            spec.incremental.interval_seconds if spec.incremental else None
        )
        self.overlap_seconds: float | None = (
            spec.incremental.overlap_seconds if spec.incremental else None
        )

    @property
    def name(self) -> str:
        return self.declared.name

    @property
    def limiter(self) -> RollingWindowLimiter | None:
        return self.source.http.limiter if self.declared.spec.rate is not None else None

    async def open(self, run: RunContext) -> RestRun:
        self.source.stats = run.stats  # one run of a feed at a time: its requests
        if self.source.token_store is None:  # a rotated refresh token outlives the process
            tokens, name = run.store.tokens, self.name
            self.source.token_store = TokenStore(
                load=lambda: tokens.load(name), save=lambda token: tokens.save(name, token)
            )
        return RestRun(self, run)


class RestRun:
    """One run of one declared source: a scan, or (with a change filter) an incremental
    run; never a deletion check (there is no recycle bin to list)."""

    def __init__(self, feed: RestFeed, run: RunContext) -> None:
        self.feed = feed
        self.source = feed.source
        self.run = run
        self.duplicates_seen = False

    async def scan_pages(
        self, phase: str, after: str | None, *, verify: bool
    ) -> AsyncIterator[FeedPage]:
        if after and isinstance(self.feed.declared.spec.pagination, PagePaging | OffsetPaging):
            # A page number or an offset names another record once records before it were
            # deleted or inserted (they shift): a scan resumed there could skip some. It
            # lists from the first page again (what it saw before still counts), so its
            # listing is whole and its total is checked.
            after = None
        listing = self.source.listing(orjson.loads(after) if after else None)
        # Records that may equal their stored copies are compared before the write lock is
        # taken; into an empty mirror (a first scan) they are written at once, without
        # that read.
        probe = await self.run.store.changes.live_count(self.feed.name) > 0
        async for page in listing:
            position = orjson.dumps(page.after).decode() if page.after is not None else None
            if page.not_modified:
                # Remembered only once written (RestPage.remember): the mirror holds it.
                yield FeedPage(sighted=page.ids, after=position)
            else:
                records = [as_record(r) for r in page.records]
                yield FeedPage(records=records, after=position, probe=probe, written=page.remember)
        summary = listing.summary
        assert summary is not None  # set when the iteration ends
        if not summary.complete:
            raise ListingIncomplete(
                f"source {self.source.name}: {summary.reason}; no deletions applied, and "
                "the next full sync starts the scan over"
            )
        self.duplicates_seen = summary.duplicates_seen

    async def confirm_absences(self, unseen: Sequence[str], scan_started: datetime) -> Absences:
        spec = self.feed.declared.spec
        if spec.deletions == "never" or not unseen:
            return Absences()
        if self.duplicates_seen:
            # Offset drift: the listing shifted under the scan, so a record it did not see
            # may be live. What it saw is applied; nothing is inferred from what it missed.
            return Absences()
        if spec.item_url is not None:
            gone: list[str] = []
            for record_id in unseen:
                if await self.source.item_status(record_id) == "live":
                    raise ListingIncomplete(
                        f"source {self.source.name}: record {record_id} is live at item_url "
                        "but the listing did not show it; no deletions applied"
                    )
                gone.append(record_id)
            return Absences(gone=gone)
        # Without item_url: gone when the previous complete scan did not see it either
        # (nor any run since it began).
        last = await self.run.store.runs.last(self.feed.name, modes=SCANS, status=SUCCEEDED)
        if last is None:
            return Absences()
        previous = last.scan_run_id or last.id
        unseen_twice = set(await self.run.store.changes.unseen_live_ids(self.feed.name, previous))
        return Absences(gone=[i for i in unseen if i in unseen_twice])

    async def recent(self, since: datetime, until: datetime) -> AsyncIterator[FeedPage]:
        """The listing with the declared change filter set to ``since``: what the API says
        changed since then, each record diffed in (absences mean nothing here)."""
        incremental = self.feed.declared.spec.incremental
        if incremental is None:
            raise NotImplementedError  # not among the feed's modes
        params = {incremental.param: filter_value(since, incremental.format)}
        async for page in self.source.listing(params=params):
            yield FeedPage(records=[as_record(r) for r in page.records], probe=True)

    # Not among the feed's modes: the engine never asks (a declared source has no recycle
    # bin to list, nor a count to compare).

    def deleted(self) -> AsyncIterator[FeedPage]:
        raise NotImplementedError

    async def live_count(self) -> int | None:
        raise NotImplementedError
