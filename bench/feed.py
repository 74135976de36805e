"""Feed throughput: how fast the real server streams ``GET /contacts`` out of a large mirror,
against a floor (one plain SELECT serialised with orjson), and how much memory it takes.

    .venv/bin/python -m bench.feed                       # SQLite in a temp dir, N=100,000
    .venv/bin/python -m bench.feed --database-url postgresql://postgres@127.0.0.1:5432/bench_feed
    .venv/bin/python -m bench.feed --record-kb 20 --n 50000   # large records: memory

Steps: create a fresh database, store N realistic contacts through the real write API
(``Store.begin_run`` / ``RunWriter.apply_page`` in pages of 100), start ``change-proxy
serve`` as a child process, then time (best of ``--runs`` after a warm-up) an unpaged pull, a
paged pull (``limit`` + ``since``, as Sesam pages) and the floor, while sampling the server's
RSS. Prints a table and rewrites this backend's part of the ``## feed`` section of
``bench/RESULTS.md``. A runner for people: nothing here is a test, and no test asserts times.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil  # type: ignore[import-untyped]  # no stubs in the venv
import sqlalchemy as sa

from bench.common import (
    RESULTS,
    RESULTS_PREAMBLE,
    BenchDatabase,
    BenchError,
    OtherCpu,
    RssSampler,
    ServerProcess,
    command_line,
    create_database,
    get_section,
    git_revision,
    interrupt_on_sigterm,
    load_average,
    machine_line,
    postgres_backends,
    rebuild_section,
    replace_section,
    run_main,
    targets_table,
)
from bench.contacts import contacts, entity_ids
from proxy.api.slots import FEED_CONCURRENCY
from proxy.config import load_settings
from proxy.diff import prepare
from proxy.sources.hubspot import spec_for
from proxy.sources.hubspot.feed import fingerprinter_for
from proxy.store import Store, migrate
from proxy.store.record_text import SQL_FUNCTION, register

OBJECT_TYPE = "contacts"
INGEST_PAGE = 100
FLOOR_SQL = (
    "SELECT entity_id, change_seq, deleted, data FROM entities "
    "WHERE object_type = 'contacts' ORDER BY change_seq"
)
# SQLite stores large records compressed (proxy/store/record_text.py): the floor expands
# them too, to text, as the server must.
FLOOR_SQL_SQLITE = FLOOR_SQL.replace(
    "data FROM",
    f"CAST(CASE WHEN typeof(data) = 'blob' THEN {SQL_FUNCTION}(data) ELSE data END AS TEXT) FROM",
)

# The targets.
TARGET_RATE = 60_000  # entities/s, unpaged
TARGET_FLOOR_RATIO = 2.5  # floor rate / unpaged rate, at most
TARGET_PEAK_RSS = 150 * 10**6  # bytes (MB = 10^6 bytes), server peak during the unpaged pull

SECTION = "## feed"
BACKEND_HEADINGS = {"sqlite": "### SQLite", "postgresql": "### PostgreSQL"}
# Runs with --record-kb above 1 go to a subsection of their own, one sub-subsection a backend.
LARGE_HEADING = "### Large records"
LARGE_BACKEND_HEADINGS = {"sqlite": "#### SQLite", "postgresql": "#### PostgreSQL"}
LARGE_INTRO = f"""{LARGE_HEADING}

The same measurements on records of `--record-kb` KB (a contact padded with a few hundred
further properties from a portal's catalogue, as a pull of every property returns them;
`bench/contacts.py`), where what counts is the server's memory: a pull must not hold more
than a few batches, however large the records. Throughput is reported in MB/s; the
entities/s target applies to the ~1 KB records above only.
"""
FEED_INTRO = f"""{SECTION}

