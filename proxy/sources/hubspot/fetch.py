"""From what a listing or a search names to what the mirror must be told.

Listings and searches ask HubSpot for ids and modification times only, so they cost one
request per page however many properties a portal defines. This module decides which of
the named records must be fetched whole (``diff.due_for_fetch``), fetches them with batch
read (properties in the body: no URL limit), attaches their associations (read for many
pages at once), and hands back :class:`Fetched` pages: the complete records to apply, and
the ids whose stored copies are current (seen, not fetched).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from proxy.config import Settings
from proxy.diff import due_for_fetch, merged_away_ids
from proxy.run_context import RunContext
from proxy.sources.base import FeedPage
from proxy.sources.hubspot.batch_read import FetchedRecord
from proxy.sources.hubspot.client import ASSOCIATIONS_BATCH_SIZE, BATCH_READ_SIZE, HubSpotClient
from proxy.sources.hubspot.objects import ObjectSpec
from proxy.sources.hubspot.pages import modified_ms


@dataclass
class Fetched(FeedPage):
    """A page for the engine, its records as batch read answered them (associations are
    attached to them in place)."""

    records: list[FetchedRecord] = field(default_factory=list)
    sighted: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)


# Pages held back at most while associations wait to be read for many records at once.
MAX_HELD_PAGES = ASSOCIATIONS_BATCH_SIZE // BATCH_READ_SIZE


class PageFetcher:
    """Turns one run's listed (or searched) pages into :class:`Fetched` pages. Built per
    run, with the run's resolved object type and association targets."""

    def __init__(
        self,
        client: HubSpotClient,
        settings: Settings,
        run: RunContext,
        spec: ObjectSpec,
        targets: Sequence[ObjectSpec] = (),
    ) -> None:
        self.client = client
        self.settings = settings
        self.run = run
        self.spec = spec
        self.targets = targets  # the types whose associations records carry
        # Every property the run fetches whole records with, once asked of HubSpot (None
        # before: see properties); listings and searches name only the bookkeeping ones.
        self._properties: list[str] | None = None

    async def properties(self) -> list[str]:
        """Every property a record of the run's type is fetched with: what HubSpot defines,
        narrowed by INCLUDE_PROPERTIES / EXCLUDE_PROPERTIES. Asked of HubSpot once per run,
        and only by a run that fetches something: a run that finds nothing to fetch (most
        incremental runs and deletion checks) spends no request on the catalogue."""
        if self._properties is None:
            spec = self.spec
            names = await self.client.property_names(spec, self.run.stats)
            include = set(self.settings.include_properties)
            exclude = set(self.settings.exclude_properties)
            chosen = [n for n in names if (not include or n in include) and n not in exclude]
            # The bookkeeping properties are needed whatever the lists say.
            for needed in (spec.modified_property, spec.merged_ids_property):
                if needed not in chosen and needed in names:
                    chosen.append(needed)
            self._properties = chosen
        return self._properties

    def stamps(self, records: Sequence[Mapping[str, Any]]) -> dict[str, int | None]:
        """Each listed record's id and modification time."""
        modified = self.spec.modified_property
        return {str(r["id"]): modified_ms(r, modified) for r in records}

    async def listed(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        archived: bool = False,
        everything: bool = False,
    ) -> Fetched:
        """One page of a listing. Live: fetch what is new, restored or modified since the
        stored copy (everything, when verifying). Archived: fetch, as archived, what the
        mirror still holds live; its tombstone keeps the record's last content.

        A listed id that batch read no longer finds (deleted or merged since it was
        listed) is neither applied nor marked seen: the scan's absence check asks again."""
        stamps = self.stamps(records)
        ids = list(stamps)
        stored = await self.run.store.changes.stored(self.spec.name, ids)
        due = due_for_fetch(stamps, stored, archived=archived, everything=everything)
        due_set = set(due)
        # Only a verifying scan fetches records whose stored copy may be current.
        probe = everything and not due_set.isdisjoint(stored)
        out = Fetched(sighted=[i for i in ids if i not in due_set], probe=probe)
        out.records = await self.whole(due, archived=archived)
        return out

    async def searched(self, records: Sequence[Mapping[str, Any]]) -> Fetched:
        """One page of a search by modification time: like a live listing's page (the
        overlap re-finds records the mirror holds already: not fetched again), and the ids
        a merge result names are gone."""
        out = await self.listed(records)
        merged = self.spec.merged_ids_property
        out.gone = [i for r in records for i in merged_away_ids(r, merged)]
        return out

    async def whole(self, ids: Sequence[str], *, archived: bool = False) -> list[FetchedRecord]:
        """The complete records of ``ids`` that HubSpot still has (live ones; with
        ``archived``, archived ones), and the records that ids merged away now live in.
        Associations come after, for many pages at once (:meth:`with_associations`)."""
        records: list[FetchedRecord] = []
        for start in range(0, len(ids), BATCH_READ_SIZE):
            asked = ids[start : start + BATCH_READ_SIZE]
            answer = await self.client.batch_read(
                self.spec, asked, await self.properties(), self.run.stats, archived=archived
            )
            # In the order asked (the listing's): change numbers follow it.
            records.extend(answer.live[i] for i in asked if i in answer.live)
            records.extend(answer.survivors)
        return records

    async def with_associations(self, pages: AsyncIterator[Fetched]) -> AsyncIterator[Fetched]:
        """``pages`` with their records' associations attached, read for up to
        ASSOCIATIONS_BATCH_SIZE records at a time (one request per target type per 1,000
        records rather than per page of 100): pages are held back until that many records
        are waiting, ten pages are, or the stream ends, then passed on in order."""
        if not self.targets:
            async for page in pages:
                yield page
            return
        held: list[Fetched] = []
        waiting = 0
        async for page in pages:
            held.append(page)
            waiting += len(page.records)
            # Pages with little to fetch (most of a reconciliation) are not held longer
            # than ten of them: their positions must reach the store as the scan goes.
            if waiting >= ASSOCIATIONS_BATCH_SIZE or len(held) >= MAX_HELD_PAGES:
                await self.attach_associations([r for p in held for r in p.records])
                for ready in held:
                    yield ready
                held, waiting = [], 0
        await self.attach_associations([r for p in held for r in p.records])
        for ready in held:
            yield ready

    async def attach_associations(self, records: list[FetchedRecord]) -> None:
        """Put each record's associations under ``associations``, in v3's shape, one key
        per configured target type (an empty list when it has none, so that losing the
        last association is a change)."""
        if not self.targets or not records:
            return
        ids = [r.id for r in records]
        for target in self.targets:
            links = await self.client.associations(self.spec, target, ids, self.run.stats)
            for record in records:
                if record.associations is None:
                    record.associations = {}
                record.associations[target.name] = {"results": links.get(record.id, [])}
