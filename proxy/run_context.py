"""What the steps of one sync run share. Built by the runner for each run and passed in:
nothing of a run is kept on the long-lived objects (the feeds, the store, the runner)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from proxy.diff import Fingerprinter, Incoming
from proxy.sources.http import RequestStats
from proxy.store import RunWriter, Store
from proxy.store.runs import RunCounts

if TYPE_CHECKING:
    from proxy.sources.base import SourceRecord

Progress = Callable[[RunCounts, int | None], None]  # counts so far, total when known


@dataclass
class RunContext:
    object_type: str  # the feed's name
    store: Store  # a source compares what it lists with the stored copies (read only)
    writer: RunWriter
    stats: RequestStats
    started: datetime
    fingerprint: Fingerprinter
    progress: Progress | None

    def incoming(self, records: Sequence[SourceRecord]) -> list[Incoming]:
        """The records to apply, the last copy winning when an id repeats."""
        by_id = {
            r.id: Incoming(
                entity_id=r.id,
                deleted=r.deleted,
                data=r.data(),
                fingerprinter=self.fingerprint,
                modified_ms=r.modified_ms,
            )
            for r in records
        }
        return list(by_id.values())
