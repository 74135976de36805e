"""Sync throughput: how fast a full sync ingests contacts from the HubSpot simulator, how
much memory it takes, how many requests it spends, and how close it paces to a rate limit.

    .venv/bin/python -m bench.sync                        # N=100,000, N_limited=20,000, ~3 min
    .venv/bin/python -m bench.sync --n 20000 --n-limited 5000 --repeats 1 --out /tmp/RESULTS.md

The simulator runs as its own process (``python -m proxy.simulator``), so it does not share
an event loop with the proxy; the sync runs in this process exactly as ``change-proxy sync
--full`` runs it (``Store.open`` → ``migrate.upgrade`` → ``client_from_settings`` →
``SyncRunner.run``) on a fresh SQLite file in a temp dir, while a thread samples this
process's RSS every 20 ms. Figures (1, 2 and the floor: best of ``--repeats`` runs, each on a
fresh database):

1. a full sync of N contacts without rate limits: contacts/s, peak RSS, requests vs the floor;
2. a second full sync on the same database (nothing changed): contacts/s;
3. a full sync of N_limited contacts from a fresh simulator that allows 100 requests per 10 s:
   wall time vs the floor, and the 429s the simulator answered;

plus a raw-fetch floor for (1): the same pages fetched by a bare aiohttp client that only
reads the bodies. Prints a table and rewrites the ``## sync`` section of ``bench/RESULTS.md``.
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
import shutil
import signal
import sqlite3
import subprocess
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
    REPO,
    RESULTS,
    RESULTS_PREAMBLE,
    BenchError,
    RssSampler,
    command_line,
    free_port,
    git_revision,
    log_tail,
    machine_line,
    replace_section,
    request_delta,
    stop_process,
)
from proxy.config import SETTINGS, Settings, load_settings
from proxy.sources.http import source_session
from proxy.sources.hubspot import client_from_settings
from proxy.sources.hubspot.client import LIST_PAGE_SIZE
from proxy.store import Store, migrate
from proxy.store import engine as engine_module
from proxy.sync import FULL, RunOutcome, SyncRunner

OBJECT_TYPE = "contacts"
SECTION = "## sync"
SIM_TOKEN = "bench-sync-token"
MODIFIED_PROPERTY = "lastmodifieddate"  # rides in every list request (client.list_all)
LIMITED_PER_10S = 100
SIM_START_TIMEOUT_S = 120.0

# The targets.
TARGET_INGEST_RATE = 5_000  # contacts/s, full sync of N, no rate limit
TARGET_PEAK_RSS = 250 * 10**6  # bytes (MB = 10^6 bytes), benchmark process during that sync
TARGET_RESCAN_RATE = 15_000  # contacts/s, full sync again with no change
TARGET_LIMITED_RATIO = 1.15  # wall time / floor under 100 requests per 10 s
TARGET_LIMITED_429 = 0


# --- the simulator process ---------------------------------------------------------------------


class SimulatorProcess:
    """``python -m proxy.simulator`` on a free port, logs to a file; stopped on exit."""

    def __init__(self, contacts: int, log_path: Path, *, rate_limit_per_10s: int | None) -> None:
        self.contacts = contacts
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.command = [
            sys.executable,
            "-m",
            "proxy.simulator",
            "--port",
            str(self.port),
            "--contacts",
            str(contacts),
            "--token",
            SIM_TOKEN,
        ]
        if rate_limit_per_10s is not None:
            self.command += ["--rate-limit-per-10s", str(rate_limit_per_10s)]
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(
            self.command, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO
        )
        self.process = psutil.Process(self.popen.pid)
        self.started_in_s = 0.0

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    async def wait_ready(self) -> None:
        """Poll ``GET /_sim/stats`` until it answers with every contact created."""
        began = time.monotonic()
        deadline = began + SIM_START_TIMEOUT_S
        last = "no answer yet"
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.popen.poll() is not None:
                    raise BenchError(
                        f"the simulator exited with {self.popen.returncode}:\n{self.log_tail()}"
                    )
                try:
                    stats = await _get_json(session, f"{self.base_url}/_sim/stats")
                    if stats.get("live") == self.contacts:
                        self.started_in_s = time.monotonic() - began
                        return
                    last = f"live={stats.get('live')}"
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    last = f"{type(exc).__name__}"
                await asyncio.sleep(0.1)
        raise BenchError(f"simulator not ready after {SIM_START_TIMEOUT_S:.0f}s ({last})")

    async def stats(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            return await _get_json(session, f"{self.base_url}/_sim/stats")

    def stop(self) -> None:
        stop_process(self.popen)
        self._log.close()


async def _get_json(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
        resp.raise_for_status()
        body = orjson.loads(await resp.read())
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body


@contextlib.contextmanager
def simulator(
    contacts: int, workdir: Path, *, rate_limit_per_10s: int | None = None
) -> Iterator[SimulatorProcess]:
    name = f"simulator-{contacts}-{rate_limit_per_10s or 'unlimited'}.log"
    sim = SimulatorProcess(contacts, workdir / name, rate_limit_per_10s=rate_limit_per_10s)
    try:
        asyncio.run(sim.wait_ready())
        yield sim
    finally:
        sim.stop()


# --- the proxy side ----------------------------------------------------------------------------


def proxy_settings(
    base_url: str, database_url: str, *, per_10s: int, search_per_s: int
) -> Settings:
    """Settings from a clean environment (the caller's proxy variables are ignored)."""
    env = {k: v for k, v in os.environ.items() if k not in {s.name for s in SETTINGS}}
    env.update(
        HUBSPOT_ACCESS_TOKEN=SIM_TOKEN,
        HUBSPOT_BASE_URL=base_url,
        DATABASE_URL=database_url,
        OBJECT_TYPES=OBJECT_TYPE,
        HUBSPOT_REQUESTS_PER_10S=str(per_10s),
        HUBSPOT_SEARCH_PER_SECOND=str(search_per_s),
        LOG_LEVEL="WARNING",
    )
    return load_settings(env=env)


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
        runner = SyncRunner(store, client_from_settings(session, settings), settings)
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
            before = await sim.stats()
            me = psutil.Process()
            rss_before = me.memory_info().rss
            cpu_before, sim_cpu_before = _cpu(me), _cpu(sim.process)
            main_before = _thread_cpu(me, threading.get_native_id())
            with RssSampler(me) as sampler:
                outcome, seconds = await run_full_sync(store, settings, profile)
            cpu, sim_cpu = _cpu(me) - cpu_before, _cpu(sim.process) - sim_cpu_before
            main_cpu = _thread_cpu(me, threading.get_native_id()) - main_before
            after = await sim.stats()
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

    @property
    def rate(self) -> float:
        return self.contacts / self.seconds

    @property
    def parse_rate(self) -> float:
        return self.contacts / self.parse_seconds


def _next_cursor(body: bytes) -> str | None:
    """The list page's ``paging.next.after`` without parsing the page: the simulator (like
    HubSpot) puts ``paging`` after ``results``, so the cursor is the last ``"after":"…"``."""
    marker = b'"after":"'
    at = body.rfind(marker)
    if at < 0:
        return None
    start = at + len(marker)
    return body[start : body.index(b'"', start)].decode()


async def raw_fetch(base_url: str, *, parse: bool) -> FetchFloor:
    """The requests a full sync makes (properties, every list page with every property, the
    archived listing), one at a time over one keep-alive connection, bodies read and
    dropped (``parse``: also ``orjson.loads``). No pacing, no diffing, no database."""
    headers = {"Authorization": f"Bearer {SIM_TOKEN}", "Accept": "application/json"}
    path = f"{base_url}/crm/v3/objects/{OBJECT_TYPE}"
    requests = contacts = size = 0
    async with aiohttp.ClientSession(headers={"User-Agent": "bench-raw"}) as session:
        started = time.perf_counter()
        async with session.get(f"{base_url}/crm/v3/properties/{OBJECT_TYPE}", headers=headers) as r:
            props = orjson.loads(await r.read())
        requests += 1
        names = sorted({p["name"] for p in props["results"]})
        # Same order and set as HubSpotClient.list_all: the modification property last.
        wanted = ",".join([*(n for n in names if n != MODIFIED_PROPERTY), MODIFIED_PROPERTY])
        for archived in ("false", "true"):
            after: str | None = None
            while True:
                params = {"limit": str(LIST_PAGE_SIZE), "archived": archived, "properties": wanted}
                if after is not None:
                    params["after"] = after
                async with session.get(path, params=params, headers=headers) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        raise BenchError(f"raw fetch: {resp.status} {body[:200]!r}")
                requests += 1
                size += len(body)
                if parse:
                    contacts += len(orjson.loads(body)["results"])
                else:
                    contacts += body.count(b'"hs_object_id":')
                after = _next_cursor(body)
                if after is None:
                    break
        seconds = time.perf_counter() - started
    return FetchFloor(seconds, seconds, requests, contacts, size, len(names))


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
        return dataclasses.replace(best, parse_seconds=parse)

    @property
    def peak_rss(self) -> int:
        return max(f.rss_peak for f in self.fulls)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def request_floor(n: int, property_calls: int) -> int:
    """List pages plus property calls: what any full listing of ``n`` records must spend."""
    return math.ceil(n / LIST_PAGE_SIZE) + property_calls


def limited_floor_s(n: int) -> float:
    """The issue's floor: ``ceil(n/100)`` list requests at 10 per second."""
    return math.ceil(n / LIST_PAGE_SIZE) / (LIMITED_PER_10S / 10)


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
        with simulator(n, workdir) as sim:
            results.sim_start_s = sim.started_in_s
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
        with simulator(args.n_limited, workdir, rate_limit_per_10s=LIMITED_PER_10S) as sim:
            results.limited_sim_start_s = sim.started_in_s
            settings = proxy_settings(
                sim.base_url, limited_url, per_10s=LIMITED_PER_10S, search_per_s=4
            )
            limited = timed_sync(limited_url, settings, sim)
            check_outcome(limited, fetched=args.n_limited, created=args.n_limited, unchanged=0)
            results.limited = limited
            print(f"  {limited.seconds:.1f} s", flush=True)
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
    full, rescan, floor, limited, first = r.full, r.rescan, r.floor, r.limited, r.fulls[0]
    pages = math.ceil(r.n / LIST_PAGE_SIZE)
    req_floor = request_floor(r.n, r.property_calls)
    req_used = full.outcome.counts.requests
    lim_floor = limited_floor_s(r.n_limited)
    lim_ratio = limited.seconds / lim_floor
    lim_429 = limited.sim_requests.get("429", 0)
    lim_used = limited.outcome.counts.requests
    lim_pages = math.ceil(r.n_limited / LIST_PAGE_SIZE)
    own_limit = int(LIMITED_PER_10S * 0.9)  # RollingWindowLimiter's default 10 % margin
    waits = (lim_used - 1) // own_limit
    unlimited_429 = sum(f.sim_requests.get("429", 0) for f in [*r.fulls, *r.rescans])
    page_kb = floor.body_bytes / max(1, floor.requests - 2) / 1000
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
            "1. requests used / floor",
            f"{req_used:,} / {req_floor:,} = **{req_used / req_floor:.3f}**",
            "reported",
            "",
        ),
        (
            f"1. raw-fetch floor: same requests, bodies only read ({best})",
            f"{floor.rate:,.0f} contacts/s ({floor.seconds:.1f} s)",
            "reported",
            "",
        ),
        (
            "1. proxy ingest / raw fetch",
            f"**{full.rate / floor.rate:.3f}** (raw fetch + `orjson.loads` of each page:"
            f" {floor.parse_rate:,.0f}/s; proxy / that = {full.rate / floor.parse_rate:.3f})",
            "reported",
            "",
        ),
        (
            f"2. full rescan, nothing changed ({best})",
            f"**{rescan.rate:,.0f} contacts/s** ({rescan.seconds:.1f} s); rescan / raw fetch ="
            f" {rescan.rate / floor.rate:.3f}",
            f"≥ {TARGET_RESCAN_RATE:,}/s",
            verdict(rescan.rate >= TARGET_RESCAN_RATE),
        ),
        (
            f"3. full sync of {r.n_limited:,} at {LIMITED_PER_10S} requests / 10 s: wall / floor",
            f"{limited.seconds:.1f} s / {lim_floor:.0f} s = **{lim_ratio:.3f}**",
            f"≤ {TARGET_LIMITED_RATIO}",
            verdict(lim_ratio <= TARGET_LIMITED_RATIO),
        ),
        (
            "3. 429s the simulator answered",
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
`client_from_settings`, `SyncRunner(...).run("contacts", "full")`), so the RSS sampled here
(every 20 ms, by a thread) is the proxy's own memory (interpreter, proxy, aiohttp, SQLAlchemy,
aiosqlite's thread and SQLite's page cache) and none of the simulator's; the harness adds
psutil and the sampler thread, where `change-proxy sync` would add rich. A rate is contacts
fetched / wall time of the whole run (property call, both listings, the deletion pass, the run
record). Every sync is verified: the run succeeded, fetched / created / unchanged are exact,
and the mirror holds N live rows. Figures 1, 2 and the raw fetch are the best of `--repeats`
runs, each on a fresh database (noise on this shared machine only slows a run down; every
run is listed below); figure 3 is one run. How to run: `bench/README.md`.

