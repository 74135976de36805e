"""What each sync mode costs in HubSpot requests and wall time, for a portal of N contacts
with ~600 properties: the initial full sync, a no-change reconciliation (``full``), a
no-change ``verify``, incremental runs with and without changes, and the time from an
archive upstream to its tombstone in the feed.

    .venv/bin/python -m bench.cost                        # SQLite in a temp dir, N=100,000
    .venv/bin/python -m bench.cost --database-url postgresql://postgres@127.0.0.1:5432/

The simulator runs as its own process (``python -m proxy.simulator``); the runs 1-4 run in
this process as ``change-proxy sync --mode ...`` builds them (``Store.open``,
``migrate.upgrade``, ``build_sources``, ``SyncRunner.run``), as ``bench.sync`` does,
so a wall time is the run's own and nothing else's. The archive-to-tombstone time needs the
deletion check's scheduler and the feed, so it runs against ``change-proxy serve`` (a child
process) on the same database. Requests are compared with the floor ceil(N/100) + 1 (the
listing's pages and one properties call). Prints a table and rewrites this backend's part of
the ``## cost`` section of ``bench/RESULTS.md``. A runner for people: nothing here is a test,
and no test asserts times.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil  # type: ignore[import-untyped]  # no stubs in the venv

from bench.common import (
    RESULTS,
    BenchDatabase,
    BenchError,
    OtherCpu,
    ServerProcess,
    SimulatorProcess,
    add_database_url_argument,
    bench_settings,
    command_line,
    cpu_seconds,
    create_database,
    git_revision,
    interrupt_on_sigterm,
    load_average,
    machine_line,
    postgres_backends,
    request_delta,
    run_main,
    targets_table,
    write_backend_subsection,
)
from proxy.config import Settings
from proxy.simulator.catalogue import STANDARD_PROPERTIES
from proxy.sources.configured import build_sources
from proxy.sources.http import source_session
from proxy.sources.hubspot import spec_for
from proxy.sources.hubspot.batch_read import decoder_for
from proxy.sources.hubspot.client import BATCH_READ_SIZE, LIST_PAGE_SIZE
from proxy.store import Store, migrate
from proxy.sync import FULL, INCREMENTAL, VERIFY, RunOutcome, SyncRunner

OBJECT_TYPE = "contacts"
SECTION = "## cost"
BACKEND_HEADINGS = {"sqlite": "### SQLite", "postgresql": "### PostgreSQL"}
SIM_TOKEN = "bench-cost-token"
ADMIN_TOKEN = "bench-cost-admin"
SPEC = spec_for(OBJECT_TYPE)
MODIFIED_PROPERTY = SPEC.modified_property
# Unpaced, as bench.sync runs it: the ingest target is "without a rate limit".
REQUESTS_PER_10S = 100_000
# The contacts are created in batches stamped in the past, one hour apart, ending a day ago:
# an established portal. Stamped "now", every record would fall inside the incremental
# search's overlap (SEARCH_OVERLAP_SECONDS, 300 s) and the no-change incremental would
# re-find all of them, which is not what a running proxy sees.
CREATE_BATCH = 10_000
CREATED_BEFORE_MS = 24 * 3600 * 1000
FEED_POLL_S = 0.05
SERVER_READY_S = 120.0

# The targets.
TARGET_RECONCILE_RATIO = 1.2  # requests of a no-change full / floor
TARGET_INITIAL_RATIO = 2.2  # requests of the initial full sync / floor
TARGET_INGEST_RATE = 5_000  # records/s, initial full sync, no rate limit

INTRO = f"""{SECTION}

