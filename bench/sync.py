"""Sync throughput: how fast a full sync ingests contacts from the HubSpot simulator, how
much memory it takes, how many requests it spends, and how close it paces to a rate limit.

    .venv/bin/python -m bench.sync                        # N=100,000, N_limited=20,000, ~5 min
    .venv/bin/python -m bench.sync --n 20000 --n-limited 5000 --repeats 1 --out /tmp/RESULTS.md

The simulator runs as its own process (``python -m proxy.simulator``), so it does not share
an event loop with the proxy; the sync runs in this process exactly as ``change-proxy sync
--full`` runs it (``Store.open`` → ``migrate.upgrade`` → ``build_sources`` →
``SyncRunner.run``) on a fresh SQLite file in a temp dir, while a thread samples this
process's RSS every 20 ms. Figures (1, 2 and the floor: best of ``--repeats`` runs, each on a
fresh database):

1. a full sync of N contacts without rate limits: contacts/s, peak RSS, the same with SQLite
   ``synchronous=NORMAL``, requests vs issue 8's floor ceil(N/100) + 1 (≤ 2.2x: the listing
   plus a batch read of every page);
2. a second full sync on the same database (nothing changed): contacts/s, requests vs the
   same floor (≤ 1.2x: the listing only);
3. a full sync of N_limited contacts from a fresh simulator that allows 100 requests per 10 s:
   wall time vs its requests at 10/s (pacing) and vs issue 3's floor ceil(N/100) at 10/s,
   then a rescan of it with nothing changed, and the 429s the simulator answered;

plus a raw-fetch floor for (1): the same requests (property call, listings of ids and
modification times, batch reads of every id with every property) sent one at a time by a
bare aiohttp client that only reads the bodies; the time of its property call and listings is
the floor for (2). Prints a table and rewrites the ``## sync`` section of ``bench/RESULTS.md``.
A runner for people: nothing here is a test, and no test asserts times.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import logging
import math
import os
import pstats
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil  # type: ignore[import-untyped]  # no stubs in the venv

from bench.common import (
    RESULTS,
    RESULTS_PREAMBLE,
    BenchError,
    RssSampler,
    SimulatorProcess,
    bench_settings,
    command_line,
    git_revision,
    machine_line,
    replace_section,
    request_delta,
)
from proxy.config import Settings
from proxy.sources.configured import build_sources
from proxy.sources.http import source_session
from proxy.sources.hubspot.client import BATCH_READ_SIZE, LIST_PAGE_SIZE
from proxy.store import Store, migrate
from proxy.store import engine as engine_module
from proxy.sync import FULL, RunOutcome, SyncRunner

OBJECT_TYPE = "contacts"
SECTION = "## sync"
SIM_TOKEN = "bench-sync-token"
MODIFIED_PROPERTY = "lastmodifieddate"  # the only property a listing names (list_stamps)
LIMITED_PER_10S = 100
LIMIT_WINDOW_S = 10
SIM_START_TIMEOUT_S = 120.0

# The targets.
TARGET_INGEST_RATE = 5_000  # contacts/s, full sync of N, no rate limit
TARGET_PEAK_RSS = 250 * 10**6  # bytes (MB = 10^6 bytes), benchmark process during that sync
TARGET_RESCAN_RATE = 15_000  # contacts/s, full sync again with no change
TARGET_LIMITED_RATIO = 1.15  # wall time / (requests made at 10/s) under 100 requests per 10 s
TARGET_LIMITED_429 = 0
# Issue 8's request targets, against ceil(N/100) + the property call: an initial sync lists
# and batch-reads every page (~2x), a rescan with nothing changed only lists (~1x).
TARGET_REQUESTS_INITIAL = 2.2
TARGET_REQUESTS_RESCAN = 1.2


# --- the simulator process ---------------------------------------------------------------------


@contextlib.contextmanager
def simulator(
    contacts: int, workdir: Path, *, rate_limit_per_10s: int | None = None
) -> Iterator[tuple[SimulatorProcess, float]]:
    """The simulator with ``contacts`` contacts, and the seconds it took to start."""
    name = f"simulator-{contacts}-{rate_limit_per_10s or 'unlimited'}.log"
    args = ["--contacts", str(contacts)]
    if rate_limit_per_10s is not None:
        args += ["--rate-limit-per-10s", str(rate_limit_per_10s)]
    began = time.monotonic()
    with SimulatorProcess(workdir / name, token=SIM_TOKEN, args=args) as sim:
        sim.wait_listening(SIM_START_TIMEOUT_S)
        yield sim, time.monotonic() - began


async def sim_stats(sim: SimulatorProcess) -> dict[str, Any]:
    """The simulator's ``/_sim/stats``, over a session of its own."""
    async with aiohttp.ClientSession() as session:
        return await sim.stats(session)


