"""A HubSpot object type as a feed of the engine (:mod:`proxy.sources.base`).

A scan lists every live record's id and modification time, then every archived one's, one
request per 100 records. ``full`` fetches whole (batch read, with associations) only what
the listing shows as new, restored, modified or archived; ``verify`` fetches every live
record, so it also sees changes that do not move the modification time (association
changes among them). Absences are put to batch read: not found is gone, named in a merge
result is merged away, live and older than the scan means the listing was incomplete.
Incremental runs search by modification time; the deletion check lists the recycle bin and
compares search's live count with the mirror's.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from proxy.config import Settings
from proxy.diff import Fingerprinter
from proxy.errors import ListingIncomplete
from proxy.pipeline import prefetched
from proxy.run_context import RunContext
from proxy.sources.base import ARCHIVED, LIVE, MODES, Absences
from proxy.sources.hubspot.batch_read import FetchedRecord
from proxy.sources.hubspot.client import BATCH_READ_SIZE, HubSpotClient
from proxy.sources.hubspot.fetch import Fetched, PageFetcher
from proxy.sources.hubspot.objects import ObjectSpec, spec_for
from proxy.sources.ratelimit import RollingWindowLimiter


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


class HubSpotFeed:
    """One configured object type, for the life of the process (one client serves all)."""

    modes = frozenset(MODES)
    phases = (LIVE, ARCHIVED)
    # Full scans by FULL_SYNC_CRON, incremental runs every SYNC_INTERVAL_SECONDS reading
    # SEARCH_OVERLAP_SECONDS again (the settings name HubSpot's search).
    scan_interval_seconds = None
    incremental_interval_seconds = None
    overlap_seconds = None

    def __init__(self, client: HubSpotClient, settings: Settings, object_type: str) -> None:
        self.client = client
        self.settings = settings
        self.spec = self._spec(object_type)
        self.fingerprint = fingerprinter_for(settings, self.spec)
        # Changes exactly when a record fetched whole now could hold other content than the
        # same record fetched before: the property settings or the associations read.
        parts = [self.fingerprint.signature, ",".join(self.spec.associations)]
        self.fetch_signature = hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def limiter(self) -> RollingWindowLimiter:
        return self.client.http.limiter  # the portal's budget, shared by every object type

    def _spec(self, object_type: str) -> ObjectSpec:
        return spec_for(object_type, associations=self.settings.associations.get(object_type, ()))

    async def open(self, run: RunContext) -> HubSpotRun:
        """The run's side: the object type and its association targets resolved (a custom
        object's type id, looked up once per process)."""
        spec = await self.client.resolve(self.spec, run.stats)
        targets = [await self.client.resolve(self._spec(t), run.stats) for t in spec.associations]
        return HubSpotRun(PageFetcher(self.client, self.settings, run, spec, targets))


class HubSpotRun:
    """One run of one object type (:class:`proxy.sources.base.FeedRun`)."""

    def __init__(self, fetcher: PageFetcher) -> None:
        self.fetcher = fetcher
        self.client = fetcher.client
        self.spec = fetcher.spec
        self.run = fetcher.run

    def scan_pages(self, phase: str, after: str | None, *, verify: bool) -> AsyncIterator[Fetched]:
        pages = self._listed(archived=phase == ARCHIVED, after=after, verify=verify)
        if phase == ARCHIVED:  # a tombstone keeps the stored associations (ChangeIndex)
            return pages
        return self.fetcher.with_associations(pages)

    async def _listed(
        self, *, archived: bool, after: str | None = None, verify: bool = False
    ) -> AsyncIterator[Fetched]:
        """The live (or archived) listing from cursor ``after``, each page with what is due
        fetched whole (every live record when ``verify``)."""
        listing = self.client.list_stamps(self.spec, self.run.stats, archived=archived, after=after)
        # The next listing page is asked for while this one's records are read and written.
        async with contextlib.aclosing(prefetched(listing)) as pages:
            async for page in pages:
                fetched = await self.fetcher.listed(
                    page.records, archived=archived, everything=verify
                )
                fetched.after = page.after
                yield fetched

    async def confirm_absences(self, unseen: Sequence[str], scan_started: datetime) -> Absences:
        """Batch read every unseen id. Not found: gone. Named in a merge result: merged away
        (the record it lives in is a survivor, fetched fresh). Live and modified after the
        scan began: it moved under the scan (a restore bumps the modification time), a
        survivor. Live and older: it should have been listed, the listing was incomplete."""
        began_ms = int(scan_started.timestamp() * 1000)
        gone: list[str] = []
        merged: list[str] = []
        survivors: list[FetchedRecord] = []
        properties = await self.fetcher.properties()
        for start in range(0, len(unseen), BATCH_READ_SIZE):
            asked = unseen[start : start + BATCH_READ_SIZE]
            answer = await self.client.batch_read(self.spec, asked, properties, self.run.stats)
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
            gone.extend(answer.missing)
            merged.extend(answer.merged)
            survivors.extend(answer.survivors)
            survivors.extend(moved.values())
        # Fresh copies (records merged ids live on in, records that moved) carry their
        # associations like every applied record.
        await self.fetcher.attach_associations(survivors)
        return Absences(gone=gone, merged=merged, survivors=survivors)

    def recent(self, since: datetime, until: datetime) -> AsyncIterator[Fetched]:
        """Search by modification time for ids and modification times, fetch whole what
        moved past the stored copy; ids that merge results name are gone."""
        until_ms = _ms(until) + 1  # inclusive bound; later edits are the next run's
        return self.fetcher.with_associations(self._searched(_ms(since), until_ms))

    async def _searched(self, since_ms: int, until_ms: int) -> AsyncIterator[Fetched]:
        # Search names only the bookkeeping properties: a body naming hundreds of them could
        # pass the search API's request size limit. What moved is fetched whole by id.
        bookkeeping = [self.spec.modified_property, self.spec.merged_ids_property]
        pages = self.client.search_modified(
            self.spec, since_ms, until_ms, bookkeeping, self.run.stats
        )
        async for page in pages:
            fetched = await self.fetcher.searched(page.records)
            fetched.total = page.total
            yield fetched

    def deleted(self) -> AsyncIterator[Fetched]:
        """The recycle bin (ids and modification times: one request per 100 archived
        records); what the mirror still holds live is fetched as archived. GDPR deletions
        leave no trace to list: :meth:`live_count` tells of them."""
        return self._listed(archived=True)

    async def live_count(self) -> int | None:
        return await self.client.live_count(self.spec, self.run.stats)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
