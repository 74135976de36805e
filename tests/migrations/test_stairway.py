"""Migration stairway: every revision upgrades, downgrades and upgrades again, on SQLite and
Postgres; the newest revision matches the schema module (no model change without a
migration); and `serve`-style upgrades may run from two processes at once."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from proxy.store import create_engine, migrate
from proxy.store.record_text import COMPRESS_FROM, stored_form
from proxy.store.schema import metadata

REVISIONS = [
    r.revision
    for r in reversed(list(ScriptDirectory.from_config(migrate.alembic_config()).walk_revisions()))
]


@pytest.fixture
async def empty_url(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        await migrate.downgrade(engine, "base")
    finally:
        await engine.dispose()
    return database_url


@pytest.mark.parametrize("revision", REVISIONS)
async def test_stairway(empty_url: str, revision: str) -> None:
    engine = create_engine(empty_url)
    try:
        await migrate.upgrade(engine, revision)
        down_to = REVISIONS[REVISIONS.index(revision) - 1] if REVISIONS.index(revision) else "base"
        await migrate.downgrade(engine, down_to)
        await migrate.upgrade(engine, revision)
        assert (await migrate.current(engine)).startswith(revision)
    finally:
        await engine.dispose()


async def test_head_matches_the_schema_module(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await engine.dispose()
    assert diff == []


async def test_two_processes_upgrading_at_once_both_succeed(empty_url: str) -> None:
    async def upgrade_in_a_process() -> tuple[int, bytes]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "proxy.cli",
            "db",
            "upgrade",
            env={**os.environ, "DATABASE_URL": empty_url, "LOG_LEVEL": "WARNING"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        return proc.returncode or 0, out

    results = await asyncio.gather(upgrade_in_a_process(), upgrade_in_a_process())
    for code, out in results:
        assert code == 0, out.decode()
        assert out.decode().strip().endswith(f"{REVISIONS[-1]} (head)")


def test_head_constant_is_alembics_head() -> None:
    """``migrate.HEAD`` lets a start on a current database skip Alembic: it must name the
    newest revision."""
    assert ScriptDirectory.from_config(migrate.alembic_config()).get_current_head() == migrate.HEAD


async def test_upgrading_a_current_database_does_not_import_alembic(database_url: str) -> None:
    """What serve does at every start: on a database at the head, ``upgrade`` finds it so
    with one query, in a process that never imports Alembic (it keeps ~10 MB)."""
    code = (
        "import asyncio, sys\n"
        "from proxy.store import create_engine, migrate\n"
        "async def main():\n"
        f"    engine = create_engine({database_url!r})\n"
        "    try:\n"
        "        await migrate.upgrade(engine)\n"
        "    finally:\n"
        "        await engine.dispose()\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    assert out.decode().strip() == "[]"


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_postgres_stores_records_compressed_with_lz4(empty_url: str, backend: str) -> None:
    """Revision 0004: records of hundreds of properties are compressed with LZ4 (pglz cost
    Postgres more CPU than the rest of an insert); the downgrade gives the default back."""
    engine = create_engine(empty_url)

    async def compression() -> str:
        async with engine.connect() as conn:
            value = await conn.scalar(
                sa.text(
                    "SELECT attcompression::text FROM pg_attribute"
                    " WHERE attrelid = 'entities'::regclass AND attname = 'data'"
                )
            )
        return str(value)

    try:
        await migrate.upgrade(engine, "0004")
        assert await compression() == "l"
        await migrate.downgrade(engine, "0003")
        assert await compression() == ""
    finally:
        await engine.dispose()


async def test_going_below_0006_makes_the_older_code_compute_every_fingerprint(
    empty_url: str,
) -> None:
    """From 0006 a record may be stored before its fingerprint is computed (left empty).
    Code before it compares every stored fingerprint, so the downgrade forgets the settings
    they were computed under: the older code's first start then computes them all."""
    engine = create_engine(empty_url)
    statement = sa.text("SELECT fingerprint_config FROM object_state")
    try:
        await migrate.upgrade(engine, "0006")
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO object_state (object_type, last_change_seq, fingerprint_config)"
                    " VALUES ('contacts', 1, 'abc')"
                )
            )
        await migrate.downgrade(engine, "0005")
        async with engine.connect() as conn:
            assert (await conn.execute(statement)).scalar_one() is None
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_going_below_0008_expands_every_compressed_record(
    empty_url: str, backend: str
) -> None:
    """From 0008 SQLite stores large records LZ4-compressed; code before it would splice the
    BLOB into the feed as JSON, so the downgrade turns every one back into its text (and
    leaves text alone)."""
    large = '{"properties":{"note":"' + "x" * COMPRESS_FROM + '"}}'
    engine = create_engine(empty_url)
    insert = sa.text(
        "INSERT INTO entities (object_type, entity_id, change_seq, fingerprint, deleted, data,"
        " first_seen_at, changed_at) VALUES ('contacts', :id, :seq, '', 0, :data,"
        " '2026-11-29 00:00:00', '2026-11-29 00:00:00')"
    )
    try:
        await migrate.upgrade(engine, "0008")
        async with engine.begin() as conn:
            await conn.execute(
                insert,
                [
                    {"id": str(i), "seq": i, "data": stored_form(large if i % 2 else "{}")}
                    for i in range(1, 1101)  # more than one batch of the downgrade
                ],
            )
            blobs = "SELECT count(*) FROM entities WHERE typeof(data) = 'blob'"
            assert (await conn.execute(sa.text(blobs))).scalar_one() == 550
        await migrate.downgrade(engine, "0007")
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT entity_id, data FROM entities"))).all()
        assert len(rows) == 1100
        assert all(data == (large if int(i) % 2 else "{}") for i, data in rows)
    finally:
        await engine.dispose()
