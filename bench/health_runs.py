"""``GET /health`` with a long run history: its latency with ``--rows`` sync runs (1.5M by
default) on schema 0008 (sync_runs indexed by (object_type, id) only) and on 0009 (the
indexes /health, /admin/status and the workers' queries use).

    .venv/bin/python -m bench.health_runs                       # SQLite in a temp dir
    .venv/bin/python -m bench.health_runs --database-url postgresql://postgres@127.0.0.1:5432/

Fills ``sync_runs`` in SQL (one INSERT … SELECT over a generated series: incremental runs of
contacts every minute, one in 20 failed, a deletion check every 15th), then serves the real
app in this process (no scheduling, HubSpot unreachable) and times ``--requests`` requests
at each schema, then times the first pruning to RUN_RETENTION_DAYS=30 (which deletes all
but the last 43,200 runs). Prints the figures; a runner for people, no test asserts times.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import timedelta

import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from proxy.app import create_app
from proxy.config import load_settings
from proxy.store import Store, create_engine, migrate

SERIES = {
    "sqlite": "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
    "SELECT i FROM s",
    "postgresql": "SELECT i FROM generate_series(1, :n) AS s(i)",
}
START = {
    "sqlite": "datetime('now', '-' || (:n - i) || ' minutes')",
    "postgresql": "now() AT TIME ZONE 'UTC' - make_interval(mins => (:n - i)::int)",
}


async def fill(url: str, rows: int) -> None:
    engine = create_engine(url)
    dialect = engine.dialect.name
    when = START[dialect]
    insert = sa.text(
        "INSERT INTO sync_runs (object_type, mode, status, trigger, queued_at, started_at, "
        "finished_at) SELECT 'contacts', "
        "CASE WHEN i % 15 = 0 THEN 'deletions' ELSE 'incremental' END, "
        "CASE WHEN i % 20 = 0 THEN 'failed' ELSE 'succeeded' END, 'schedule', "
        f"{when}, {when}, {when} FROM ({SERIES[dialect]}) AS series"
    )
    try:
        await migrate.upgrade(engine, "0008")
        async with engine.begin() as conn:
            await conn.execute(insert, {"n": rows})
            if dialect == "postgresql":
                await conn.execute(sa.text("ANALYZE sync_runs"))
    finally:
        await engine.dispose()


async def time_health(url: str, requests: int) -> float:
    settings = load_settings(
        env={
            "DATABASE_URL": url,
            "HUBSPOT_ACCESS_TOKEN": "unused",
            "HUBSPOT_BASE_URL": "http://127.0.0.1:9",
            "SYNC_INTERVAL_SECONDS": "0",
            "FULL_SYNC_CRON": "",
            "VERIFY_SYNC_CRON": "",
            "DELETE_CHECK_SECONDS": "0",
        }
    )
    async with TestClient(TestServer(create_app(settings, schedule=False))) as client:
        await client.get("/health")  # warm
        times = []
        for _ in range(requests):
            start = time.perf_counter()
            resp = await client.get("/health")
            await resp.read()
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


NEW_INDEXES = ("ix_sync_runs_object_type_status_id", "ix_sync_runs_object_type_mode_status_id")


async def drop_new_indexes(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for name in NEW_INDEXES:
                await conn.execute(sa.text(f"DROP INDEX {name}"))
    finally:
        await engine.dispose()


async def recreate_new_indexes(url: str) -> None:
    """Through the migration itself: stamped back to 0008, upgraded to 0009."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("UPDATE alembic_version SET version_num = '0008'"))
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def prune(url: str) -> int:
    """The first hourly pruning after an upgrade: RUN_RETENTION_DAYS's default."""
    store = Store.open(url)
    try:
        return await store.runs.prune(timedelta(days=30))
    finally:
        await store.close()


async def upgrade(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.health_runs")
    parser.add_argument("--rows", type=int, default=1_500_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url, admin, workdir = args.database_url, None, None
    if url is None:
        workdir = tempfile.mkdtemp(prefix="bench-health-")
        url = f"sqlite:///{workdir}/mirror.db"
    elif url.startswith("postgresql"):
        admin, name = (
            url.rpartition("/")[0] + "/postgres",
            f"bench_{uuid.uuid4().hex[:8]}",
        )
        if url.endswith("/"):
            url = url + name
        engine = create_engine(admin)
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text(f'CREATE DATABASE "{url.rpartition("/")[2]}"'))
        await engine.dispose()
    try:
        start = time.perf_counter()
        await fill(url, args.rows)
        print(f"{args.rows:,} runs written in {time.perf_counter() - start:.1f} s")
        # The app migrates at start: "before" is the newest schema with 0009's indexes
        # dropped again (the tables and indexes of 0008), recorded as at head.
        await upgrade(url)
        await drop_new_indexes(url)
        before = await time_health(url, args.requests)
        print(f"GET /health, sync_runs indexes of 0008: median {before:.1f} ms")
        start = time.perf_counter()
        await recreate_new_indexes(url)
        print(f"migration 0009 (two indexes): {time.perf_counter() - start:.1f} s")
        after = await time_health(url, args.requests)
        print(f"GET /health, schema 0009: median {after:.1f} ms")
        start = time.perf_counter()
        deleted = await prune(url)
        print(f"pruned to 30 days: {deleted:,} runs deleted in {time.perf_counter() - start:.1f} s")
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        if admin is not None:
            engine = create_engine(admin)
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                name = url.rpartition("/")[2]
                await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