- command: `{r.command}`
- machine: {r.machine}
- run: {r.started_at}, commit {r.revision}; load average {r.load_start} when the
  measurements began, {r.load_end} at the end
- simulator: {r.n:,} contacts, {floor.properties} properties each (~{page_kb:.0f} KB per list
  page of {LIST_PAGE_SIZE}), ready in {r.sim_start_s:.1f} s; the mirror's files after a full
  sync: {mb(r.db_bytes)} (for {mb(floor.body_bytes)} of fetched JSON)
- proxy settings: `HUBSPOT_REQUESTS_PER_10S=1000000`, `HUBSPOT_SEARCH_PER_SECOND=1000` for 1
  and 2; `HUBSPOT_REQUESTS_PER_10S={LIMITED_PER_10S}` for 3; everything else default
"""
    notes = f"""
- all runs (contacts/s): full sync {rates(r.fulls)}; with synchronous=NORMAL
  {rates(r.fulls_normal)}; rescan {rates(r.rescans)}; raw fetch {rates(r.floors)};
  peak RSS {", ".join(mb(f.rss_peak) for f in r.fulls)}
- CPU (user + system) during the best runs: full sync: {_cpu_note(full)}; rescan:
  {_cpu_note(rescan)}; raw fetch: simulator {floor.sim_cpu_s:.1f} s