`GET /contacts` served by the real `change-proxy serve` process (sync disabled) out of a mirror
of N realistic HubSpot contacts (~1 KB of JSON each) stored through the real write API; the
client is aiohttp in the benchmark process on the same machine. Each figure is the best of 3
runs (`--runs`) after a warm-up. *unpaged*: one `GET /contacts`, timed from the request to the
last body byte. *paged*: `?limit=1000&since=<last _updated>` until an empty page, as Sesam
pages, timed as the sum of the requests (the client's parsing between requests left out; the
wall time with it is listed too). *floor*: the same rows read with one plain `SELECT` (stdlib
`sqlite3`, or asyncpg) and serialised with one `orjson.dumps` of the row list, in the
benchmark process. Every pull is verified untimed: N entities, each `_id` once, `_updated`
strictly ascending. Peak RSS is the server's, sampled every 20 ms. How to run:
`bench/README.md`.
"""


# --- results ----------------------------------------------------------------------------------


@dataclass
class Ingest:
    n: int
    pages: int
    seconds: float  # project code only: prepare + apply_page + completing the scan
    data_bytes: int  # total stored JSON
    page_seconds: list[float] = field(default_factory=list)  # per page, in order
    page_size: int = INGEST_PAGE

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    def decile_rates(self) -> tuple[float, float]:
        """Contacts/s over the first and the last tenth of the pages: a write path whose
        cost grows with the table shows up as a falling rate."""
        tenth = max(1, len(self.page_seconds) // 10)
        first, last = self.page_seconds[:tenth], self.page_seconds[-tenth:]
        return tenth * self.page_size / sum(first), tenth * self.page_size / sum(last)

    @property
    def mean_size(self) -> float:
        return self.data_bytes / self.n


@dataclass
class Pull:
    seconds: float  # request to last byte (summed over the requests when paged)
    body_bytes: int
    requests: int = 1
    wall_seconds: float = 0.0  # paged: including client-side parsing between requests
    parse_seconds: float = 0.0  # client orjson.loads, untimed for unpaged
    server_cpu_seconds: float = 0.0
    peak_rss: int = 0


@dataclass
class Concurrent:
    """Several unpaged pulls at once: more than the server lets stream at a time."""

    pulls: int
    slots: int
    seconds: float  # first request to last body byte
    peak_rss: int


@dataclass
class Floor:
    seconds: float
    out_bytes: int


@dataclass
class Target:
    name: str
    required: str
    measured: str
    passed: bool


@dataclass
class Report:
    backend: str
    database: str
    command: str
    n: int
    limit: int
    runs: int
    ingest: Ingest
    record_kb: int = 1
    feed_mean_size: float = 0.0
    load_before: str = ""  # load averages when the measurements began
    other_cpu: str = ""  # what the rest of the machine did meanwhile
    idle_rss: int = 0
    rss_after: int = 0
    warmup_peak_rss: int = 0
    concurrent: Concurrent | None = None
    unpaged: list[Pull] = field(default_factory=list)
    paged: list[Pull] = field(default_factory=list)
    floor: list[Floor] = field(default_factory=list)

    @staticmethod
    def _best_pull(pulls: list[Pull]) -> Pull:
        return min(pulls, key=lambda p: p.seconds)

    @property
    def best_unpaged(self) -> Pull:
        return self._best_pull(self.unpaged)

    @property
    def best_paged(self) -> Pull:
        return self._best_pull(self.paged)

    @property
    def best_floor(self) -> Floor:
        return min(self.floor, key=lambda f: f.seconds)

    def rate(self, seconds: float) -> float:
        return self.n / seconds

    @property
    def peak_rss(self) -> int:
        """The largest server RSS seen during any unpaged pull, the warm-up included."""
        return max([self.warmup_peak_rss, *(p.peak_rss for p in self.unpaged)])

    @property
    def large(self) -> bool:
        return self.record_kb > 1

    def targets(self) -> list[Target]:
        unpaged = self.rate(self.best_unpaged.seconds)
        ratio = self.rate(self.best_floor.seconds) / unpaged
        rss = Target(
            "server peak RSS during the unpaged pull",
            f"< {TARGET_PEAK_RSS / 10**6:.0f} MB",
            f"{_mb(self.peak_rss)} MB",
            self.peak_rss < TARGET_PEAK_RSS,
        )
        targets = [rss]
        if self.concurrent is not None:
            c = self.concurrent
            targets.append(
                Target(
                    f"server peak RSS during {c.pulls} unpaged pulls at once ({c.slots} stream, "
                    f"{c.pulls - c.slots} wait{'s' if c.pulls - c.slots == 1 else ''})",
                    f"< {TARGET_PEAK_RSS / 10**6:.0f} MB",
                    f"{_mb(c.peak_rss)} MB",
                    c.peak_rss < TARGET_PEAK_RSS,
                )
            )
        if self.large:
            return targets
        return [
            Target(
                "unpaged throughput",
                f"≥ {TARGET_RATE:,} entities/s",
                f"{unpaged:,.0f} entities/s",
                unpaged >= TARGET_RATE,
            ),
            Target(
                "unpaged vs floor (floor rate / unpaged rate)",
                f"≤ {TARGET_FLOOR_RATIO}x",
                f"{ratio:.2f}x",
                ratio <= TARGET_FLOOR_RATIO,
            ),
            *targets,
        ]


def _mb(n: int) -> str:
    return f"{n / 10**6:.1f}"


# --- step 2: the mirror -----------------------------------------------------------------------


async def ingest(url: str, n: int, record_kb: int = 1) -> Ingest:
    """N contacts through the project's real write path, pages of 100, one complete full
    scan; times only the project's code (generating the records is left out). Records are
    ~1 KB contacts, or with ``record_kb`` above 1 padded to about that many KB."""
    store = Store.open(url)
    try:
        await migrate.upgrade(store.engine)
        await store.changes.register_object_types([OBJECT_TYPE])
        # The fingerprints a sync under default settings stores, and their signature, so the
        # server does not recompute them when it starts (it would on a real upgrade).
        fingerprint = fingerprinter_for(load_settings(env={}), spec_for(OBJECT_TYPE))
        busy = 0.0
        created = 0
        page_seconds: list[float] = []
        started = time.perf_counter()
        scan = await store.begin_run(OBJECT_TYPE)
        busy += time.perf_counter() - started
        page: list[dict[str, Any]] = []
        record_bytes = record_kb * 1000 if record_kb > 1 else None
        for record in contacts(n, record_bytes=record_bytes):
            page.append(record)
            if len(page) < INGEST_PAGE:
                continue
            t0 = time.perf_counter()
            rows = prepare(page, fingerprint)
            result = await scan.apply_page(rows)
            page_seconds.append(time.perf_counter() - t0)
            created += result.created
            page = []
        if page:
            t0 = time.perf_counter()
            rows = prepare(page, fingerprint)
            result = await scan.apply_page(rows)
            page_seconds.append(time.perf_counter() - t0)
            created += result.created
        busy += sum(page_seconds)
        t0 = time.perf_counter()
        await scan.flush_sightings()
        await store.scans.complete(OBJECT_TYPE)  # the feed answers from here on
        await scan.finish("succeeded")
        busy += time.perf_counter() - t0
        await store.changes.refingerprint(OBJECT_TYPE, fingerprint, fingerprint.signature)
        if created != n:
            raise BenchError(f"ingest created {created} entities, expected {n}")
        data_bytes = await _stored_bytes(store)
        return Ingest(
            n=n,
            pages=len(page_seconds),
            seconds=busy,
            data_bytes=data_bytes,
            page_seconds=page_seconds,
        )
    finally:
        await store.close()


async def _stored_bytes(store: Store) -> int:
    """Total UTF-8 bytes of the stored JSON, as the database holds it."""
    length = (
        "length(CAST(data AS BLOB))"  # SQLite's length() of TEXT counts characters
        if store.engine.dialect.name == "sqlite"
        else "octet_length(data)"
    )
    async with store.engine.connect() as conn:
        total = await conn.scalar(
            sa.text(f"SELECT sum({length}) FROM entities WHERE object_type = :t"),
            {"t": OBJECT_TYPE},
        )
    return int(total or 0)


# --- step 4: the pulls ------------------------------------------------------------------------


async def _get(session: aiohttp.ClientSession, url: str) -> bytes:
    async with session.get(url) as resp:
        chunks = [chunk async for chunk in resp.content.iter_any()]
        body = b"".join(chunks)
        if resp.status != 200:
            raise BenchError(f"GET {url}: {resp.status} {body[:300]!r}")
        if not resp.headers.get("Content-Type", "").startswith("application/json"):
            raise BenchError(f"GET {url}: Content-Type {resp.headers.get('Content-Type')}")
        return body


def _verify(entities: Any, expected: Sequence[str], what: str) -> None:
    """Exactly the expected ids, each once, ``_updated`` strictly ascending."""
    if not isinstance(entities, list):
        raise BenchError(f"{what}: the body is not a JSON array")
    if len(entities) != len(expected):
        raise BenchError(f"{what}: {len(entities)} entities, expected {len(expected)}")
    ids = [e["_id"] for e in entities]
    if len(set(ids)) != len(ids) or set(ids) != set(expected):
        raise BenchError(f"{what}: the ids are not exactly the stored ones, each once")
    previous = 0
    for e in entities:
        if not isinstance(e["_updated"], int) or e["_updated"] <= previous:
            raise BenchError(f"{what}: _updated not strictly ascending at {e['_id']}")
        previous = e["_updated"]


async def pull_unpaged(
    session: aiohttp.ClientSession,
    server: ServerProcess,
    expected: Sequence[str],
    keep: list[bytes] | None = None,
) -> Pull:
    url = f"{server.base_url}/{OBJECT_TYPE}"
    cpu_before = server.process.cpu_times()
    with RssSampler(server.process) as rss:
        started = time.perf_counter()
        body = await _get(session, url)
        seconds = time.perf_counter() - started
    cpu_after = server.process.cpu_times()
    t0 = time.perf_counter()
    entities = orjson.loads(body)
    parse = time.perf_counter() - t0
    _verify(entities, expected, "unpaged pull")
    del entities
    if keep is not None:
        keep.append(body)
    return Pull(
        seconds=seconds,
        body_bytes=len(body),
        wall_seconds=seconds,
        parse_seconds=parse,
        server_cpu_seconds=(cpu_after.user + cpu_after.system)
        - (cpu_before.user + cpu_before.system),
        peak_rss=rss.peak,
    )


async def _digest(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    """(length, blake2b) of a 200 body, read as it streams in: several large bodies at once
    must not all sit in the benchmark's memory."""
    digest = hashlib.blake2b()
    size = 0
    async with session.get(url) as resp:
        if resp.status != 200:
            raise BenchError(f"GET {url}: {resp.status} {(await resp.read())[:300]!r}")
        async for chunk in resp.content.iter_any():
            digest.update(chunk)
            size += len(chunk)
    return size, digest.digest()