# --- the proxy side ----------------------------------------------------------------------------


def proxy_settings(
    base_url: str, database_url: str, *, per_10s: int, search_per_s: int
) -> Settings:
    return bench_settings(
        HUBSPOT_ACCESS_TOKEN=SIM_TOKEN,
        HUBSPOT_BASE_URL=base_url,
        DATABASE_URL=database_url,
        OBJECT_TYPES=OBJECT_TYPE,
        HUBSPOT_REQUESTS_PER_10S=str(per_10s),
        HUBSPOT_SEARCH_PER_SECOND=str(search_per_s),
    )


@dataclass
class SyncFigure:
    """One timed full sync."""

    outcome: RunOutcome
    seconds: float
    rss_before: int
    rss_peak: int
    sim_requests: dict[str, int] = field(default_factory=dict)
    cpu_s: float = 0.0  # this process's CPU time (user + system) during the sync
    sim_cpu_s: float = 0.0  # the simulator's
    main_cpu_s: float = 0.0  # of cpu_s, the event loop's thread (the rest: database, sampler)

    @property
    def rate(self) -> float:
        return self.outcome.counts.fetched / self.seconds


async def open_store(database_url: str) -> Store:
    store = Store.open(database_url)
    await migrate.upgrade(store.engine)
    await store.changes.register_object_types([OBJECT_TYPE])
    return store


async def run_full_sync(
    store: Store, settings: Settings, profile: cProfile.Profile | None
) -> tuple[RunOutcome, float]:
    """One full sync, as ``change-proxy sync --full`` runs it (a fresh session and client)."""
    async with source_session() as session:
        runner = SyncRunner(store, build_sources(settings, session).feeds, settings)
        await runner.prepare_fingerprints(OBJECT_TYPE)  # as `change-proxy sync` does
        if profile is not None:
            profile.enable()
        try:
            started = time.perf_counter()
            outcome = await runner.run(OBJECT_TYPE, FULL, trigger="bench")
            seconds = time.perf_counter() - started
        finally:
            if profile is not None:
                profile.disable()
    return outcome, seconds


def timed_sync(
    database_url: str,
    settings: Settings,
    sim: SimulatorProcess,
    *,
    profile: cProfile.Profile | None = None,
) -> SyncFigure:
    """Open the store, then time one full sync while sampling this process's RSS."""

    async def go() -> SyncFigure:
        store = await open_store(database_url)
        try:
            before = await sim_stats(sim)
            me = psutil.Process()
            rss_before = me.memory_info().rss
            cpu_before, sim_cpu_before = _cpu(me), _cpu(sim.process)
            main_before = _thread_cpu(me, threading.get_native_id())
            with RssSampler(me) as sampler:
                outcome, seconds = await run_full_sync(store, settings, profile)
            cpu, sim_cpu = _cpu(me) - cpu_before, _cpu(sim.process) - sim_cpu_before
            main_cpu = _thread_cpu(me, threading.get_native_id()) - main_before
            after = await sim_stats(sim)
        finally:
            await store.close()
        return SyncFigure(
            outcome,
            seconds,
            rss_before,
            sampler.peak,
            request_delta(before, after),
            cpu_s=cpu,
            sim_cpu_s=sim_cpu,
            main_cpu_s=main_cpu,
        )

    return asyncio.run(go())


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _thread_cpu(process: psutil.Process, native_id: int) -> float:
    for thread in process.threads():
        if thread.id == native_id:
            return float(thread.user_time + thread.system_time)
    return 0.0


def check_outcome(figure: SyncFigure, *, fetched: int, created: int, unchanged: int) -> None:
    counts = figure.outcome.counts
    if not figure.outcome.succeeded:
        raise BenchError(f"the sync failed: {figure.outcome.error}")
    got = (counts.fetched, counts.created, counts.updated, counts.deleted, counts.unchanged)
    want = (fetched, created, 0, 0, unchanged)
    if got != want:
        raise BenchError(
            f"unexpected counts (fetched, created, updated, deleted, unchanged): {got}, "
            f"expected {want}"
        )


def count_entities(sqlite_path: Path) -> int:
    with contextlib.closing(sqlite3.connect(sqlite_path)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM entities WHERE object_type = ? AND NOT deleted", (OBJECT_TYPE,)
        ).fetchone()
    return int(row[0])


# --- the raw-fetch floor -----------------------------------------------------------------------