**Requests (1).** Floor = ceil(N/{LIST_PAGE_SIZE}) = {pages:,} list pages + {r.property_calls}
property call = {req_floor:,}. The sync used {req_used:,} (the simulator answered:
{_routes(full.sim_requests)}). The {req_used - req_floor:+d} is the `archived=true` listing
that a full sync makes after the live one (one request when nothing is archived), which
deletion-by-archive needs. All {floor.properties} property names fit one list URL (about 1,700
characters, under the client's 6,000-character chunk budget), so no page needed a second
property chunk. Every rescan used {rescan.outcome.counts.requests:,} too; 429s during 1 and 2:
{unlimited_429}.

**Raw-fetch floor (1).** A bare aiohttp client sends the same requests (the property call,
{pages:,} list pages with every property, the archived listing) one at a time over one
keep-alive connection and only reads each body ({floor.body_bytes / 1e6:,.0f} MB in all):
{floor.seconds:.1f} s. That is what the simulator needs to serve the pages to one sequential
client, and the least a full sync can take; the proxy adds parsing, fingerprinting and one
SQLite transaction per page, less whatever of that it overlaps with fetching. The CPU line
above splits the proxy's CPU between the event loop's thread and its other threads (the
database).

**Rate limit (3).** A fresh simulator with {r.n_limited:,} contacts and
`--rate-limit-per-10s {LIMITED_PER_10S}` (ready in {r.limited_sim_start_s:.1f} s). Floor:
{lim_pages} list requests at {LIMITED_PER_10S // 10}/s = {lim_floor:.0f} s. The sync sent
{lim_used} requests (the simulator answered: {_routes(limited.sim_requests)}) in
{limited.seconds:.1f} s (CPU: {_cpu_note(limited)}). The client allows itself {own_limit} requests
per rolling 10 s (a 10 % margin under the announced {LIMITED_PER_10S}), so {lim_used} requests
wait for {waits} window(s) to pass ({waits * 10} s) plus the time to fetch and write the
pages after the last wait.
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
