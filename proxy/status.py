"""``change-proxy status`` (per-object state and recent runs) and ``change-proxy record``
(one stored record): read from the database, nothing written."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime

from rich.console import Console
from rich.table import Table

from proxy.config import Settings
from proxy.sources.configured import scan_intervals, stored_feed_names
from proxy.store import Store, migrate
from proxy.store.engine import sqlite_file
from proxy.store.runs import COALESCED, RunRecord
from proxy.sync_health import run_log_health


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


async def _open(settings: Settings, say: Callable[[str], None]) -> Store | None:
    """The store, or None after saying why there is nothing to read."""
    missing = sqlite_file(settings.database_url)
    if missing is not None and not missing.exists():
        say(
            f"no database at {missing} (DATABASE_URL): nothing has synced into it yet; "
            "`change-proxy serve` or `change-proxy sync` create it"
        )
        return None
    store = Store.open(settings.database_url)
    if not await migrate.current(store.engine):
        say(
            "the database has no schema yet: run `change-proxy db upgrade` "
            "(`change-proxy serve` and `sync` do it themselves)"
        )
        await store.close()
        return None
    return store


async def print_record(settings: Settings, object_type: str, entity_id: str) -> int:
    """Print one mirrored record as the feed serves it (on SQLite, a large one is stored
    compressed: this is how to read it)."""

    def say(message: str) -> None:
        print(f"change-proxy: {message}", file=sys.stderr)

    store = await _open(settings, say)
    if store is None:
        return 1
    try:
        named = await stored_feed_names(store, (object_type,))
        entity = await store.reader.entity(named.get(object_type, object_type), entity_id)
    finally:
        await store.close()
    if entity is None:
        say(f"the mirror has no {object_type} record {entity_id}")
        return 1
    sys.stdout.buffer.write(entity + b"\n")
    sys.stdout.flush()
    return 0


async def print_status(
    settings: Settings, *, runs: int = 10, console: Console | None = None
) -> int:
    # Piped output is read by people with wide terminals or by grep: do not wrap it at 80.
    console = console or (Console() if sys.stdout.isatty() else Console(width=220))
    store = await _open(settings, console.print)
    if store is None:
        return 1
    try:
        objects = Table(title="objects")
        for column in (
            "object",
            "ready",
            "live",
            "deleted",
            "last _updated",
            "watermark",
            "last full sync",
            "last incremental",
            "sync",
        ):
            objects.add_column(column)
        named = await stored_feed_names(store, settings.object_types)
        intervals = scan_intervals(settings)
        for name, interval in intervals.items():
            object_type = named.get(name, name)
            st = await store.reader.object_status(object_type, counts=True)
            if st is None:
                objects.add_row(object_type, "no", "-", "-", "-", "-", "-", "-", "-")
                continue
            # The run log's verdict (what /health says beyond this process's own worker).
            health = await run_log_health(
                store, settings, object_type, counting_from=None, scan_interval=interval
            )
            objects.add_row(
                object_type,
                "yes" if st.ready else "no",
                str(st.live),
                str(st.deleted),
                str(st.last_change_seq),
                _when(st.watermark),
                _when(st.last_full_sync_at),
                _when(st.last_incremental_sync_at),
                "; ".join(health.problems) or "ok",
            )
        console.print(objects)
        table = Table(title=f"last {runs} runs")
        for column in (
            "id",
            "object",
            "mode",
            "status",
            "started",
            "finished",
            "fetched",
            "created",
            "updated",
            "deleted",
            "requests",
            "error / note",
        ):
            table.add_column(column)
        for run in await store.runs.recent(limit=runs):
            table.add_row(
                str(run.id),
                run.object_type,
                run.mode,
                run.status,
                _when(run.started_at),
                _when(run.finished_at),
                str(run.fetched),
                str(run.created),
                str(run.updated),
                str(run.deleted),
                str(run.requests),
                _note(run),
            )
        console.print(table)
    finally:
        await store.close()
    return 0


def _note(run: RunRecord) -> str:
    """The run's error, or for a coalesced run the run that did its work."""
    if run.status == COALESCED:
        return f"coalesced: run {run.scan_run_id} did its work"
    return run.error or ""
