"""A feed's activity over the last day, from its runs' records: what the console charts.

Each run's counters (created, updated, deleted, requests) are counted in the hour the run
finished. Runs are the unit the service records; a run that spans an hour boundary counts
in the hour it ended, and deletions an operator confirms by hand (not a run) are not in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from proxy.store.runs import RunRecord

HOURS = 24


@dataclass
class Hour:
    start: datetime
    created: int = 0
    updated: int = 0
    deleted: int = 0
    runs: int = 0
    requests: int = 0


def hourly(runs: Iterable[RunRecord], now: datetime, hours: int = HOURS) -> list[Hour]:
    """The last ``hours`` whole and current hours, oldest first, with the counters of the
    runs that finished in each."""
    current = now.replace(minute=0, second=0, microsecond=0)
    buckets = [Hour(current - timedelta(hours=hours - 1 - i)) for i in range(hours)]
    first = buckets[0].start
    for run in runs:
        if run.finished_at is None or run.finished_at < first or run.finished_at > now:
            continue
        hour = buckets[int((run.finished_at - first) // timedelta(hours=1))]
        hour.created += run.created
        hour.updated += run.updated
        hour.deleted += run.deleted
        hour.runs += 1
        hour.requests += run.requests
    return buckets