async def pull_concurrent(
    session: aiohttp.ClientSession, server: ServerProcess, pulls: int, reference: bytes
) -> Concurrent:
    """``pulls`` unpaged pulls at once, each verified byte for byte against ``reference``
    (a single pull's body: nothing writes meanwhile, so every pull must return it)."""
    url = f"{server.base_url}/{OBJECT_TYPE}"
    want = (len(reference), hashlib.blake2b(reference).digest())
    with RssSampler(server.process) as rss:
        started = time.perf_counter()
        bodies = await asyncio.gather(*(_digest(session, url) for _ in range(pulls)))
        seconds = time.perf_counter() - started
    if any(body != want for body in bodies):
        raise BenchError("concurrent pulls: a body differs from the single pull's")
    return Concurrent(pulls=pulls, slots=FEED_CONCURRENCY, seconds=seconds, peak_rss=rss.peak)


async def pull_paged(
    session: aiohttp.ClientSession, server: ServerProcess, expected: Sequence[str], limit: int
) -> Pull:
    """Sesam's paging: ``limit`` and the last page's last ``_updated`` as ``since``, until a
    page comes back empty."""
    seen: list[dict[str, Any]] = []
    since: int | None = None
    in_requests = parse = 0.0
    requests = body_bytes = 0
    cpu_before = server.process.cpu_times()
    with RssSampler(server.process) as rss:
        started = time.perf_counter()
        while True:
            url = f"{server.base_url}/{OBJECT_TYPE}?limit={limit}"
            if since is not None:
                url += f"&since={since}"
            t0 = time.perf_counter()
            body = await _get(session, url)
            t1 = time.perf_counter()
            page = orjson.loads(body)
            parse += time.perf_counter() - t1
            in_requests += t1 - t0
            requests += 1
            body_bytes += len(body)
            if not isinstance(page, list):
                raise BenchError(f"GET {url}: not a JSON array")
            if not page:
                break
            if len(page) > limit:
                raise BenchError(f"GET {url}: {len(page)} entities, more than limit={limit}")
            seen.extend(page)
            since = int(page[-1]["_updated"])
        wall = time.perf_counter() - started
    cpu_after = server.process.cpu_times()
    _verify(seen, expected, "paged pull")
    return Pull(
        seconds=in_requests,
        body_bytes=body_bytes,
        requests=requests,
        wall_seconds=wall,
        parse_seconds=parse,
        server_cpu_seconds=(cpu_after.user + cpu_after.system)
        - (cpu_before.user + cpu_before.system),
        peak_rss=rss.peak,
    )


