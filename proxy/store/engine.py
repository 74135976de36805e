"""Engine creation: plain URLs in, async drivers out, SQLite tuned for one writer."""

from __future__ import annotations

import ssl
import weakref
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from proxy.errors import ConfigError

# Execution option that makes a SQLite transaction take the write lock at BEGIN. Writers use
# it so two writers never both read the sequence counter and then fight over the upgrade to a
# write lock (SQLITE_BUSY); readers keep deferred BEGINs and, under WAL, never block.
SQLITE_BEGIN_IMMEDIATE = "sqlite_begin_immediate"

# FULL: a commit is on disk before it returns, so after a power loss or an OS crash no
# change number that a reader may have seen can be handed out again (NORMAL, with WAL, may
# roll back the last commits). What it costs is measured by bench.sync, which compares a
# full sync with NORMAL by setting this.
SQLITE_SYNCHRONOUS = "FULL"


def to_async_url(url: str) -> sa.URL:
    """Map the plain URLs users write to the async drivers this service runs on:
    ``sqlite:///x.db`` -> aiosqlite, ``postgresql://`` (or ``postgres://``) -> asyncpg."""
    if url.startswith("postgres://"):  # Heroku-style alias
        url = "postgresql://" + url[len("postgres://") :]
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError("DATABASE_URL: not a database URL") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigError("DATABASE_URL: SQLite needs a file path, e.g. sqlite:///mirror.db")
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg")
    raise ConfigError(f"DATABASE_URL: unsupported database {backend!r} (use sqlite or postgresql)")


# libpq's connection parameters (what managed Postgres services document) that asyncpg
# takes under other names, or not in the URL at all.
# No statement on Postgres waits longer than this (asyncpg cancels it on the server): a call
# that hangs (a lock never granted, a peer gone silent) fails its run instead of holding it,
# and the locks it took, for ever. The longest legitimate statements (ANALYZE of a large
# mirror, a migration's index build on millions of rows) take seconds to a minute.
STATEMENT_TIMEOUT_S = 300.0

_SSL_PARAMS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword")
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def postgres_connect_args(url: sa.URL) -> tuple[sa.URL, dict[str, Any]]:
    """``url`` without the libpq parameters asyncpg does not take in a URL, and the keyword
    arguments that say the same to ``asyncpg.connect``: ``sslmode`` and the certificate
    files become its ``ssl`` (a mode, or an SSL context when certificates are named),
    ``connect_timeout`` its ``timeout``, ``application_name`` a server setting."""
    query = dict(url.query)
    args: dict[str, Any] = {}
    if "connect_timeout" in query:
        try:
            args["timeout"] = float(str(query.pop("connect_timeout")))
        except ValueError:
            raise ConfigError("DATABASE_URL: connect_timeout must be a number of seconds") from None
    if "application_name" in query:
        args["server_settings"] = {"application_name": str(query.pop("application_name"))}
    given = {name: str(query.pop(name)) for name in _SSL_PARAMS if name in query}
    if given:
        args["ssl"] = _ssl_argument(given)
    return url.set(query=query), args


def _ssl_argument(given: dict[str, str]) -> str | ssl.SSLContext:
    mode = given.get("sslmode", "prefer")
    if mode not in _SSL_MODES:
        raise ConfigError(f"DATABASE_URL: sslmode must be one of {', '.join(_SSL_MODES)}")
    root, cert = given.get("sslrootcert"), given.get("sslcert")
    if mode == "disable" or (root is None and cert is None):
        return mode
    # As libpq: a root certificate makes "require" verify the server's certificate chain;
    # "verify-full" checks the host name too.
    context = ssl.create_default_context(cafile=root)
    context.check_hostname = mode == "verify-full"
    if root is None and mode in ("allow", "prefer", "require"):
        context.verify_mode = ssl.CERT_NONE
    if cert is not None:
        context.load_cert_chain(cert, given.get("sslkey"), given.get("sslpassword"))
    return context


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None for other databases): commands that only read
    check it exists, since opening a missing SQLite file creates it."""
    async_url = to_async_url(url)
    if async_url.get_backend_name() != "sqlite" or not async_url.database:
        return None
    return Path(async_url.database)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url``. On SQLite: WAL (readers never block the writer), a busy
    timeout instead of immediate SQLITE_BUSY, and explicit BEGINs so writers can ask for
    ``BEGIN IMMEDIATE``. On Postgres, libpq-style parameters (``sslmode``, …) work."""
    async_url = to_async_url(url)
    if async_url.get_backend_name() == "sqlite":
        engine = create_async_engine(async_url, **kwargs)
        _configure_sqlite(engine.sync_engine)
        return engine
    async_url, connect_args = postgres_connect_args(async_url)
    connect_args.setdefault("command_timeout", STATEMENT_TIMEOUT_S)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs["connect_args"] = {**connect_args, **kwargs.get("connect_args", {})}
    engine = create_async_engine(async_url, **kwargs)
    _CONNECT_ARGS[engine] = kwargs["connect_args"]
    return engine


# What each engine passes asyncpg besides its URL, for connections opened beside it (the
# feed's own): the same TLS and timeouts.
_CONNECT_ARGS: weakref.WeakKeyDictionary[AsyncEngine, dict[str, Any]] = weakref.WeakKeyDictionary()


def connect_args(engine: AsyncEngine) -> dict[str, Any]:
    """The keyword arguments for ``asyncpg.connect`` that ``engine`` uses (Postgres)."""
    return dict(_CONNECT_ARGS.get(engine, {}))


def create_sqlite_writer(engine: AsyncEngine) -> sa.Engine:
    """A synchronous engine on the same SQLite file, for the store's single writer thread
    (stdlib sqlite3, configured like the async engine)."""
    writer = sa.create_engine(engine.url.set(drivername="sqlite+pysqlite"), pool_size=1)
    _configure_sqlite(writer)
    return writer


def _configure_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit BEGIN would ignore our begin mode; we emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # A contact's JSON is 1-3 KB: with 8 KB pages most rows fit a page with room to
        # spare instead of taking a 4 KB page each (measured: a third smaller, faster
        # inserts). Takes effect only on a new, empty file, so it must come before WAL.
        cursor.execute("PRAGMA page_size=8192")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get(SQLITE_BEGIN_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"
