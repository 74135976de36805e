"""Shared fixtures: a fresh real database per test (SQLite file, or a Postgres database
cloned from a migrated template), and the real app on it.

Postgres: ``TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
Without a reachable server the Postgres variants skip with the reason, except under
``CI=true``, where a missing server fails the run.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import pytest

from proxy.config import Settings, load_settings
from proxy.store import Store, migrate

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() == "true"


@dataclass
class PostgresServer:
    admin_url: str  # plain URL of the maintenance database
    template: str  # a migrated database that per-test databases are cloned from
    run_prefix: str

    def url_for(self, database: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{database}"


async def _admin(sql: str, url: str = PG_ADMIN_URL) -> None:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _create_template(prefix: str) -> str:
    template = f"{prefix}_template"
    await _admin(f'CREATE DATABASE "{template}"')
    base = PG_ADMIN_URL.rpartition("/")[0]
    store = Store.open(f"{base}/{template}")
    try:
        await migrate.upgrade(store.engine)
    finally:
        await store.close()
    return template


async def _drop_all(prefix: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        names = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "%"
        )
        for row in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


def _run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a fresh loop in another thread: session fixtures
    may be set up from inside a test's running loop (via getfixturevalue)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    prefix = f"cp_test_{uuid.uuid4().hex[:10]}"
    try:
        template = _run_in_thread(_create_template(prefix))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        reason = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"
        if IN_CI:
            pytest.fail(f"CI=true requires PostgreSQL: {reason}")
        pytest.skip(reason)
    try:
        yield PostgresServer(PG_ADMIN_URL, template, prefix)
    finally:
        _run_in_thread(_drop_all(prefix))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_url(
    backend: str, tmp_path: object, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A fresh, migrated, empty database for this test."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/mirror.db"
        store = Store.open(url)
        try:
            await migrate.upgrade(store.engine)
        finally:
            await store.close()
        yield url
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"{server.run_prefix}_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{server.template}"')
    try:
        yield server.url_for(name)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    s = Store.open(database_url)
    await s.changes.register_object_types(["contacts"])
    try:
        yield s
    finally:
        await s.close()


def make_settings(database_url: str, **env: str) -> Settings:
    base = {
        "DATABASE_URL": database_url,
        "HUBSPOT_ACCESS_TOKEN": "test-token-not-secret",
        "SYNC_INTERVAL_SECONDS": "0",
        "FULL_SYNC_CRON": "",
        "VERIFY_SYNC_CRON": "",
        "DELETE_CHECK_SECONDS": "0",
    }
    base.update(env)
    return load_settings(env=base)


# --- figures of the slow tiers ------------------------------------------------------------------
# The proof tier (kills, interrupted runs, leaders, takeover times) and the schemathesis tier
# (requests generated) hand their summary line to ``figures``; it is printed after the run,
# so CI output shows them.

FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[[str], None]:
    lines = request.config.stash.setdefault(FIGURES, [])

    def report(line: str) -> None:
        lines.append(f"{request.node.name}: {line}")
        print(line)  # also in the test's captured output

    return report


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.write_sep("-", "slow tier figures")
        for line in lines:
            terminalreporter.write_line(line)