@dataclass
class FetchFloor:
    seconds: float  # fetch only: read every body
    parse_seconds: float  # the same, plus orjson.loads of every body
    requests: int
    contacts: int
    body_bytes: int
    properties: int
    sim_cpu_s: float = 0.0  # the simulator's CPU time during the fetch-only pass
    listing_seconds: float = 0.0  # of ``seconds``: the property call and the listings
    list_requests: int = 0
    batch_reads: int = 0
    batch_bytes: int = 0  # of ``body_bytes``: the batch read answers

    @property
    def rate(self) -> float:
        return self.contacts / self.seconds

    @property
    def parse_rate(self) -> float:
        return self.contacts / self.parse_seconds

    @property
    def listing_rate(self) -> float:
        """Contacts per second of the requests a no-change rescan sends (no batch reads)."""
        return self.contacts / self.listing_seconds


def _next_cursor(body: bytes) -> str | None:
    """The list page's ``paging.next.after`` without parsing the page: the simulator (like
    HubSpot) puts ``paging`` after ``results``, so the cursor is the last ``"after":"…"``."""
    marker = b'"after":"'
    at = body.rfind(marker)
    if at < 0:
        return None
    start = at + len(marker)
    return body[start : body.index(b'"', start)].decode()


# A listed record's own id: ``"id":"…"`` (its properties hold ``"hs_object_id":"…"``, which
# this does not match: the quote before ``id`` is required).
_LISTED_ID = re.compile(rb'"id":"([^"]+)"')


async def raw_fetch(base_url: str, *, parse: bool) -> FetchFloor:
    """The requests a first full sync makes, in its order: the property call; the live
    listing of ids and modification times (``properties=lastmodifieddate``), each page
    followed by the batch read of its ids with every property in the body; the archived
    listing (nothing archived: nothing to fetch). One request at a time over one keep-alive
    connection, bodies read and dropped; the listed ids are picked out of the listing's bytes
    (``parse``: every body also goes through ``orjson.loads``, and the ids come from the
    parsed listing). No pacing, no diffing, no database."""
    headers = {"Authorization": f"Bearer {SIM_TOKEN}", "Accept": "application/json"}
    post_headers = {**headers, "Content-Type": "application/json"}
    path = f"{base_url}/crm/v3/objects/{OBJECT_TYPE}"
    requests = contacts = size = list_requests = batch_reads = batch_bytes = 0
    listing_s = 0.0
    async with aiohttp.ClientSession(headers={"User-Agent": "bench-raw"}) as session:
        started = time.perf_counter()
        async with session.get(f"{base_url}/crm/v3/properties/{OBJECT_TYPE}", headers=headers) as r:
            props = orjson.loads(await r.read())
        requests += 1
        listing_s += time.perf_counter() - started
        # The sync's run.properties: every name, sorted (the bookkeeping ones among them).
        names = sorted({p["name"] for p in props["results"]})
        for archived in ("false", "true"):
            after: str | None = None
            while True:
                params = {
                    "limit": str(LIST_PAGE_SIZE),
                    "archived": archived,
                    "properties": MODIFIED_PROPERTY,
                }
                if after is not None:
                    params["after"] = after
                asked = time.perf_counter()
                async with session.get(path, params=params, headers=headers) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        raise BenchError(f"raw fetch: {resp.status} {body[:200]!r}")
                listing_s += time.perf_counter() - asked
                requests += 1
                list_requests += 1
                size += len(body)
                if parse:
                    ids = [str(r["id"]) for r in orjson.loads(body)["results"]]
                else:
                    ids = [m.decode() for m in _LISTED_ID.findall(body)]
                after = _next_cursor(body)
                # A first sync fetches every listed live record whole; nothing is archived.
                if ids and archived == "false":
                    request = orjson.dumps(
                        {
                            "inputs": [{"id": i} for i in ids],
                            "properties": names,
                            "propertiesWithHistory": [],
                        }
                    )
                    async with session.post(
                        f"{path}/batch/read",
                        params={"archived": "false"},
                        data=request,
                        headers=post_headers,
                    ) as resp:
                        answer = await resp.read()
                        if resp.status != 200:
                            raise BenchError(f"raw batch read: {resp.status} {answer[:200]!r}")
                    requests += 1
                    batch_reads += 1
                    size += len(answer)
                    batch_bytes += len(answer)
                    if parse:
                        contacts += len(orjson.loads(answer)["results"])
                    else:
                        contacts += answer.count(b'"hs_object_id":')
                if after is None:
                    break
        seconds = time.perf_counter() - started
    return FetchFloor(
        seconds,
        seconds,
        requests,
        contacts,
        size,
        len(names),
        listing_seconds=listing_s,
        list_requests=list_requests,
        batch_reads=batch_reads,
        batch_bytes=batch_bytes,
    )