Requests and wall time of each sync mode against the HubSpot simulator (`python -m
proxy.simulator`, its own process) with N contacts of ~600 properties each. Runs 1-4 run in
the benchmark process as `change-proxy sync --mode …` builds them (`Store.open`,
`migrate.upgrade`, an aiohttp session, `build_sources`, `SyncRunner(...).run`), one
after another on one fresh database, with `HUBSPOT_REQUESTS_PER_10S={REQUESTS_PER_10S}` (no
pacing); a wall time is `SyncRunner.run` from call to return. Requests: the run's own count
(`sync_runs.requests`) and the simulator's per-route counters (`GET /_sim/stats`) over the
same run, which must agree. Floor = ceil(N/100) list pages + 1 properties call, the least a
run that lists every record can spend. Item 5 runs against `change-proxy serve` on the same
database. How to run: `bench/README.md`.
"""


# --- the portal --------------------------------------------------------------------------------


@dataclass
class Portal:
    """What the simulator holds, checked before any run."""

    contacts: int
    properties: int  # in the catalogue (GET /crm/v3/properties/contacts)
    carried: float  # properties per record, over a sample read with every property
    unset_share: float  # of those, the share that is null
    record_bytes: float  # mean JSON size of a record with every property
    created_in_s: float


async def fill_portal(
    sim: SimulatorProcess, session: aiohttp.ClientSession, n: int, properties: int
) -> Portal:
    """Create ``n`` contacts stamped in the past; check the catalogue and that records carry
    every property, with values."""
    began = time.monotonic()
    first_ms = int(time.time() * 1000) - CREATED_BEFORE_MS - 3600_000 * math.ceil(n / CREATE_BATCH)
    for i, start in enumerate(range(0, n, CREATE_BATCH)):
        count = min(CREATE_BATCH, n - start)
        await sim.mutate(
            session, {"op": "create", "n": count, "timestamp_ms": first_ms + i * 3600_000}
        )
    created_in = time.monotonic() - began
    stats = await sim.stats(session)
    if stats.get("live") != n:
        raise BenchError(f"the simulator holds {stats.get('live')} live contacts, not {n}")
    headers = {"Authorization": f"Bearer {SIM_TOKEN}"}
    api = f"{sim.base_url}/crm/v3"
    async with session.get(f"{api}/properties/{OBJECT_TYPE}", headers=headers) as resp:
        names = [p["name"] for p in orjson.loads(await resp.read())["results"]]
    if len(names) != properties:
        raise BenchError(f"the catalogue has {len(names)} properties, not {properties}")
    # A sample spread over the id range, read with every property as the sync reads them.
    ids = [str(1 + k * (n // BATCH_READ_SIZE)) for k in range(min(n, BATCH_READ_SIZE))]
    body = {"inputs": [{"id": i} for i in ids], "properties": names}
    async with session.post(
        f"{api}/objects/{OBJECT_TYPE}/batch/read", json=body, headers=headers
    ) as resp:
        raw = await resp.read()
    records = orjson.loads(raw)["results"]
    values = [v for r in records for v in r["properties"].values()]
    carried = len(values) / len(records)
    if carried < properties:
        raise BenchError(f"records carry {carried:.0f} properties, not {properties}")
    unset = sum(v is None for v in values) / len(values)
    # The sample read is not part of any run's counts: the stats are read per run.
    return Portal(n, len(names), carried, unset, len(raw) / len(records), created_in)


# --- runs in this process ----------------------------------------------------------------------


def proxy_settings(base_url: str, database_url: str) -> Settings:
    return bench_settings(
        HUBSPOT_ACCESS_TOKEN=SIM_TOKEN,
        HUBSPOT_BASE_URL=base_url,
        DATABASE_URL=database_url,
        OBJECT_TYPES=OBJECT_TYPE,
        HUBSPOT_REQUESTS_PER_10S=str(REQUESTS_PER_10S),
    )


@dataclass
class Measured:
    """One timed run."""

    label: str
    outcome: RunOutcome
    seconds: float
    sim_routes: dict[str, int]
    cpu_s: float  # this process (user + system): the proxy, plus the idle harness
    main_cpu_s: float  # of that, the event loop's thread (the rest: database threads)
    sim_cpu_s: float

    @property
    def requests(self) -> int:
        return self.outcome.counts.requests

    @property
    def sim_requests(self) -> int:
        return sum(v for k, v in self.sim_routes.items() if k not in ("429", "error"))

    @property
    def rate(self) -> float:
        return self.outcome.counts.fetched / self.seconds


def _thread_cpu(native_id: int) -> float:
    for thread in psutil.Process().threads():
        if thread.id == native_id:
            return float(thread.user_time + thread.system_time)
    return 0.0


async def timed_run(
    label: str,
    mode: str,
    store: Store,
    settings: Settings,
    sim: SimulatorProcess,
    session: aiohttp.ClientSession,
    profiler: Any = None,
) -> Measured:
    """One run as ``change-proxy sync --mode`` runs it (a fresh HTTP session and client)."""
    before = await sim.stats(session)
    me, loop_thread = psutil.Process(), threading.get_native_id()
    cpu0, main0, sim0 = cpu_seconds(me), _thread_cpu(loop_thread), cpu_seconds(sim.process)
    async with source_session() as source:
        runner = SyncRunner(store, build_sources(settings, source).feeds, settings)
        # As `change-proxy sync` does before its run: stored fingerprints follow the
        # settings (a no-op but the first time). Left out, serve would recompute every
        # stored fingerprint at its start in item 5 (~10 s for 100,000 records of 31 KB).
        await runner.prepare_fingerprints(OBJECT_TYPE)
        if profiler is not None:
            profiler.start()
        try:
            started = time.perf_counter()
            outcome = await runner.run(OBJECT_TYPE, mode, trigger="bench")
            seconds = time.perf_counter() - started
        finally:
            if profiler is not None:
                profiler.stop()
    cpu, main = cpu_seconds(me) - cpu0, _thread_cpu(loop_thread) - main0
    sim_cpu = cpu_seconds(sim.process) - sim0
    after = await sim.stats(session)
    measured = Measured(label, outcome, seconds, request_delta(before, after), cpu, main, sim_cpu)
    if not outcome.succeeded:
        raise BenchError(f"{label}: the run failed: {outcome.error}")
    if measured.requests != measured.sim_requests:
        raise BenchError(
            f"{label}: the run counted {measured.requests} requests, the simulator "
            f"{measured.sim_routes}"
        )
    c = outcome.counts
    print(
        f"  {label}: {seconds:.1f} s, {c.requests:,} requests ({_routes(measured.sim_routes)});"
        f" fetched {c.fetched:,}, created {c.created:,}, updated {c.updated:,},"
        f" deleted {c.deleted:,}, unchanged {c.unchanged:,}",
        flush=True,
    )
    return measured


def expect(m: Measured, **want: int) -> None:
    """The run's counts are exactly ``want`` (fields of RunCounts)."""
    got = {k: getattr(m.outcome.counts, k) for k in want}
    if got != want:
        raise BenchError(f"{m.label}: counts {got}, expected {want}")


