"""The interface between the sync engine and a kind of source: all the engine knows of one.

A *feed* is one mirrored collection (a HubSpot object type; a declared REST source): a
store key and feed path (``name``), the sync modes it supports, the listing phases of its
full scan, and what counts as a change of its records (``fingerprint``). For each run the
engine opens a :class:`FeedRun`, the source's per-run object (whatever the source must
resolve or learn once per run lives there, never on the long-lived feed), and asks it for
pages to ingest:

- a full scan lists every phase in ``phases`` from a resume position (``scan_pages``); the
  engine writes each page with the position after it, so a scan cut short resumes there;
- once every phase is listed, the engine asks the run about the live records the scan did
  not see (``confirm_absences``) and tombstones what it confirms gone, under the
  mass-deletion guard;
- optionally, what changed in a time window (``recent``: the ``incremental`` mode) and
  what was deleted between scans (``deleted`` and ``live_count``: the ``deletions`` mode).

The engine owns everything else: scan state and positions, the guard, ingest, the run log,
leases, scheduling, health, metrics, admin and the feed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from proxy.store.scans import ARCHIVED as ARCHIVED
from proxy.store.scans import LIVE as LIVE

if TYPE_CHECKING:
    from proxy.diff import Fingerprinter
    from proxy.run_context import RunContext
    from proxy.sources.ratelimit import RollingWindowLimiter

FULL = "full"  # the reconciliation: list every record, fetch what changed
VERIFY = "verify"  # the complete comparison: fetch and compare every record
INCREMENTAL = "incremental"  # what was modified since the watermark (FeedRun.recent)
DELETIONS = "deletions"  # deletions between full scans (FeedRun.deleted, live_count)
MODES = (FULL, INCREMENTAL, VERIFY, DELETIONS)

# The listing phases a scan position can name (the store keeps them, as LIVE and ARCHIVED);
# a feed lists some of them, in that order.
PHASES = (LIVE, ARCHIVED)


class SourceRecord(Protocol):
    """One complete record to apply."""

    @property
    def id(self) -> str: ...

    @property
    def deleted(self) -> bool:
        """The source lists it as deleted (archived, soft-deleted): a tombstone."""
        ...

    @property
    def modified_ms(self) -> int | None:
        """The source's modification time, when it has one."""
        ...

    def data(self) -> str:
        """The record as the mirror stores and serves it: JSON text of one object."""
        ...


@dataclass
class FeedPage:
    """One page for the engine to write, in one transaction, in the order given."""

    records: Sequence[SourceRecord] = ()  # complete records to apply
    sighted: Sequence[str] = ()  # ids listed whose stored copy is current (seen, not fetched)
    gone: Sequence[str] = ()  # ids the source says no longer exist (a merge result names them)
    total: int | None = None  # how many records the listing holds in all, when it says
    # A scan: the position in this phase after this page (None: the phase ends here).
    after: str | None = None
    # The records may well equal the stored copies (a verifying scan fetches every one):
    # the engine then compares them before taking the write lock.
    probe: bool = False
    # Called once the page is written (committed, or found to change nothing): the mirror
    # then holds what the page says. Never called for a page whose write failed.
    written: Callable[[], None] | None = None


@dataclass
class Absences:
    """What the source said of the live records a complete scan did not see."""

    gone: list[str] = field(default_factory=list)  # confirmed gone: tombstoned (or held)
    merged: list[str] = field(default_factory=list)  # gone into another record: never held
    survivors: Sequence[SourceRecord] = ()  # fresh copies to apply


class FeedRun(Protocol):
    """A feed's side of one run. The optional parts raise NotImplementedError; the engine
    calls them only in the modes the feed says it supports."""

    def scan_pages(self, phase: str, after: str | None, *, verify: bool) -> AsyncIterator[FeedPage]:
        """The ``phase`` listing from position ``after`` (its start when None). Each page
        carries the position after it. With ``verify``, every record comes whole, to be
        compared; without, a source that can tell may send only what changed and name the
        rest ``sighted``."""
        ...

    async def confirm_absences(self, unseen: Sequence[str], scan_started: datetime) -> Absences:
        """Ask about ``unseen`` (live in the mirror, not seen by the complete scan that began
        at ``scan_started``). Raise :class:`proxy.errors.ListingIncomplete` when one of them
        is live and should have been listed: then nothing is deleted."""
        ...

    def recent(self, since: datetime, until: datetime) -> AsyncIterator[FeedPage]:
        """The records modified in ``[since, until]`` (``incremental``)."""
        raise NotImplementedError

    def deleted(self) -> AsyncIterator[FeedPage]:
        """What the source lists as deleted, to tombstone between scans (``deletions``)."""
        raise NotImplementedError

    async def live_count(self) -> int | None:
        """How many live records the source counts (``deletions``: fewer than the mirror
        holds queues a full scan); None when it cannot say."""
        raise NotImplementedError


class Feed(Protocol):
    """One mirrored collection, for the life of the process."""

    @property
    def name(self) -> str:
        """The store key and the feed path."""
        ...

    @property
    def modes(self) -> frozenset[str]:
        """The sync modes it supports; always ``full``."""
        ...

    @property
    def phases(self) -> tuple[str, ...]:
        """The listing phases of a full scan, in order (of LIVE, ARCHIVED)."""
        ...

    @property
    def scan_interval_seconds(self) -> float | None:
        """A full scan this often (0: only on request); None: by ``FULL_SYNC_CRON``."""
        ...

    @property
    def incremental_interval_seconds(self) -> float | None:
        """An incremental run this often (``incremental`` mode); None: by
        ``SYNC_INTERVAL_SECONDS``."""
        ...

    @property
    def limiter(self) -> RollingWindowLimiter | None:
        """The request budget its requests draw on (shared by HubSpot's object types);
        None when its requests are not paced."""
        ...

    @property
    def overlap_seconds(self) -> float | None:
        """How far before its start the next incremental run reads again (the source's
        index may lag writes); None: ``SEARCH_OVERLAP_SECONDS``."""
        ...

    @property
    def fingerprint(self) -> Fingerprinter:
        """What counts as a change of one of its records."""
        ...

    @property
    def fetch_signature(self) -> str:
        """Changes exactly when a record fetched now could hold other content than the same
        record fetched before (then a full scan compares every record)."""
        ...

    async def open(self, run: RunContext) -> FeedRun:
        """Its side of the run ``run`` (may ask the source, e.g. to resolve a name)."""
        ...