class FloorConnection:
    """The floor's own connection, opened once (outside the timed part): stdlib ``sqlite3``
    for SQLite, plain asyncpg for Postgres. No SQLAlchemy, no pool."""

    def __init__(self, sqlite: sqlite3.Connection | None, pg: Any | None) -> None:
        self.sqlite = sqlite
        self.pg = pg

    async def fetch_dump(self) -> tuple[int, bytes]:
        """The timed part: one SELECT of every feed row, then one ``orjson.dumps``."""
        if self.sqlite is not None:
            rows = self.sqlite.execute(FLOOR_SQL_SQLITE).fetchall()
        elif self.pg is not None:
            rows = [tuple(r) for r in await self.pg.fetch(FLOOR_SQL)]
        else:
            raise BenchError("the floor connection is closed")
        return len(rows), orjson.dumps(rows)

    async def close(self) -> None:
        if self.sqlite is not None:
            self.sqlite.close()
        if self.pg is not None:
            await self.pg.close()


async def _floor_connect(db: BenchDatabase) -> FloorConnection:
    if db.backend == "sqlite":
        assert db.sqlite_path is not None
        conn = sqlite3.connect(db.sqlite_path)
        register(conn)
        return FloorConnection(conn, None)
    import asyncpg  # type: ignore[import-untyped]

    return FloorConnection(None, await asyncpg.connect(db.url))


