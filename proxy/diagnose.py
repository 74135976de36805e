"""Failures at start, said in one or two lines that name the setting and the fix.

A wrong ``DATABASE_URL``, a database that is down, a port in use: each surfaces as a chain
of library exceptions some hundred lines long, with the useful line buried. This module
finds the cause in the chain and says what to do; the CLI prints that, with the traceback
only at ``LOG_LEVEL=DEBUG``. Configuration mistakes exit 2, trouble at run time exits 1.
"""

from __future__ import annotations

import errno
import socket
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from proxy.errors import ConfigError

CONFIGURATION, RUNTIME = 2, 1


@dataclass(frozen=True)
class Diagnosis:
    message: str
    exit_code: int


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and every cause and context behind it (and a DBAPI error's
    original), each once."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nxt in (
            getattr(current, "orig", None),
            current.__cause__,
            current.__context__,
            *(current.exceptions if isinstance(current, BaseExceptionGroup) else ()),
        ):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def _where(database_url: str) -> tuple[str, str, str]:
    """(host:port, database, user) of a database URL, for messages (never the password)."""
    try:
        url = make_url(database_url)
    except sa.exc.ArgumentError:
        return "?", "?", "?"
    if url.get_backend_name() == "sqlite":
        return "", url.database or "", ""
    return f"{url.host or 'localhost'}:{url.port or 5432}", url.database or "", url.username or ""


def diagnose(exc: BaseException, database_url: str, host: str, port: int) -> Diagnosis | None:
    """What went wrong and what to do, if the cause is one a user can meet at start."""
    address, database, user = _where(database_url)
    for cause in _chain(exc):
        name = type(cause).__name__
        text = str(cause)
        if name == "InvalidCatalogNameError":  # asyncpg: the database does not exist
            return Diagnosis(
                f"DATABASE_URL: database {database!r} does not exist on {address}; create it "
                f'(CREATE DATABASE "{database}") or name an existing one',
                CONFIGURATION,
            )
        if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
            return Diagnosis(
                f"DATABASE_URL: {address} refused user {user!r} ({text}); check the user and "
                "password in the URL",
                CONFIGURATION,
            )
        if "rejected SSL upgrade" in text:
            return Diagnosis(
                f"DATABASE_URL: the server at {address} does not offer TLS, but the URL asks "
                "for it (sslmode); enable TLS on the server or use sslmode=prefer",
                CONFIGURATION,
            )
        if isinstance(cause, socket.gaierror):
            return Diagnosis(
                f"DATABASE_URL: cannot resolve the host of {address}; check the host name",
                CONFIGURATION,
            )
        if isinstance(cause, sqlite3.OperationalError) and "unable to open" in text:
            return Diagnosis(
                f"DATABASE_URL: cannot open the SQLite file {database}: its directory does "
                "not exist or is not writable; create the directory or point the URL elsewhere",
                CONFIGURATION,
            )
        if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
            return Diagnosis(
                f"PORT: {host}:{port} is already in use by another process; stop it or "
                "choose another PORT",
                CONFIGURATION,
            )
        if isinstance(cause, OSError) and cause.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
            return Diagnosis(
                f"HOST/PORT: cannot listen on {host}:{port} ({cause.strerror}); use an address "
                "of this machine (0.0.0.0 for all) and a port above 1023",
                CONFIGURATION,
            )
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return Diagnosis(
                f"DATABASE_URL: nothing answers at {address} (connection refused); start the "
                "database there, or fix the host and port in the URL",
                RUNTIME,
            )
        if isinstance(cause, TimeoutError) and address:
            return Diagnosis(
                f"DATABASE_URL: {address} did not answer in time; check that the database "
                "runs and that a firewall lets this machine through",
                RUNTIME,
            )
    return None


def check_can_listen(host: str, port: int) -> None:
    """Bind HOST:PORT as the server will (every address HOST resolves to, with
    SO_REUSEADDR as aiohttp sets it) and let go at once: a port in use, or an address
    not of this machine, stops the start before any database is created or migrated.
    Raises :class:`ConfigError` naming the setting."""
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ConfigError(f"HOST: cannot resolve {host!r} ({exc.strerror})") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # as asyncio binds it: IPv6 only
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                found = diagnose(exc, "", host, port)
                raise ConfigError(
                    found.message
                    if found
                    else f"HOST/PORT: cannot listen on {host}:{port} ({exc.strerror})"
                ) from None
