"""What the steps of one sync run share. Built by the runner for each run and passed in:
nothing of a run is kept on the long-lived objects (the client, the store, the runner)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from proxy.diff import Fingerprinter, Incoming
from proxy.sources.http import RequestStats
from proxy.sources.hubspot import ObjectSpec
from proxy.sources.hubspot.batch_read import FetchedRecord
from proxy.sources.hubspot.pages import modified_ms
from proxy.store import RunWriter
from proxy.store.runs import RunCounts

Progress = Callable[[RunCounts, int | None], None]  # counts so far, total when known


@dataclass
class RunContext:
    spec: ObjectSpec
    writer: RunWriter
    stats: RequestStats
    started: datetime
    fingerprint: Fingerprinter
    progress: Progress | None
    # Every property the run fetches whole records with, once asked of HubSpot (None
    # before: see PageFetcher.properties); listings and searches name only the bookkeeping
    # ones.
    properties: list[str] | None = None
    targets: Sequence[ObjectSpec] = ()  # the types whose associations records carry

    def incoming(self, records: Sequence[FetchedRecord]) -> list[Incoming]:
        """The records to apply, the last copy winning when an id repeats."""
        by_id = {
            r.id: Incoming(
                entity_id=r.id,
                deleted=r.archived,
                data=r.data(),
                fingerprinter=self.fingerprint,
                modified_ms=r.modified_ms,
            )
            for r in records
        }
        return list(by_id.values())

    def stamps(self, records: Sequence[Mapping[str, Any]]) -> dict[str, int | None]:
        """Each listed record's id and modification time."""
        modified = self.spec.modified_property
        return {str(r["id"]): modified_ms(r, modified) for r in records}