async def change_contacts(
    sim: SimulatorProcess, session: aiohttp.ClientSession, n: int, k: int
) -> list[str]:
    """Change ``k`` contacts spread over the id range, one edit each (as k people editing
    k records, not one bulk job: each gets its own modification time)."""
    ids = [str(1 + i * (n // k)) for i in range(k)]
    for i, contact_id in enumerate(ids):
        await sim.mutate(
            session,
            {"op": "update", "id": contact_id, "properties": {"jobtitle": f"Changed {i}"}},
        )
    return ids


# --- the raw-fetch floor -----------------------------------------------------------------------


@dataclass
class FetchFloor:
    """The initial sync's requests from a bare client: what the simulator alone needs."""

    seconds: float
    requests: int
    body_bytes: int
    sim_cpu_s: float
    parse_s: float  # the proxy's parser on the batch-read bodies, timed apart from ``seconds``
    whole_parse_s: float  # orjson.loads of the same bodies (every property a Python object)


async def raw_fetch(
    sim: SimulatorProcess, session: aiohttp.ClientSession, properties: list[str]
) -> FetchFloor:
    """The requests of an initial full sync (properties, every listing page with only the
    modification time, one batch read of every property per page, the archived listing),
    one at a time over one keep-alive connection; bodies read, list pages parsed for their
    ids and cursor. No diffing, no database, no overlap. Each batch-read body is also parsed
    with the proxy's parser (what it does first with it) and, for comparison, whole with
    ``orjson.loads``; both timed apart and left out of the wall."""
    headers = {"Authorization": f"Bearer {SIM_TOKEN}"}
    path = f"{sim.base_url}/crm/v3/objects/{OBJECT_TYPE}"
    requests = size = 0
    parse_s = whole_parse_s = 0.0
    decode = decoder_for(SPEC.modified_property, SPEC.merged_ids_property)
    sim0 = cpu_seconds(sim.process)
    started = time.perf_counter()
    async with session.get(
        f"{sim.base_url}/crm/v3/properties/{OBJECT_TYPE}", headers=headers
    ) as resp:
        size += len(await resp.read())
    requests += 1
    for archived in ("false", "true"):
        after: str | None = None
        while True:
            params = {"limit": str(LIST_PAGE_SIZE), "archived": archived}
            params["properties"] = MODIFIED_PROPERTY
            if after is not None:
                params["after"] = after
            async with session.get(path, params=params, headers=headers) as resp:
                body = await resp.read()
            requests += 1
            size += len(body)
            page = orjson.loads(body)
            ids = [r["id"] for r in page["results"]]
            if ids and archived == "false":
                read = {"inputs": [{"id": i} for i in ids], "properties": properties}
                async with session.post(
                    f"{path}/batch/read",
                    params={"archived": "false"},
                    json=read,
                    headers=headers,
                ) as resp:
                    records = await resp.read()
                size += len(records)
                requests += 1
                parse_started = time.perf_counter()
                decode(records)
                parsed = time.perf_counter()
                orjson.loads(records)
                parse_s += parsed - parse_started
                whole_parse_s += time.perf_counter() - parsed
            after = page.get("paging", {}).get("next", {}).get("after")
            if after is None:
                break
    seconds = time.perf_counter() - started - parse_s - whole_parse_s
    sim_cpu = cpu_seconds(sim.process) - sim0
    return FetchFloor(seconds, requests, size, sim_cpu, parse_s, whole_parse_s)


# --- archive to tombstone, against the server --------------------------------------------------


@dataclass
class Tombstone:
    contact_id: str
    seconds: float | None  # archive -> tombstone in the feed, by itself; None: not within
    waited: float  # how long the feed was watched for it
    full_run: int | None = None  # the full run asked for when it did not come by itself
    full_seconds: float | None = None  # that run's request -> tombstone in the feed


@dataclass
class ArchiveFigures:
    check_seconds: int
    tombstones: list[Tombstone] = field(default_factory=list)
    window_s: float = 0.0
    sim_routes: dict[str, int] = field(default_factory=dict)  # over the whole window
    runs: list[dict[str, Any]] = field(default_factory=list)  # the server's runs meanwhile


async def _admin(session: aiohttp.ClientSession, method: str, url: str) -> Any:
    async with session.request(
        method, url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as resp:
        body = await resp.read()
        if resp.status >= 300:
            raise BenchError(f"{method} {url}: {resp.status} {body[:300]!r}")
    return orjson.loads(body)


async def _tombstone_after(
    session: aiohttp.ClientSession,
    feed: str,
    since: int,
    contact_id: str,
    began: float,
    within: float,
) -> tuple[float | None, int]:
    """Poll the feed from ``since`` until ``contact_id`` appears deleted: the seconds since
    ``began`` (perf_counter) and the new ``since``; None when it did not within ``within``."""
    while time.perf_counter() - began < within:
        async with session.get(feed, params={"since": str(since)}) as resp:
            page = orjson.loads(await resp.read()) if resp.status == 200 else []
        for entity in page:
            since = max(since, int(entity["_updated"]))
            if entity["_id"] == contact_id and entity.get("_deleted"):
                return time.perf_counter() - began, since
        await asyncio.sleep(FEED_POLL_S)
    return None, since


async def archive_to_tombstone(
    server: ServerProcess,
    sim: SimulatorProcess,
    ids: Sequence[str],
    check_seconds: int,
) -> ArchiveFigures:
    """Archive each of ``ids`` in turn and time it to its tombstone in the feed. Waits up to
    four deletion-check periods (at least 30 s); a tombstone not seen by then is brought by
    a full run (``POST /admin/resync``) and timed, from the archive, that way."""
    figures = ArchiveFigures(check_seconds)
    feed = f"{server.base_url}/{OBJECT_TYPE}"
    wait = max(30.0, 4.0 * check_seconds)
    async with aiohttp.ClientSession() as session:
        health = await _admin(session, "GET", f"{server.base_url}/health")
        since = int(health["objects"][OBJECT_TYPE]["last_updated"])
        runs_url = f"{server.base_url}/admin/runs?limit=1000"
        last_run = max(
            (r["id"] for r in (await _admin(session, "GET", runs_url))["runs"]), default=0
        )
        before = await sim.stats(session)
        window = time.perf_counter()
        for contact_id in ids:
            began = time.perf_counter()
            await sim.mutate(session, {"op": "archive", "id": contact_id})
            seconds, since = await _tombstone_after(session, feed, since, contact_id, began, wait)
            tombstone = Tombstone(contact_id, seconds, wait)
            figures.tombstones.append(tombstone)
            if seconds is not None:
                continue
            asked = time.perf_counter()
            queued = await _admin(
                session,
                "POST",
                f"{server.base_url}/admin/resync?object={OBJECT_TYPE}&mode={FULL}",
            )
            tombstone.full_run = int(queued["run_id"])
            tombstone.full_seconds, since = await _tombstone_after(
                session, feed, since, contact_id, asked, SERVER_READY_S
            )
        figures.window_s = time.perf_counter() - window
        figures.sim_routes = request_delta(before, await sim.stats(session))
        runs = (await _admin(session, "GET", runs_url))["runs"]
        figures.runs = sorted((r for r in runs if r["id"] > last_run), key=lambda r: r["id"])
    return figures


# --- the whole run -----------------------------------------------------------------------------


@dataclass
class Report:
    backend: str
    database: str
    command: str
    n: int
    properties: int
    changed: int
    started_at: str
    load_start: str
    load_end: str = ""
    portal: Portal | None = None
    runs: list[Measured] = field(default_factory=list)
    other_cpu: str = ""  # the rest of the machine's CPU during runs 1-4
    floor: FetchFloor | None = None
    archive: ArchiveFigures | None = None

    @property
    def request_floor(self) -> int:
        return math.ceil(self.n / LIST_PAGE_SIZE) + 1

    def run(self, prefix: str) -> Measured:
        return next(m for m in self.runs if m.label.startswith(prefix))


def _progress(message: str) -> None:
    print(f"[bench.cost] {message}", file=sys.stderr, flush=True)


async def open_store(database_url: str) -> Store:
    store = Store.open(database_url)
    await migrate.upgrade(store.engine)
    await store.changes.register_object_types([OBJECT_TYPE])
    return store


async def measure_runs(
    report: Report, db: BenchDatabase, sim: SimulatorProcess, profiler: Any
) -> None:
    """Items 1-4 in this process, then the raw-fetch floor."""
    n = report.n
    async with aiohttp.ClientSession() as session:
        _progress(f"creating {n:,} contacts with {report.properties} properties ...")
        report.portal = await fill_portal(sim, session, n, report.properties)
        _progress(
            f"portal ready in {report.portal.created_in_s:.1f} s; "
            f"{report.portal.unset_share:.0%} of the values unset"
        )
        settings = proxy_settings(sim.base_url, db.url)
        store = await open_store(db.url)
        pg_name = db.pg_name
        find_own = (lambda: postgres_backends(pg_name)) if pg_name is not None else None
        try:
            report.load_start = load_average()
            # What the rest of the machine used meanwhile: timings on a shared machine are
            # read against it.
            with OtherCpu(psutil.Process(), sim.process, find_own=find_own) as other:
                await _runs(report, store, settings, sim, session, profiler)
            report.other_cpu = other.describe()
        finally:
            await store.close()
        _progress("raw-fetch floor ...")
        headers = {"Authorization": f"Bearer {SIM_TOKEN}"}
        async with session.get(
            f"{sim.base_url}/crm/v3/properties/{OBJECT_TYPE}", headers=headers
        ) as resp:
            catalogue = sorted(p["name"] for p in orjson.loads(await resp.read())["results"])
        report.floor = await raw_fetch(sim, session, catalogue)


async def _runs(
    report: Report,
    store: Store,
    settings: Settings,
    sim: SimulatorProcess,
    session: aiohttp.ClientSession,
    profiler: Any,
) -> None:
    """Items 1-4, one after another on one database, each verified by its counts."""
    n, k = report.n, report.changed
    m = await timed_run("1. initial full sync", FULL, store, settings, sim, session, profiler)
    expect(m, fetched=n, created=n, updated=0, deleted=0)
    if (live := await store.changes.live_count(OBJECT_TYPE)) != n:
        raise BenchError(f"the mirror holds {live:,} live contacts, not {n:,}")
    report.runs.append(m)
    # "fetched" counts what a run read (listed or searched), "unchanged" what it found
    # current; the requests say how much of it was fetched whole.
    m = await timed_run("2. full, no change", FULL, store, settings, sim, session)
    expect(m, fetched=n, created=0, updated=0, deleted=0, unchanged=n)
    report.runs.append(m)
    m = await timed_run("3. verify, no change", VERIFY, store, settings, sim, session)
    expect(m, fetched=n, created=0, updated=0, deleted=0, unchanged=n)
    report.runs.append(m)
    m = await timed_run("4. incremental, no change", INCREMENTAL, store, settings, sim, session)
    expect(m, fetched=0, created=0, updated=0, deleted=0)
    report.runs.append(m)
    await change_contacts(sim, session, n, k)
    label = f"4. incremental, {k} changed"
    m = await timed_run(label, INCREMENTAL, store, settings, sim, session)
    expect(m, fetched=k, created=0, updated=k, deleted=0)
    report.runs.append(m)


def measure(report: Report, db: BenchDatabase, args: argparse.Namespace) -> None:
    custom = args.properties - len(STANDARD_PROPERTIES)
    if custom < 0:
        raise BenchError(f"--properties: at least {len(STANDARD_PROPERTIES)} (the standard ones)")
    sim = SimulatorProcess(
        db.workdir / "simulator.log",
        token=SIM_TOKEN,
        args=["--contacts", "0", "--custom-properties", str(custom)],
    )
    with sim:
        sim.wait_listening()
        profiler = None
        if args.profile is not None:
            try:
                from pyinstrument import Profiler  # type: ignore[import-not-found, unused-ignore]
            except ImportError:
                raise BenchError(
                    "--profile needs pyinstrument: .venv/bin/pip install pyinstrument"
                ) from None
            profiler = Profiler(interval=0.001, async_mode="enabled")
        asyncio.run(measure_runs(report, db, sim, profiler))
        if profiler is not None:
            args.profile.write_text(profiler.output_text(unicode=False, color=False))
            _progress(f"profile of the initial full sync written to {args.profile}")

        _progress(f"archive -> tombstone, DELETE_CHECK_SECONDS={args.delete_check_seconds} ...")
        env = {
            "HUBSPOT_BASE_URL": sim.base_url,
            "HUBSPOT_ACCESS_TOKEN": SIM_TOKEN,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "OBJECT_TYPES": OBJECT_TYPE,
            "HUBSPOT_REQUESTS_PER_10S": str(REQUESTS_PER_10S),
            "DELETE_CHECK_SECONDS": str(args.delete_check_seconds),
            # Only the deletion check runs by itself (and a full run, if it must be asked
            # for): no incrementals (SYNC_INTERVAL_SECONDS=0, set by ServerProcess), no
            # scheduled full or verify run.
            "VERIFY_SYNC_CRON": "",
        }
        n = report.n
        ids = [str(2 + j * (n // args.archives)) for j in range(args.archives)]
        with ServerProcess(db.url, db.workdir / "server.log", **env) as server:
            try:
                asyncio.run(server.wait_ready(OBJECT_TYPE, within=SERVER_READY_S))
                report.archive = asyncio.run(
                    archive_to_tombstone(server, sim, ids, args.delete_check_seconds)
                )
            except BaseException:
                print(f"server log tail:\n{server.log_tail()}", file=sys.stderr)
                raise
    report.load_end = load_average()


# --- output ------------------------------------------------------------------------------------


def _routes(routes: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in routes.items()) or "none"


def run_rows(report: Report) -> list[tuple[str, ...]]:
    floor = report.request_floor
    rows: list[tuple[str, ...]] = []
    for m in report.runs:
        rate = f"{m.rate:,.0f}" if m.outcome.counts.fetched else "–"
        rows.append(
            (
                m.label,
                f"{m.requests:,}",
                _routes(m.sim_routes),
                f"{m.requests / floor:.3f}x",
                f"{m.seconds:.2f} s",
                f"{m.outcome.counts.fetched:,}",
                rate,
                f"{m.cpu_s:.1f} s ({m.main_cpu_s:.1f} s loop) / {m.sim_cpu_s:.1f} s",
            )
        )
    return rows


RUN_COLUMNS = (
    "run",
    "requests (run)",
    "simulator, by route",
    "requests / floor",
    "wall",
    "records read",
    "records/s",
    "CPU proxy / simulator",
)


def targets(report: Report) -> list[tuple[str, str, str, bool]]:
    floor = report.request_floor
    initial, full = report.run("1."), report.run("2.")
    return [
        (
            "reconciliation (no-change full): requests / floor",
            f"≤ {TARGET_RECONCILE_RATIO}x",
            f"{full.requests:,} / {floor:,} = {full.requests / floor:.3f}x",
            full.requests / floor <= TARGET_RECONCILE_RATIO,
        ),
        (
            "initial full sync: requests / floor",
            f"≤ {TARGET_INITIAL_RATIO}x",
            f"{initial.requests:,} / {floor:,} = {initial.requests / floor:.3f}x",
            initial.requests / floor <= TARGET_INITIAL_RATIO,
        ),
        (
            "initial full sync: ingest, no rate limit",
            f"≥ {TARGET_INGEST_RATE:,} records/s",
            f"{initial.rate:,.0f} records/s",
            initial.rate >= TARGET_INGEST_RATE,
        ),
    ]


def _details(report: Report) -> list[str]:
    portal, floor, archive = report.portal, report.floor, report.archive
    assert portal is not None and floor is not None and archive is not None
    initial = report.run("1.")
    lines = [
        f"portal: {portal.contacts:,} contacts created through `/_sim/mutate` in batches of "
        f"{CREATE_BATCH:,} stamped an hour apart, the newest a day old ({portal.created_in_s:.1f}"
        f" s); {portal.properties} properties in the catalogue; a sample of 100 records read with"
        f" every property carries {portal.carried:.0f} each, {portal.unset_share:.0%} of them"
        f" null; {portal.record_bytes / 1000:,.1f} KB of JSON per record",
        f"raw-fetch floor (the initial sync's {floor.requests:,} requests from a bare aiohttp "
        f"client, one at a time, bodies read, {floor.body_bytes / 1e9:,.2f} GB): "
        f"{floor.seconds:.1f} s ({report.n / floor.seconds:,.0f} records/s), of it "
        f"{floor.sim_cpu_s:.1f} CPU-s in the simulator; initial sync wall / floor = "
        f"{initial.seconds / floor.seconds:.2f}x",
        f"parsing the same batch-read bodies alone, one core: with the proxy's parser (the "
        f"fields it decides on, each record kept as text) {floor.parse_s:.1f} s = "
        f"{floor.parse_s / report.n * 1e6:.0f} µs per record; whole (`orjson.loads`) "
        f"{floor.whole_parse_s:.1f} s = {floor.whole_parse_s / report.n * 1e6:.0f} µs per record",
        _cpu_budget(report),
        f"request floor: ceil({report.n:,}/{LIST_PAGE_SIZE}) + 1 = {report.request_floor:,}; "
        "each run's own count (`requests`) equals the simulator's over the same run; 429s: "
        f"{sum(m.sim_routes.get('429', 0) for m in report.runs)}",
    ]
    for t in archive.tombstones:
        if t.seconds is not None:
            when = f"**{t.seconds:.2f} s** (by the deletion check)"
        else:
            full = f"{t.full_seconds:.2f} s" if t.full_seconds is not None else "not seen either"
            when = (
                f"not within {t.waited:.0f} s by itself (no deletion check); then from `POST "
                f"/admin/resync?mode=full` (run {t.full_run}) to the tombstone: **{full}**"
            )
        lines.append(f"item 5, archive of contact {t.contact_id} -> tombstone in the feed: {when}")
    # Grouped by mode: a deletion check every few seconds makes a long list of alike runs.
    by_mode: dict[str, list[dict[str, Any]]] = {}
    for r in archive.runs:
        if r["status"] != "running":  # a run still going has not counted its requests yet
            by_mode.setdefault(r["mode"], []).append(r)
    runs = (
        "; ".join(
            f"{len(rs)} {mode} run(s), {sum(r['requests'] for r in rs):,} requests in all "
            f"(per run: {', '.join(str(r['requests']) for r in rs)})"
            for mode, rs in by_mode.items()
        )
        or "none"
    )
    lines.append(
        f"during the {archive.window_s:.0f} s of item 5 (`DELETE_CHECK_SECONDS="
        f"{archive.check_seconds}`) the simulator answered: {_routes(archive.sim_routes)}; "
        f"sync runs the server finished meanwhile: {runs}"
    )
    lines.append(
        f"load average: {report.load_start} at the first run, {report.load_end} at the end; "
        f"runs 1-4: {report.other_cpu}"
    )
    return lines


def _cpu_budget(report: Report) -> str:
    """What the initial sync's CPU per record allows on this machine's cores: the ceiling
    that no overlap of its work could pass."""
    initial = report.run("1.")
    proxy_us = initial.cpu_s / report.n * 1e6
    loop_us = initial.main_cpu_s / report.n * 1e6
    sim_us = initial.sim_cpu_s / report.n * 1e6
    cores = psutil.cpu_count() or 1
    ceiling = cores * 1e6 / (proxy_us + sim_us)
    return (
        f"initial sync CPU per record: proxy {proxy_us:.0f} µs (event loop {loop_us:.0f} µs,"
        f" database threads {proxy_us - loop_us:.0f} µs), simulator {sim_us:.0f} µs; on "
        f"{cores} cores that allows at most {ceiling:,.0f} records/s with every core busy all"
        " the time (the database server's CPU, on Postgres, not counted)"
    )


def backend_section(report: Report) -> str:
    lines = [
        BACKEND_HEADINGS[report.backend],
        "",
        f"- command: `{report.command}`",
        f"- run: {report.started_at}, commit {git_revision()}",
        f"- machine: {machine_line()}",
        f"- database: {report.database}",
        "",
        "| " + " | ".join(RUN_COLUMNS) + " |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
        *(f"| {' | '.join(row)} |" for row in run_rows(report)),
        "",
        *targets_table(targets(report), failed="MISS"),
        "",
        *(f"- {line}" for line in _details(report)),
    ]
    return "\n".join(lines) + "\n"


def write_results(path: Path, report: Report) -> None:
    """Replace this backend's subsection of ``## cost``; leave everything else."""
    mine = {BACKEND_HEADINGS[report.backend]: backend_section(report)}
    write_backend_subsection(path, SECTION, INTRO, BACKEND_HEADINGS.values(), mine)


# --- main --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cost", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    add_database_url_argument(parser)
    parser.add_argument("--n", type=int, default=100_000, help="contacts (100000)")
    parser.add_argument(
        "--properties", type=int, default=600, help="properties in the catalogue (600)"
    )
    parser.add_argument(
        "--changed", type=int, default=100, help="contacts changed before item 4's second run"
    )
    parser.add_argument(
        "--delete-check-seconds", type=int, default=5, help="the server's DELETE_CHECK_SECONDS (5)"
    )
    parser.add_argument("--archives", type=int, default=3, help="archives timed in item 5 (3)")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="pyinstrument the initial full sync (this process) and write the text to FILE",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (bench/RESULTS.md)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    interrupt_on_sigterm()
    argv_list = list(sys.argv[1:] if argv is None else argv)
    if min(args.n, args.properties, args.changed, args.archives, args.delete_check_seconds) < 1:
        print("bench.cost: the counts and times must be positive", file=sys.stderr)
        return 2
    if args.changed > args.n or args.n < BATCH_READ_SIZE:
        print(f"bench.cost: --n at least {BATCH_READ_SIZE} and --changed", file=sys.stderr)
        return 2
    started = time.perf_counter()
    db = create_database(args.database_url, prefix="bench-cost", keep=args.keep_db)
    if db is None:
        return 2
    report = Report(
        backend=db.backend,
        database=db.describe(),
        command=command_line("bench.cost", argv_list),
        n=args.n,
        properties=args.properties,
        changed=args.changed,
        started_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        load_start=load_average(),
    )
    try:
        measure(report, db, args)
    except BenchError as exc:
        print(f"bench.cost: {exc}", file=sys.stderr)
        return 1
    finally:
        db.drop()
    section = backend_section(report)
    print()
    print(section)
    write_results(args.out, report)
    _progress(f"wrote {args.out}; total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    run_main(main, "bench.cost", "processes stopped, database removed")
