"""The statements a scan runs for every record it lists, as plain SQL that the driver runs
by itself (``executemany`` with tuples, ``fetchall``).

Through SQLAlchemy's Core each row's parameters are built as a dict and processed one by
one (type processors, the UTC conversion of every timestamp, the compiled-cache lookup):
on a first scan of 100,000 records into SQLite that cost more than SQLite's own work, and
the writer thread was the scan's bottleneck (py-spy over ``bench.rest``: 0.7 s in
timestamp conversion alone, 1.3 s building and processing parameters). Here the values that
are the same for a whole page (the time, the run, the object type) are converted once, and
each row is a tuple. Every other statement goes through SQLAlchemy as usual.

The SQL is written with ``?`` and turned into the driver's placeholders (asyncpg numbers
them); it is standard SQL that SQLite and Postgres both take (``ON CONFLICT`` included).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
import sqlalchemy as sa

from proxy.store.schema import entities

ENTITY_COLUMNS = (
    "object_type",
    "entity_id",
    "change_seq",
    "fingerprint",
    "content_hash",
    "deleted",
    "data",
    "first_seen_at",
    "changed_at",
    "changed_by_run_id",
    "source_modified_ms",
)
_INSERT_ENTITIES = (
    f"INSERT INTO entities ({', '.join(ENTITY_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in ENTITY_COLUMNS)})"
)
# Sightings: one statement for a whole batch of ids, which the database unpacks itself
# (SQLite's json_each, Postgres's unnest), instead of a row of parameters per id. A no-change
# rescan of 100,000 records writes 100,000 of them; as an executemany they were its largest
# cost (0.38 s a scan on SQLite, py-spy over bench.rest), bound in Python row by row while
# the event loop waited for the GIL. A sighting only moves forward: a slower run that writes
# after a later one must not make a record look unseen to the later run's scan.
_SIGHTINGS_CONFLICT = (
    " ON CONFLICT (object_type, entity_id) DO UPDATE "
    "SET last_seen_run_id = excluded.last_seen_run_id "
    "WHERE sightings.last_seen_run_id < excluded.last_seen_run_id"
)
_UPSERT_SIGHTINGS = {
    # WHERE true: without it SQLite would read ON CONFLICT as part of the SELECT's join.
    "sqlite": "INSERT INTO sightings (object_type, entity_id, last_seen_run_id) "
    "SELECT ?, value, ? FROM json_each(?) WHERE true" + _SIGHTINGS_CONFLICT,
    "postgresql": "INSERT INTO sightings (object_type, entity_id, last_seen_run_id) "
    "SELECT ?, unnest(?::varchar[]), ?" + _SIGHTINGS_CONFLICT,
}
_STORED = (
    "SELECT entity_id, fingerprint, deleted, source_modified_ms, content_hash FROM entities "
    "WHERE object_type = ? AND entity_id IN ({ids})"
)


@lru_cache(maxsize=64)
def _in_driver_style(paramstyle: str, sql: str) -> str:
    if paramstyle == "qmark":
        return sql
    if paramstyle not in ("numeric_dollar", "numeric"):
        raise NotImplementedError(f"placeholders in the {paramstyle!r} style")
    mark = "$" if paramstyle == "numeric_dollar" else ":"
    first, *rest = sql.split("?")
    return first + "".join(f"{mark}{n}{text}" for n, text in enumerate(rest, 1))


def _run(conn: sa.Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    conn.exec_driver_sql(_in_driver_style(conn.dialect.paramstyle, sql), list(rows))


def bound_time(conn: sa.Connection, value: datetime) -> Any:
    """``value`` as the driver takes it for the mirror's UTC timestamp columns (SQLite: the
    text SQLAlchemy would have written, so every reader parses it the same)."""
    process = entities.c.changed_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return process(value) if process is not None else value


def insert_entities(conn: sa.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """New records, each a tuple in :data:`ENTITY_COLUMNS` order (timestamps from
    :func:`bound_time`)."""
    if rows:
        _run(conn, _INSERT_ENTITIES, rows)


def record_sightings(
    conn: sa.Connection, object_type: str, run_id: int, ids: Iterable[str]
) -> None:
    """Run ``run_id`` saw these ids (the evidence a full scan's deletions rest on)."""
    # Each id once: Postgres refuses to update one row twice in a statement (an id listed
    # twice, offset drift).
    unique = list(dict.fromkeys(ids))
    if not unique:
        return
    dialect = conn.dialect.name
    sql = _in_driver_style(conn.dialect.paramstyle, _UPSERT_SIGHTINGS[dialect])
    if dialect == "sqlite":
        params: tuple[Any, ...] = (object_type, run_id, orjson.dumps(unique).decode())
    else:
        params = (object_type, unique, run_id)
    conn.exec_driver_sql(sql, params)


def stored_rows(
    conn: sa.Connection, object_type: str, ids: Sequence[str]
) -> list[tuple[str, str, Any, int | None, str | None]]:
    """(entity_id, fingerprint, deleted, source_modified_ms, content_hash) of the stored
    records among ``ids`` (at most :data:`proxy.store.database.ID_CHUNK` of them)."""
    if not ids:
        return []
    sql = _STORED.format(ids=", ".join("?" for _ in ids))
    result = conn.exec_driver_sql(
        _in_driver_style(conn.dialect.paramstyle, sql), (object_type, *ids)
    )
    return list(result.fetchall())