def fetch_floor(sim: SimulatorProcess) -> FetchFloor:
    sim_cpu = _cpu(sim.process)
    plain = asyncio.run(raw_fetch(sim.base_url, parse=False))
    plain.sim_cpu_s = _cpu(sim.process) - sim_cpu
    parsed = asyncio.run(raw_fetch(sim.base_url, parse=True))
    if parsed.contacts != plain.contacts:
        raise BenchError(f"raw fetch counted {plain.contacts} and {parsed.contacts} contacts")
    plain.parse_seconds = parsed.seconds
    return plain


# --- the whole run -----------------------------------------------------------------------------


@dataclass
class Results:
    n: int
    n_limited: int
    repeats: int
    command: str
    machine: str
    revision: str
    started_at: str
    load_start: str
    load_end: str = ""
    sim_start_s: float = 0.0
    fulls: list[SyncFigure] = field(default_factory=list)
    fulls_normal: list[SyncFigure] = field(default_factory=list)  # synchronous=NORMAL
    rescans: list[SyncFigure] = field(default_factory=list)
    floors: list[FetchFloor] = field(default_factory=list)
    limited: SyncFigure | None = None
    limited_rescan: SyncFigure | None = None  # the same database again, nothing changed
    limited_sim_start_s: float = 0.0
    property_calls: int = 1
    db_bytes: int = 0

    @property
    def full(self) -> SyncFigure:
        """The fastest full sync (noise on a shared machine only ever slows a run down)."""
        return max(self.fulls, key=lambda f: f.rate)

    @property
    def full_normal(self) -> SyncFigure:
        return max(self.fulls_normal, key=lambda f: f.rate)

    @property
    def rescan(self) -> SyncFigure:
        return max(self.rescans, key=lambda f: f.rate)

    @property
    def floor(self) -> FetchFloor:
        best = min(self.floors, key=lambda f: f.seconds)
        parse = min(f.parse_seconds for f in self.floors)
        listing = min(f.listing_seconds for f in self.floors)
        return dataclasses.replace(best, parse_seconds=parse, listing_seconds=listing)

    @property
    def peak_rss(self) -> int:
        return max(f.rss_peak for f in self.fulls)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def pages_of(n: int) -> int:
    return math.ceil(n / LIST_PAGE_SIZE)


def request_floor(n: int, property_calls: int) -> int:
    """Issue 8's floor: list pages plus property calls, what any listing of ``n`` records
    must spend (the requests the targets are ratios of)."""
    return pages_of(n) + property_calls


def initial_requests(n: int) -> int:
    """What a first full sync of ``n`` records must send: the property call, the live
    listing (``ceil(n/100)`` pages), a batch read per page, the archived listing (one page
    when nothing is archived)."""
    return 2 * pages_of(n) + 2


def rescan_requests(n: int) -> int:
    """What a full sync with nothing changed must send: the live and the archived listing
    (nothing is fetched, so neither are batch reads nor the property call)."""
    return pages_of(n) + 1


def at_limit_s(requests: int) -> float:
    """``requests`` at the limited rate, 10 per second."""
    return requests / (LIMITED_PER_10S / 10)


def limited_floor_s(n: int) -> float:
    """Issue 3's floor: ``ceil(n/100)`` list requests at 10 per second (the old sync's
    pattern: one list request per page, every property in its URL)."""
    return at_limit_s(pages_of(n))