async def floor_once(conn: FloorConnection, n: int) -> Floor:
    """One plain SELECT of the feed's rows, serialised into one buffer by orjson."""
    t0 = time.perf_counter()
    count, out = await conn.fetch_dump()
    seconds = time.perf_counter() - t0
    if count != n:
        raise BenchError(f"floor: {count} rows, expected {n}")
    return Floor(seconds=seconds, out_bytes=len(out))


async def measure(
    report: Report, db: BenchDatabase, server: ServerProcess, *, runs: int, limit: int
) -> None:
    expected = entity_ids(report.n)
    await server.wait_ready(OBJECT_TYPE)
    report.load_before = load_average()
    pg_name = db.pg_name
    find_own = (lambda: postgres_backends(pg_name)) if pg_name is not None else None
    floor_conn = await _floor_connect(db)
    try:
        with OtherCpu(psutil.Process(), server.process, find_own=find_own) as other:
            await _measure(report, db, server, expected, floor_conn, runs=runs, limit=limit)
    finally:
        await floor_conn.close()
    report.other_cpu = other.describe()


async def _measure(
    report: Report,
    db: BenchDatabase,
    server: ServerProcess,
    expected: Sequence[str],
    floor_conn: FloorConnection,
    *,
    runs: int,
    limit: int,
) -> None:
    timeout = aiohttp.ClientTimeout(total=600, sock_read=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        report.idle_rss = server.process.memory_info().rss
        reference: list[bytes] = []
        warm = await pull_unpaged(session, server, expected, keep=reference)
        report.warmup_peak_rss = warm.peak_rss
        report.feed_mean_size = warm.body_bytes / report.n
        for i in range(runs):
            pull = await pull_unpaged(session, server, expected)
            report.unpaged.append(pull)
            _progress(f"unpaged {i + 1}/{runs}: {pull.seconds:.2f} s")
        await pull_paged(session, server, expected, limit)
        for i in range(runs):
            pull = await pull_paged(session, server, expected, limit)
            report.paged.append(pull)
            _progress(f"paged {i + 1}/{runs}: {pull.seconds:.2f} s in {pull.requests} requests")
        report.rss_after = server.process.memory_info().rss
        # Last: the memory a process takes for several pulls at once is not all given back
        # to the system afterwards, and would show in the figures above.
        report.concurrent = await pull_concurrent(
            session, server, FEED_CONCURRENCY + 1, reference.pop()
        )
        _progress(
            f"{report.concurrent.pulls} unpaged pulls at once: "
            f"{report.concurrent.seconds:.2f} s, peak RSS {_mb(report.concurrent.peak_rss)} MB"
        )
    await floor_once(floor_conn, report.n)
    for i in range(runs):
        await asyncio.sleep(0)  # the SQLite floor never awaits: let a Ctrl-C cancel us here
        floor = await floor_once(floor_conn, report.n)
        report.floor.append(floor)
        _progress(f"floor {i + 1}/{runs}: {floor.seconds:.2f} s")


# --- output -----------------------------------------------------------------------------------


def _progress(message: str) -> None:
    print(f"[bench.feed] {message}", file=sys.stderr, flush=True)


def _rows(report: Report) -> list[tuple[str, str, str, str]]:
    """(measure, time, rate, floor ratio) for the printed and the written table; the rate is
    entities/s, or MB/s of feed JSON for large records."""
    unpaged, paged, floor = report.best_unpaged, report.best_paged, report.best_floor

    def rate(seconds: float) -> str:
        if report.large:
            return f"{report.n * report.feed_mean_size / 10**6 / seconds:,.0f}"
        return f"{report.rate(seconds):,.0f}"

    def ratio(seconds: float) -> str:
        return f"{seconds / floor.seconds:.2f}x"

    return [
        (
            "unpaged `GET /contacts`",
            f"{unpaged.seconds:.2f} s",
            rate(unpaged.seconds),
            ratio(unpaged.seconds),
        ),
        (
            f"paged `?limit={report.limit}&since=…` ({paged.requests} requests)",
            f"{paged.seconds:.2f} s",
            rate(paged.seconds),
            ratio(paged.seconds),
        ),
        (
            "floor: one `SELECT` + `orjson.dumps`",
            f"{floor.seconds:.2f} s",
            rate(floor.seconds),
            "1.00x",
        ),
    ]


def _details(report: Report) -> list[str]:
    unpaged, paged = report.best_unpaged, report.best_paged
    first_tenth, last_tenth = report.ingest.decile_rates()
    return [
        f"ingest (extra): {report.n:,} contacts in {report.ingest.pages:,} pages of "
        f"{INGEST_PAGE} through `RunWriter.apply_page`, then the scan marked complete: "
        f"{report.ingest.seconds:.1f} s, {report.ingest.rate:,.0f} contacts/s "
        f"({first_tenth:,.0f}/s over the first tenth of the pages, {last_tenth:,.0f}/s over "
        "the last)",
        f"unpaged, best run: {unpaged.body_bytes / 10**6:.1f} MB body "
        f"({unpaged.body_bytes / 10**6 / unpaged.seconds:.0f} MB/s); server CPU "
        f"{unpaged.server_cpu_seconds:.2f} s of {unpaged.seconds:.2f} s wall; client "
        f"`orjson.loads` of the body {unpaged.parse_seconds:.2f} s (not timed)",
        f"paged, best run: wall time including the client's parsing between requests "
        f"{paged.wall_seconds:.2f} s ({report.rate(paged.wall_seconds):,.0f} entities/s); "
        f"server CPU {paged.server_cpu_seconds:.2f} s",
        f"server RSS: idle {_mb(report.idle_rss)} MB before the first pull; peak "
        f"{_mb(report.peak_rss)} MB over the unpaged pulls (warm-up included; measured runs "
        + ", ".join(_mb(p.peak_rss) for p in report.unpaged)
        + f" MB); peak {_mb(max(p.peak_rss for p in report.paged))} MB during the paged pulls; "
        f"{_mb(report.rss_after)} MB after them",
        *(
            [
                f"{c.pulls} unpaged pulls at once (the server streams {c.slots}, the rest wait "
                f"for a slot): {c.seconds:.2f} s from the first request to the last byte, "
                f"every body identical to the single pull's; server peak RSS {_mb(c.peak_rss)} MB"
            ]
            if (c := report.concurrent) is not None
            else []
        ),
        "all runs (s): unpaged "
        + ", ".join(f"{p.seconds:.2f}" for p in report.unpaged)
        + "; paged "
        + ", ".join(f"{p.seconds:.2f}" for p in report.paged)
        + "; floor "
        + ", ".join(f"{f.seconds:.2f}" for f in report.floor),
    ]


def print_report(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    size = f", {report.record_kb} KB records" if report.large else ""
    table = Table(title=f"feed, {report.database}, N={report.n:,}{size}")
    for column in ("measure", "time", _rate_unit(report), "floor ratio"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for row in _rows(report):
        table.add_row(*(cell.replace("`", "") for cell in row))
    console.print(table)
    targets = Table(title="targets")
    for column in ("target", "required", "measured", "result"):
        targets.add_column(column)
    for t in report.targets():
        verdict = "[green]PASS[/green]" if t.passed else "[red]FAIL[/red]"
        targets.add_row(t.name, t.required, t.measured, verdict)
    console.print(targets)
    console.print(
        f"mean entity size: {report.ingest.mean_size:,.0f} B stored, "
        f"{report.feed_mean_size:,.0f} B in the feed"
    )
    for line in _details(report):
        console.print(line.replace("`", ""), highlight=False)


def _rate_unit(report: Report) -> str:
    return "MB/s" if report.large else "entities/s"


def _heading(report: Report) -> str:
    return (LARGE_BACKEND_HEADINGS if report.large else BACKEND_HEADINGS)[report.backend]


def backend_section(report: Report, when: datetime) -> str:
    heading = _heading(report)
    lines = [
        heading,
        "",
        f"- command: `{report.command}`",
        f"- run: {when:%Y-%m-%d %H:%M} UTC, commit {git_revision()}; load average "
        f"{report.load_before} when the measurements began; {report.other_cpu}",
        f"- machine: {machine_line()}",
        f"- database: {report.database}",
        f"- N = {report.n:,} contacts; mean entity size {report.ingest.mean_size:,.0f} B of "
        f"stored JSON ({report.feed_mean_size:,.0f} B per feed entity with `_id`, `_updated`, "
        "`_deleted`)",
        "",
        f"| measure (best of {report.runs}) | time | {_rate_unit(report)} "
        "| floor rate / this rate |",
        "| --- | ---: | ---: | ---: |",
        *(f"| {' | '.join(row)} |" for row in _rows(report)),
        "",
        *targets_table((t.name, t.required, t.measured, t.passed) for t in report.targets()),
        "",
        *(f"- {line}" for line in _details(report)),
    ]
    return "\n".join(lines) + "\n"


def write_results(path: Path, report: Report, when: datetime) -> None:
    """Replace this run's subsection of ``## feed`` (its backend's, among the ~1 KB runs or
    under ``### Large records``); leave everything else as it is."""
    text = path.read_text() if path.exists() else RESULTS_PREAMBLE
    old = get_section(text, SECTION)
    old_large = get_section(old, LARGE_HEADING) if old is not None else None
    mine = {_heading(report): backend_section(report, when)}
    large = rebuild_section(
        LARGE_INTRO,
        old_large,
        list(LARGE_BACKEND_HEADINGS.values()),
        mine if report.large else {},
    )
    # The small-record backend headings (###) end at the large subsection's heading, so the
    # large runs are read separately above and always written last.
    section = rebuild_section(
        FEED_INTRO, old, list(BACKEND_HEADINGS.values()), {} if report.large else mine
    )
    if report.large or old_large is not None:
        section = replace_section(section, LARGE_HEADING, large)
    path.write_text(replace_section(text, SECTION, section))


# --- main -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.feed", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--n", type=int, default=100_000, help="contacts to store (100000)")
    parser.add_argument(
        "--database-url",
        help="where to build the mirror: default a SQLite file in a temp dir; "
        "sqlite:///PATH (must not exist) or postgresql://user@host:port/NAME (NAME must not "
        "exist; created, then dropped)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (bench/RESULTS.md)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per figure (3)")
    parser.add_argument("--limit", type=int, default=1000, help="page size of the paged pull")
    parser.add_argument(
        "--record-kb",
        type=int,
        default=1,
        help="record size: 1 (default) stores ~1 KB contacts; more pads each to about that "
        "many KB with further properties (results go under '### Large records')",
    )
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM cleans up like Ctrl-C does: stop the server, drop the database.
    interrupt_on_sigterm()
    argv_list = list(sys.argv[1:] if argv is None else argv)
    if min(args.n, args.runs, args.limit, args.record_kb) < 1:
        print("bench.feed: --n, --runs, --limit and --record-kb must be positive", file=sys.stderr)
        return 2
    started = time.perf_counter()
    when = datetime.now(UTC)
    db = create_database(args.database_url, prefix="bench-feed", keep=args.keep_db)
    if db is None:
        return 2
    try:
        database = db.describe()
        size = f" of ~{args.record_kb} KB" if args.record_kb > 1 else ""
        _progress(f"storing {args.n:,} contacts{size} in {database} ...")
        stored = asyncio.run(ingest(db.url, args.n, args.record_kb))
        _progress(f"stored in {stored.seconds:.1f} s ({stored.rate:,.0f}/s); starting the server")
        report = Report(
            backend=db.backend,
            database=database,
            command=command_line("bench.feed", argv_list),
            n=args.n,
            limit=args.limit,
            runs=args.runs,
            ingest=stored,
            record_kb=args.record_kb,
        )
        with ServerProcess(db.url, db.workdir / "server.log") as server:
            try:
                asyncio.run(measure(report, db, server, runs=args.runs, limit=args.limit))
            except BaseException as exc:
                if not isinstance(exc, BenchError):  # a BenchError carries the tail already
                    print(f"server log tail:\n{server.log_tail()}", file=sys.stderr)
                raise
    except BenchError as exc:
        print(f"bench.feed: {exc}", file=sys.stderr)
        return 1
    finally:
        db.drop()
    print_report(report)
    write_results(args.out, report, when)
    _progress(f"wrote {args.out}; total {time.perf_counter() - started:.0f} s")
    if args.check and not all(t.passed for t in report.targets()):
        return 1
    return 0


if __name__ == "__main__":
    run_main(main, "bench.feed", "server stopped, database removed")
