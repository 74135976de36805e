"""RUN_RETENTION_DAYS: finished runs older than the retention are deleted, in batches; the
runs health, status and a scan in progress still need are kept whatever their age."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from proxy.store import Store
from proxy.store.database import utcnow
from proxy.store.schema import sync_runs
from tests.conftest import make_settings


async def add_run(store: Store, mode: str, status: str, age_days: float, **extra: Any) -> int:
    finished = utcnow() - timedelta(days=age_days)
    values = {
        "object_type": "contacts",
        "mode": mode,
        "status": status,
        "trigger": "schedule",
        "queued_at": finished - timedelta(minutes=1),
        "started_at": finished - timedelta(minutes=1),
        "finished_at": None if status in ("queued", "running") else finished,
        **extra,
    }
    statement = sync_runs.insert().values(**values).returning(sync_runs.c.id)
    return int(await store.db.write(lambda conn: conn.execute(statement).scalar_one()))


async def kept_ids(store: Store) -> set[int]:
    query = sa.select(sync_runs.c.id)
    return set(await store.db.read(lambda conn: list(conn.execute(query).scalars())))


async def test_old_runs_go_and_the_needed_ones_stay(store: Store) -> None:
    old, new = 40.0, 1.0
    # The last successful run of each mode stays however old; older successes go.
    full_older = await add_run(store, "full", "succeeded", old + 2)
    full_last = await add_run(store, "full", "succeeded", old + 1)
    verify_last = await add_run(store, "verify", "succeeded", old)
    failed_old = await add_run(store, "incremental", "failed", old)
    interrupted_old = await add_run(store, "deletions", "interrupted", old)
    incremental_older = await add_run(store, "incremental", "succeeded", old)
    incremental_last = await add_run(store, "incremental", "succeeded", new)
    failed_new = await add_run(store, "incremental", "failed", new)
    # A scan in progress: the run that began it and the one that carried it on, failed long
    # ago, stay while the scan does; so does a run whose deletions wait for an operator.
    scan_began = await add_run(store, "full", "interrupted", old)
    await store.scans.begin("contacts", scan_began, verify=False)
    scan_carried = await add_run(store, "full", "failed", old, scan_run_id=scan_began)
    holding = await add_run(store, "full", "failed", old)
    await store.scans.hold("contacts", holding, ["17"])
    # A run left running (its process died long ago) is never deleted here.
    running = await add_run(store, "full", "running", old)
    # Another object type's last success stays too.
    companies_last = await add_run(
        store, "full", "succeeded", old, object_type="companies", scan_run_id=None
    )

    deleted = await store.runs.prune(timedelta(days=30), batch=2)

    assert deleted == 4
    kept = await kept_ids(store)
    assert kept == {
        full_last,
        verify_last,
        incremental_last,
        failed_new,
        scan_began,
        scan_carried,
        holding,
        running,
        companies_last,
    }
    assert not kept & {full_older, failed_old, interrupted_old, incremental_older}
    # The health and status reads still find what they need.
    last_full = await store.runs.last("contacts", mode="full")
    assert last_full is not None and last_full.id == full_last
    # Once the scan is over, its runs go at the next pruning.
    await store.scans.abandon("contacts")
    assert await store.runs.prune(timedelta(days=30)) == 2
    assert scan_began not in await kept_ids(store)


async def test_the_scheduler_prunes_at_start_unless_retention_is_zero(
    store: Store, database_url: str
) -> None:
    from proxy.scheduler import SyncScheduler
    from proxy.sources.configured import build_sources
    from proxy.sources.http import source_session
    from proxy.sync import SyncRunner

    failed = await add_run(store, "incremental", "failed", 31)
    recent = await add_run(store, "incremental", "failed", 29)
    for days in ("0", "30"):
        settings = make_settings(
            database_url,
            RUN_RETENTION_DAYS=days,
            HUBSPOT_BASE_URL="http://127.0.0.1:9",  # the startup full sync fails at once
            HUBSPOT_MAX_TRIES="1",
        )
        async with source_session() as session:
            runner = SyncRunner(store, build_sources(settings, session).feeds, settings)
            scheduler = SyncScheduler(store, runner, settings)
            await scheduler.start(schedule=True)
            try:
                if days == "0":  # kept for ever: no job that deletes
                    assert scheduler._aps.get_job("prune-runs") is None
                    continue
                deadline = asyncio.get_running_loop().time() + 30
                while failed in await kept_ids(store):
                    assert asyncio.get_running_loop().time() < deadline
                    await asyncio.sleep(0.02)
            finally:
                await scheduler.stop()
    assert recent in await kept_ids(store)