@contextlib.contextmanager
def sqlite_synchronous(mode: str) -> Iterator[None]:
    """Open SQLite connections with ``PRAGMA synchronous=mode`` instead of the product's."""
    saved = engine_module.SQLITE_SYNCHRONOUS
    engine_module.SQLITE_SYNCHRONOUS = mode
    try:
        yield
    finally:
        engine_module.SQLITE_SYNCHRONOUS = saved


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run(args: argparse.Namespace, argv: Sequence[str]) -> Results:
    results = Results(
        n=args.n,
        n_limited=args.n_limited,
        repeats=args.repeats,
        command=command_line("bench.sync", list(argv)),
        machine=machine_line(),
        revision=git_revision(),
        started_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        load_start=_load(),
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    profile = cProfile.Profile() if args.profile else None
    n = args.n
    try:
        print(f"starting the simulator with {n:,} contacts ...", flush=True)
        with simulator(n, workdir) as (sim, results.sim_start_s):
            for rep in range(1, args.repeats + 1):
                db_path = workdir / f"mirror-{rep}.db"
                db_url = f"sqlite:///{db_path}"
                settings = proxy_settings(
                    sim.base_url, db_url, per_10s=1_000_000, search_per_s=1000
                )
                full = timed_sync(db_url, settings, sim, profile=profile if rep == 1 else None)
                check_outcome(full, fetched=n, created=n, unchanged=0)
                if (live := count_entities(db_path)) != n:
                    raise BenchError(f"the mirror holds {live:,} live contacts, not {n:,}")
                results.fulls.append(full)
                results.db_bytes = sum(
                    p.stat().st_size for p in workdir.glob(f"{db_path.name}*") if p.is_file()
                )
                rescan = timed_sync(db_url, settings, sim)
                check_outcome(rescan, fetched=n, created=0, unchanged=n)
                results.rescans.append(rescan)
                floor = fetch_floor(sim)
                if floor.contacts != n:
                    raise BenchError(f"the raw fetch saw {floor.contacts:,} contacts, not {n:,}")
                if floor.batch_reads != math.ceil(n / BATCH_READ_SIZE):
                    raise BenchError(f"the raw fetch sent {floor.batch_reads:,} batch reads")
                results.floors.append(floor)
                _remove_db(db_path)
                with sqlite_synchronous("NORMAL"):  # what synchronous=FULL costs
                    normal = timed_sync(db_url, settings, sim)
                check_outcome(normal, fetched=n, created=n, unchanged=0)
                results.fulls_normal.append(normal)
                _remove_db(db_path)
                print(
                    f"  run {rep}/{args.repeats}: full sync {full.rate:,.0f}/s"
                    f" (peak RSS {mb(full.rss_peak)}), rescan {rescan.rate:,.0f}/s,"
                    f" raw fetch {floor.rate:,.0f}/s, full sync with synchronous=NORMAL"
                    f" {normal.rate:,.0f}/s",
                    flush=True,
                )

        limited_db = workdir / "limited.db"
        limited_url = f"sqlite:///{limited_db}"
        print(
            f"full sync of {args.n_limited:,} contacts at {LIMITED_PER_10S} requests per 10 s ...",
            flush=True,
        )
        with simulator(args.n_limited, workdir, rate_limit_per_10s=LIMITED_PER_10S) as (
            sim,
            results.limited_sim_start_s,
        ):
            settings = proxy_settings(
                sim.base_url, limited_url, per_10s=LIMITED_PER_10S, search_per_s=4
            )
            limited = timed_sync(limited_url, settings, sim)
            check_outcome(limited, fetched=args.n_limited, created=args.n_limited, unchanged=0)
            results.limited = limited
            print(f"  {limited.seconds:.1f} s; rescan of the same after the window empties ...")
            # The simulator's rolling window still holds the sync's last requests, and a new
            # client starts with an empty one of its own: wait them out, so the rescan starts
            # as a scheduled one would, not into 429s of the harness's making.
            time.sleep(LIMIT_WINDOW_S + 1)
            rescan = timed_sync(limited_url, settings, sim)
            check_outcome(rescan, fetched=args.n_limited, created=0, unchanged=args.n_limited)
            results.limited_rescan = rescan
            print(f"  {rescan.seconds:.1f} s", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results.load_end = _load()
    if profile is not None:
        profile.dump_stats(args.profile)
        stats = pstats.Stats(profile, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(30)
    return results


# --- reporting ---------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def mb(n: int) -> str:
    return f"{n / 10**6:,.0f} MB"


def _routes(routes: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in routes.items()) or "none"


def _cpu_note(figure: SyncFigure) -> str:
    return (
        f"proxy {figure.cpu_s:.1f} s, of it {figure.main_cpu_s:.1f} s in the event loop's"
        f" thread; simulator {figure.sim_cpu_s:.1f} s"
    )


def render(r: Results) -> str:
    if not (r.fulls and r.fulls_normal and r.rescans and r.floors and r.limited):
        raise BenchError("incomplete results")
    if r.limited_rescan is None:
        raise BenchError("incomplete results")
    full, rescan, floor, first = r.full, r.rescan, r.floor, r.fulls[0]
    limited, lim_rescan = r.limited, r.limited_rescan
    pages = pages_of(r.n)
    req_floor = request_floor(r.n, r.property_calls)
    req_used = full.outcome.counts.requests
    req_ratio = req_used / req_floor
    rescan_used = rescan.outcome.counts.requests
    rescan_ratio = rescan_used / req_floor
    lim_pages = pages_of(r.n_limited)
    lim_used = limited.outcome.counts.requests
    lim_must = initial_requests(r.n_limited)
    lim_must_s = at_limit_s(lim_must)
    lim_pacing = limited.seconds / lim_must_s
    lim_floor = limited_floor_s(r.n_limited)
    lim_ratio = limited.seconds / lim_floor
    lr_used = lim_rescan.outcome.counts.requests
    lr_must = rescan_requests(r.n_limited)
    lr_pacing = lim_rescan.seconds / at_limit_s(lr_must)
    lr_ratio = lim_rescan.seconds / lim_floor
    lim_429 = limited.sim_requests.get("429", 0) + lim_rescan.sim_requests.get("429", 0)
    own_limit = int(LIMITED_PER_10S * 0.9)  # RollingWindowLimiter's default 10 % margin
    waits, lr_waits = (lim_used - 1) // own_limit, (lr_used - 1) // own_limit
    unlimited_429 = sum(
        f.sim_requests.get("429", 0) for f in [*r.fulls, *r.rescans, *r.fulls_normal]
    )
    rescan_reqs = sorted({f.outcome.counts.requests for f in r.rescans})
    full_reqs = sorted({f.outcome.counts.requests for f in [*r.fulls, *r.fulls_normal]})
    batch_kb = floor.batch_bytes / max(1, floor.batch_reads) / 1000
    list_kb = (floor.body_bytes - floor.batch_bytes) / max(1, floor.list_requests) / 1000
    best = f"best of {r.repeats}" if r.repeats > 1 else "one run"
    rows = [
        (
            f"1. full sync of N={r.n:,}, no rate limit ({best})",
            f"**{full.rate:,.0f} contacts/s** ({full.seconds:.1f} s)",
            f"≥ {TARGET_INGEST_RATE:,}/s",
            verdict(full.rate >= TARGET_INGEST_RATE),
        ),
        (
            "1. peak RSS of the proxy during a full sync",
            f"**{mb(r.peak_rss)}** (first sync: {mb(first.rss_before)} before,"
            f" {mb(first.rss_peak)} peak, growth {mb(first.rss_peak - first.rss_before)})",
            f"< {mb(TARGET_PEAK_RSS)}",
            verdict(r.peak_rss < TARGET_PEAK_RSS),
        ),
        (
            "1. the same full sync with SQLite `synchronous=NORMAL` (not durable)",
            f"{r.full_normal.rate:,.0f} contacts/s; **FULL costs"
            f" {r.full_normal.rate / full.rate:.3f}x** the time of NORMAL",
            "reported",
            "",
        ),
        (
            "1. requests used / floor ceil(N/100) + 1",
            f"{req_used:,} / {req_floor:,} = **{req_ratio:.3f}** ({_routes(full.sim_requests)})",
            f"≤ {TARGET_REQUESTS_INITIAL}",
            verdict(req_ratio <= TARGET_REQUESTS_INITIAL),
        ),
        (
            f"1. raw-fetch floor: same requests, bodies only read ({best})",
            f"{floor.rate:,.0f} contacts/s ({floor.seconds:.1f} s)",
            "reported",
            "",
        ),
        (
            "1. proxy ingest / raw fetch",
            f"**{full.rate / floor.rate:.3f}** (raw fetch + `orjson.loads` of each body:"
            f" {floor.parse_rate:,.0f}/s; proxy / that = {full.rate / floor.parse_rate:.3f})",
            "reported",
            "",
        ),
        (
            f"2. full rescan, nothing changed ({best})",
            f"**{rescan.rate:,.0f} contacts/s** ({rescan.seconds:.1f} s); rescan / raw fetch of"
            f" its requests (property call and listings, {floor.listing_rate:,.0f}/s) ="
            f" {rescan.rate / floor.listing_rate:.3f}",
            f"≥ {TARGET_RESCAN_RATE:,}/s",
            verdict(rescan.rate >= TARGET_RESCAN_RATE),
        ),
        (
            "2. requests used / floor ceil(N/100) + 1",
            f"{rescan_used:,} / {req_floor:,} = **{rescan_ratio:.3f}**"
            f" ({_routes(rescan.sim_requests)})",
            f"≤ {TARGET_REQUESTS_RESCAN}",
            verdict(rescan_ratio <= TARGET_REQUESTS_RESCAN),
        ),
        (
            f"3. full sync of {r.n_limited:,} at {LIMITED_PER_10S} requests / 10 s:"
            " wall / its requests at 10/s",
            f"{limited.seconds:.1f} s / {lim_must:,} requests = {lim_must_s:.1f} s ="
            f" **{lim_pacing:.3f}**",
            f"≤ {TARGET_LIMITED_RATIO}",
            verdict(lim_pacing <= TARGET_LIMITED_RATIO),
        ),
        (
            "3. the same: wall / issue 3's floor ceil(N/100) at 10/s",
            f"{limited.seconds:.1f} s / {lim_floor:.0f} s = **{lim_ratio:.3f}** (the batch"
            " reads: see below)",
            "reported",
            "",
        ),
        (
            "3. then a rescan of it, nothing changed: wall / issue 3's floor",
            f"{lim_rescan.seconds:.1f} s / {lim_floor:.0f} s = **{lr_ratio:.3f}** ({lr_used}"
            f" requests; wall / those at 10/s = {lr_pacing:.3f})",
            "reported",
            "",
        ),
        (
            "3. 429s the simulator answered (both runs)",
            f"**{lim_429}**",
            f"= {TARGET_LIMITED_429}",
            verdict(lim_429 == TARGET_LIMITED_429),
        ),
    ]
    table = ["| figure | measured | target | result |", "| --- | --- | --- | --- |"]
    table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]

    def rates(figures: Sequence[SyncFigure | FetchFloor]) -> str:
        return ", ".join(f"{f.rate:,.0f}" for f in figures)

    intro = f"""{SECTION}

Full syncs of contacts from the HubSpot simulator (`python -m proxy.simulator`, a separate
process, so the simulator and the proxy do not share an event loop) into a fresh SQLite file in
a temp dir. The sync runs **in the benchmark process**, built as `change-proxy sync --full`
builds it (`Store.open`, `migrate.upgrade`, `register_object_types`, an aiohttp session,
`build_sources`, `SyncRunner(...).run("contacts", "full")`), so the RSS sampled here
(every 20 ms, by a thread) is the proxy's own memory (interpreter, proxy, aiohttp, SQLAlchemy,
aiosqlite's thread and SQLite's page cache) and none of the simulator's; the harness adds
psutil and the sampler thread, where `change-proxy sync` would add rich. A full sync lists
only ids and modification times (`GET /crm/v3/objects/contacts?limit=100&archived=false&
properties=lastmodifieddate`, one request per 100 records however many properties there
are), fetches whole by batch read (`POST …/batch/read`, 100 ids and every property in the
body) only what is new or changed, then lists the archived records the same way; one
property call per run. The first sync of a fresh database runs as a verifying scan (no
record was fetched under the current settings yet), which fetches every record: the same
requests as a reconciliation to which every record is new. A rate is contacts listed / wall
time of the whole run (property call, listings, batch reads, the absence check, the run
record). Every sync is verified: the run succeeded, fetched / created / unchanged are exact,
and the mirror holds N live rows. Figures 1, 2 and the raw fetch are the best of `--repeats`
runs, each on a fresh database (noise on this shared machine only slows a run down; every
run is listed below); figure 3 is one run of each. How to run: `bench/README.md`.

- command: `{r.command}`
- machine: {r.machine}
- run: {r.started_at}, commit {r.revision}; load average {r.load_start} when the
  measurements began, {r.load_end} at the end
- simulator: {r.n:,} contacts, {floor.properties} properties each (~{batch_kb:.0f} KB per
  batch read of {BATCH_READ_SIZE} with every property, ~{list_kb:.1f} KB per list page of
  {LIST_PAGE_SIZE} ids and modification times), ready in {r.sim_start_s:.1f} s; the mirror's
  files after a full sync: {mb(r.db_bytes)} (for {mb(floor.body_bytes)} of fetched JSON)
- proxy settings: `HUBSPOT_REQUESTS_PER_10S=1000000`, `HUBSPOT_SEARCH_PER_SECOND=1000` for 1
  and 2; `HUBSPOT_REQUESTS_PER_10S={LIMITED_PER_10S}` for 3; everything else default
"""
    notes = f"""
- all runs (contacts/s): full sync {rates(r.fulls)}; with synchronous=NORMAL
  {rates(r.fulls_normal)}; rescan {rates(r.rescans)}; raw fetch {rates(r.floors)};
  peak RSS {", ".join(mb(f.rss_peak) for f in r.fulls)}
- CPU (user + system) during the best runs: full sync: {_cpu_note(full)}; rescan:
  {_cpu_note(rescan)}; raw fetch: simulator {floor.sim_cpu_s:.1f} s

**Requests (1, 2).** Issue 8's floor = ceil(N/{LIST_PAGE_SIZE}) = {pages:,} list pages +
{r.property_calls} property call = {req_floor:,}. A first full sync must send
{initial_requests(r.n):,} = 2 × {pages:,} + 2: the property call, {pages:,} pages of the live
listing, a batch read of each page's {BATCH_READ_SIZE} ids (every record is new), and the
archived listing (one request: nothing is archived); it sent {req_used:,} (every full sync:
{", ".join(f"{x:,}" for x in full_reqs)}). A rescan with nothing changed lists the same pages
and fetches nothing (so it does not ask for the properties either): {rescan_requests(r.n):,}
= {pages:,} + 1 must, every rescan sent
{", ".join(f"{x:,}" for x in rescan_reqs)}. The {floor.properties} property names travel in the
batch read's body, so no URL limit splits them, and a listing costs one request per page
however many properties the portal defines. 429s during 1 and 2: {unlimited_429}.

**Raw-fetch floor (1).** A bare aiohttp client sends the requests of a first full sync, in its
order (the property call; each page of the live listing followed by the batch read of its
ids with every property; the archived listing), one at a time over one keep-alive connection,
and only reads each body ({floor.body_bytes / 1e6:,.0f} MB in all; the ids for each batch read
are picked out of the listing's bytes): {floor.seconds:.1f} s, of which
{floor.listing_seconds:.1f} s went to the property call and the {floor.list_requests:,} listing
requests, all a no-change rescan sends (the floor figure 2 is read against). That is what the
simulator needs to serve one sequential client, and the least a sync can take that does not
overlap its requests; the proxy adds parsing, diffing against the stored copies,
fingerprinting and one SQLite transaction per page, less whatever of that it overlaps with
fetching. The CPU line above splits the proxy's CPU between the event loop's thread and its
other threads (the database).

**Rate limit (3).** A fresh simulator with {r.n_limited:,} contacts and
`--rate-limit-per-10s {LIMITED_PER_10S}` (ready in {r.limited_sim_start_s:.1f} s). The first full
sync must send {lim_must} requests (2 × {lim_pages} + 2); it sent {lim_used} (the simulator
answered: {_routes(limited.sim_requests)}) in {limited.seconds:.1f} s (CPU:
{_cpu_note(limited)}). Pacing: {lim_must} requests at {LIMITED_PER_10S // 10}/s take
{lim_must_s:.1f} s, so {lim_pacing:.3f}x. The client allows itself {own_limit} requests per
rolling 10 s (a 10 % margin under the announced {LIMITED_PER_10S}), so {lim_used} requests wait
for {waits} window(s) to pass ({waits * 10} s) plus the time to fetch and write the pages after
the last wait. Against issue 3's floor ({lim_pages} list requests at {LIMITED_PER_10S // 10}/s =
{lim_floor:.0f} s, the old pattern's one list request per page with every property in its URL)
a first sync takes {lim_ratio:.2f}x: it reads every page twice, once listed, once by batch
read. Issue 8 accepts that once, because a reconciliation after it only lists: after the
simulator's window had emptied ({LIMIT_WINDOW_S + 1} s), a full sync of the same database
with nothing changed sent {lr_used} requests (the simulator answered:
{_routes(lim_rescan.sim_requests)}) in {lim_rescan.seconds:.1f} s, {lr_ratio:.2f}x issue 3's
floor ({lr_waits} window(s) of waiting; CPU: {_cpu_note(lim_rescan)}). The old pattern sent,
on every full sync, one list request per page per URL chunk of property names (6,000
characters): {lim_pages} here, where the {floor.properties} names fit one chunk, but k ×
{lim_pages} for a portal whose names need k chunks, and a listing now costs the same however
many properties there are.
"""
    return intro + "\n" + "\n".join(table) + "\n" + notes


def write_results(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else RESULTS_PREAMBLE
    path.write_text(replace_section(text, SECTION, section))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sync", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--n", type=int, default=100_000, help="contacts for figures 1-2")
    parser.add_argument("--n-limited", type=int, default=20_000, help="contacts for figure 3")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (bench/RESULTS.md)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of figures 1-2 and the raw fetch, each on a fresh database; the best counts",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        default=None,
        help="cProfile the first full sync, dump the stats to FILE and print the top entries",
    )
    return parser


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM exits through the ``finally`` blocks, so the simulator processes stop too."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if min(args.n, args.n_limited, args.repeats) < 1:
        raise SystemExit("--n, --n-limited and --repeats must be positive")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    started = time.monotonic()
    try:
        results = run(args, argv)
    except BenchError as exc:
        print(f"bench.sync: {exc}", file=sys.stderr)
        return 1
    section = render(results)
    print()
    print(section)
    write_results(args.out, section)
    print(f"wrote the {SECTION} section of {args.out} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
