"""How ``entities.data`` holds a record's JSON text.

Postgres stores it as text and compresses large values itself (TOAST; LZ4 from 14, see
migration 0004). SQLite compresses nothing, and its cost of writing a record grows with its
bytes, which it writes twice (the WAL, then the checkpoint): a record of COMPRESS_FROM
characters or more is stored as an LZ4 block (a BLOB: the text's length in 4 bytes, then
the compressed UTF-8), the rest as the text itself, so ordinary records stay readable with
``json_extract`` in ``sqlite3``. Measured on 31 KB contacts of 600 properties: 7x smaller,
9 us to compress and 3 us to expand a record (an LZ4 frame, which the ``lz4`` command
reads, took 25 us to expand), and a first sync of 100,000 of them went from 4,495 to
6,353 records/s (``bench.cost``, the two versions back to back). ``change-proxy record``
prints a stored record whatever its form.
"""

from __future__ import annotations

import sqlite3
from typing import Any, cast

import lz4.block  # type: ignore[import-untyped]  # no stubs
import sqlalchemy as sa

# From here a record no longer fits an 8 KB page (engine.py) and spills onto overflow pages;
# below it, compressing saves little and costs the record its readability in sqlite3.
COMPRESS_FROM = 8000

# Expands a stored BLOB to the record's UTF-8 JSON, in SQL: registered on the connections
# that build feed entities in SQLite (:func:`register`).
SQL_FUNCTION = "record_text"


def stored_form(text: str) -> str | bytes:
    """``text`` as SQLite stores it: itself, or compressed when it is large."""
    if len(text) < COMPRESS_FROM:
        return text
    return cast(bytes, lz4.block.compress(text.encode()))


def text_of(value: str | bytes) -> str:
    """The JSON text of a stored ``data`` value (a str, or bytes when stored compressed)."""
    return value if isinstance(value, str) else cast(bytes, lz4.block.decompress(value)).decode()


def expanded(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A compressed ``column`` (``entities.data``) as its JSON text, in SQLite SQL, on a
    connection that has :func:`register` ed the expanding function."""
    return sa.sql.functions.Function(SQL_FUNCTION, column)


def is_compressed(column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """Whether ``column`` holds a compressed record, in SQLite SQL: every BLOB sorts after
    every text value, and X'' is the least BLOB (cheaper per row than ``typeof``)."""
    return column >= sa.literal(b"", sa.LargeBinary)


def register(conn: sqlite3.Connection) -> None:
    """Make :data:`SQL_FUNCTION` callable in ``conn``'s SQL."""
    conn.create_function(SQL_FUNCTION, 1, lz4.block.decompress, deterministic=True)
