"""Feed latency while a full sync writes: 50 clients page through the head of the feed of the
real ``change-proxy serve`` while it rewrites every one of 50,000 contacts, against a floor
(the same clients, no sync).

    .venv/bin/python -m bench.latency                     # SQLite in a temp dir (~2 min)
    .venv/bin/python -m bench.latency --database-url postgresql://postgres@127.0.0.1:5432/

Steps: start the HubSpot simulator (``python -m proxy.simulator --port 0``, its own process)
and ``change-proxy serve`` on a fresh database with ``ADMIN_TOKEN`` set and no periodic
syncs, so the only sync is the first full one, run at start; wait until the feed is ready.
Floor: the clients for ``--seconds`` with nothing else running. Then restart the simulator
on the same port with ``--seed 1`` (the same ids, different content), trigger ``POST
/admin/resync?object=contacts&mode=full`` and run the clients for ``--seconds`` from that
moment: the sync rewrites every record meanwhile. Prints a table and rewrites this backend's
part of the ``## latency`` section of ``bench/RESULTS.md``. A runner for people: nothing here
is a test, and no test asserts times.
"""

from __future__ import annotations

import argparse
import asyncio
import math
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

from bench.common import (
    RESULTS,
    BenchDatabase,
    BenchError,
    OtherCpu,
    ServerProcess,
    SimulatorProcess,
    add_database_url_argument,
    admin_request,
    command_line,
    cpu_seconds,
    create_database,
    git_revision,
    interrupt_on_sigterm,
    load_average,
    machine_line,
    postgres_backends,
    run_main,
    seeded_simulator,
    targets_table,
    wait_run,
    write_backend_subsection,
)

OBJECT_TYPE = "contacts"
SIM_TOKEN = "bench-latency-token"
ADMIN_TOKEN = "bench-latency-admin"
PAGE = 100  # the brief's page: limit=100
READY_TIMEOUT_S = 600.0  # the first full sync of --contacts, before the floor
SYNC_END_TIMEOUT_S = 900.0  # how long to wait for the measured sync to finish after the window

# The targets, for the requests made while the sync was running.
TARGET_P99_S = 0.050
TARGET_ERRORS = 0

SECTION = "## latency"
BACKEND_HEADINGS = {"sqlite": "### SQLite", "postgresql": "### PostgreSQL"}
INTRO = f"""{SECTION}

Latency of the feed's head while a full sync rewrites every record, on the real `change-proxy
serve` (a child process) fed by the HubSpot simulator (another process); the clients are
aiohttp in the benchmark process, all on this machine. Each client pages forward through the
feed (`GET /contacts?since=<last _updated it got>&limit=100`) at a fixed pace, from a recent
`_updated`; a request's latency runs from sending it to the last byte of its body. *floor*:
the clients with nothing else running. *sync*: the same clients from the moment
`POST /admin/resync?object=contacts&mode=full` is sent, while the sync rewrites all N contacts
(the simulator restarted with other content); the targets apply to the requests sent while
the run was running. An error is any answer but a 200 with a JSON array ascending past
`since`. How and why: `bench/README.md`.
"""


# --- the clients -----------------------------------------------------------------------------


@dataclass
class Sample:
    sent_at: float  # wall clock (time.time()), to place it against the run's start and end
    seconds: float
    ok: bool
    entities: int


@dataclass
class Stats:
    requests: int
    errors: int
    p50: float
    p99: float
    max: float
    mean_entities: float

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Stats:
        times = sorted(s.seconds for s in samples)
        if not times:
            return cls(0, 0, math.nan, math.nan, math.nan, math.nan)
        return cls(
            requests=len(samples),
            errors=sum(not s.ok for s in samples),
            p50=_quantile(times, 0.50),
            p99=_quantile(times, 0.99),
            max=times[-1],
            mean_entities=sum(s.entities for s in samples) / len(samples),
        )


def _quantile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank quantile: the smallest value with at least ``q`` of them at or
    below it."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def _client(
    session: aiohttp.ClientSession,
    url: str,
    since: int,
    *,
    first_at: float,
    stop_at: float,
    interval: float,
    samples: list[Sample],
) -> None:
    """Pages forward from ``since``: one request every ``interval`` seconds from ``first_at``
    (a late answer delays only this client's next request, never bunches them), until
    ``stop_at`` (loop time)."""
    loop = asyncio.get_running_loop()
    next_at = first_at
    while True:
        delay = next_at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)  # the client's pace
        if loop.time() >= stop_at:
            return
        sent_at, t0 = time.time(), time.perf_counter()
        ok, entities = False, 0
        try:
            async with session.get(url, params={"since": str(since), "limit": str(PAGE)}) as r:
                body = await r.read()
                status = r.status
            seconds = time.perf_counter() - t0
            if status == 200:
                page = orjson.loads(body)
                updated = [e["_updated"] for e in page] if isinstance(page, list) else None
                if updated is not None and all(
                    b > a for a, b in zip([since, *updated], updated, strict=False)
                ):
                    ok, entities = True, len(updated)
                    if updated:
                        since = updated[-1]
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError):
            seconds = time.perf_counter() - t0
        samples.append(Sample(sent_at, seconds, ok, entities))
        next_at = max(next_at + interval, loop.time())


async def run_clients(
    base_url: str, starts: Sequence[int], *, seconds: float, interval: float
) -> list[Sample]:
    """One client per start ``since``, their first requests spread over one interval so they
    do not arrive together; all stop ``seconds`` after the first."""
    samples: list[Sample] = []
    loop = asyncio.get_running_loop()
    begin = loop.time()
    connector = aiohttp.TCPConnector(limit=len(starts) + 10)
    timeout = aiohttp.ClientTimeout(total=max(30.0, seconds))
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(
            *(
                _client(
                    session,
                    f"{base_url}/{OBJECT_TYPE}",
                    since,
                    first_at=begin + interval * i / len(starts),
                    stop_at=begin + seconds,
                    interval=interval,
                    samples=samples,
                )
                for i, since in enumerate(starts)
            )
        )
    return samples


# --- the proxy -------------------------------------------------------------------------------


async def head(base_url: str) -> int:
    """The feed's last ``_updated``, from ``/health``."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base_url}/health") as resp,
    ):
        body = orjson.loads(await resp.read())
    return int(body["objects"][OBJECT_TYPE]["last_updated"])


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    samples: list[Sample]
    load_before: str
    other_cpu: str
    server_cpu_s: float
    sim_cpu_s: float
    seconds: float

    @property
    def stats(self) -> Stats:
        return Stats.of(self.samples)


@dataclass
class Report:
    backend: str
    database: str
    command: str
    contacts: int
    clients: int
    seconds: float
    interval: float
    requests_per_10s: int
    first_sync_s: float = 0.0
    phases: list[Phase] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)

    @property
    def floor(self) -> Phase:
        return self.phases[0]

    @property
    def sync(self) -> Phase:
        return self.phases[1]

    def run_interval(self) -> tuple[float, float]:
        started = datetime.fromisoformat(self.run["started_at"]).timestamp()
        finished = datetime.fromisoformat(self.run["finished_at"]).timestamp()
        return started, finished

    def during_sync(self) -> list[Sample]:
        """The sync phase's requests sent while the run was running."""
        started, finished = self.run_interval()
        return [s for s in self.sync.samples if started <= s.sent_at <= finished]

    def run_seconds(self) -> float:
        started, finished = self.run_interval()
        return finished - started


def _progress(message: str) -> None:
    print(f"[bench.latency] {message}", file=sys.stderr, flush=True)


async def _phase(
    name: str,
    server: ServerProcess,
    sim: SimulatorProcess,
    db: BenchDatabase,
    starts: Sequence[int],
    args: argparse.Namespace,
) -> Phase:
    pg_name = db.pg_name
    find_own = (lambda: postgres_backends(pg_name)) if pg_name is not None else None
    load = load_average()
    cpu0, sim0 = cpu_seconds(server.process), cpu_seconds(sim.process)
    with OtherCpu(psutil.Process(), server.process, sim.process, find_own=find_own) as other:
        t0 = time.perf_counter()
        samples = await run_clients(
            server.base_url, starts, seconds=args.seconds, interval=args.interval
        )
        seconds = time.perf_counter() - t0
    return Phase(
        name,
        samples,
        load,
        other.describe(),
        cpu_seconds(server.process) - cpu0,
        cpu_seconds(sim.process) - sim0,
        seconds,
    )


def measure(report: Report, db: BenchDatabase, args: argparse.Namespace) -> None:
    workdir = db.workdir
    sim = seeded_simulator(args.contacts, workdir / "simulator-seed0.log", token=SIM_TOKEN)
    try:
        base = sim.wait_listening()
        _progress(f"simulator with {args.contacts:,} contacts at {base}; starting the proxy")
        env = {
            "HUBSPOT_BASE_URL": base,
            "HUBSPOT_ACCESS_TOKEN": SIM_TOKEN,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            # Only the syncs this benchmark asks for: the first full sync (at start, as the
            # mirror is empty) and the measured one.
            "SYNC_INTERVAL_SECONDS": "0",
            "FULL_SYNC_CRON": "",
            "HUBSPOT_REQUESTS_PER_10S": str(args.requests_per_10s),
            "HUBSPOT_SEARCH_PER_SECOND": "1000",
        }
        with ServerProcess(db.url, workdir / "server.log", **env) as server:
            try:
                t0 = time.perf_counter()
                asyncio.run(server.wait_ready(OBJECT_TYPE, within=READY_TIMEOUT_S))
                report.first_sync_s = time.perf_counter() - t0
                last = asyncio.run(head(server.base_url))
                _progress(f"first full sync done in {report.first_sync_s:.1f} s (head {last:,})")

                # Floor: far enough behind the head that every page is full for the whole
                # window, as in the sync phase, each client from its own place.
                depth = PAGE * (math.ceil(args.seconds / args.interval) + 1)
                starts = [max(0, last - depth - PAGE * i) for i in range(args.clients)]
                floor = asyncio.run(_phase("floor", server, sim, db, starts, args))
                report.phases.append(floor)
                _progress(f"floor: {_line(floor.stats)}")

                sim.stop()
                sim = seeded_simulator(
                    args.contacts,
                    workdir / "simulator-seed1.log",
                    token=SIM_TOKEN,
                    seed=1,
                    port=sim.port,
                )
                sim.wait_listening()
                _progress("simulator restarted with --seed 1; triggering the full sync")

                async def sync_phase() -> tuple[Phase, int]:
                    async with aiohttp.ClientSession() as session:
                        queued = await admin_request(
                            session,
                            "POST",
                            f"{server.base_url}/admin/resync?object={OBJECT_TYPE}&mode=full",
                            ADMIN_TOKEN,
                        )
                    # Every client starts at the head: what the sync writes is what they read.
                    phase = await _phase("sync", server, sim, db, [last] * args.clients, args)
                    return phase, int(queued["run_id"])

                phase, run_id = asyncio.run(sync_phase())
                report.phases.append(phase)
                _progress(f"sync window: {_line(phase.stats)}; waiting for the run to finish")
                report.run = asyncio.run(
                    wait_run(server.base_url, run_id, SYNC_END_TIMEOUT_S, ADMIN_TOKEN)
                )
                if report.run["status"] != "succeeded":
                    raise BenchError(f"the measured sync failed: {report.run.get('error')}")
                if report.run["updated"] < args.contacts * 0.99:
                    raise BenchError(
                        f"the measured sync updated {report.run['updated']:,} of "
                        f"{args.contacts:,} contacts: it did not rewrite the mirror"
                    )
            except BaseException as exc:
                if not isinstance(exc, BenchError):
                    print(f"server log tail:\n{server.log_tail()}", file=sys.stderr)
                raise
    finally:
        sim.stop()


# --- output ----------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def _line(stats: Stats) -> str:
    return (
        f"{stats.requests:,} requests, {stats.errors} errors, p50 {_ms(stats.p50)}, "
        f"p99 {_ms(stats.p99)}, max {_ms(stats.max)}"
    )


def _rows(report: Report) -> list[tuple[str, ...]]:
    during = Stats.of(report.during_sync())
    rows: list[tuple[str, ...]] = []
    for label, stats in (
        (f"floor: no sync ({report.seconds:.0f} s)", report.floor.stats),
        (f"sync: the {report.seconds:.0f} s from the resync request", report.sync.stats),
        (f"sync: requests sent while the run was running ({report.run_seconds():.1f} s)", during),
    ):
        rows.append(
            (
                label,
                f"{stats.requests:,}",
                str(stats.errors),
                _ms(stats.p50),
                _ms(stats.p99),
                _ms(stats.max),
                f"{stats.mean_entities:.0f}",
            )
        )
    return rows


COLUMNS = ("measure", "requests", "errors", "p50", "p99", "max", "entities per response")


def targets(report: Report) -> list[tuple[str, str, str, bool]]:
    during = Stats.of(report.during_sync())
    return [
        (
            "p99 while the sync runs",
            f"< {TARGET_P99_S * 1000:.0f} ms",
            _ms(during.p99),
            during.p99 < TARGET_P99_S,
        ),
        (
            "errors while the sync runs",
            f"= {TARGET_ERRORS}",
            str(during.errors),
            during.errors == TARGET_ERRORS,
        ),
    ]


def _details(report: Report) -> list[str]:
    run, floor, sync = report.run, report.floor, report.sync
    return [
        f"the measured run: {run['mode']} sync {run['id']}, {run['status']}: fetched "
        f"{run['fetched']:,}, updated {run['updated']:,}, created {run['created']:,}, deleted "
        f"{run['deleted']:,}, unchanged {run['unchanged']:,}, {run['requests']:,} requests to "
        f"the simulator, {report.run_seconds():.1f} s from start to finish "
        f"({report.contacts / report.run_seconds():,.0f} contacts/s)",
        f"first full sync at start (the mirror empty): {report.first_sync_s:.1f} s to a ready feed",
        f"CPU: floor: server {floor.server_cpu_s:.1f} s in {floor.seconds:.0f} s; sync: server "
        f"{sync.server_cpu_s:.1f} s, simulator {sync.sim_cpu_s:.1f} s in {sync.seconds:.0f} s",
        f"other processes: floor: {floor.other_cpu}; sync: {sync.other_cpu}",
        f"load average when each phase began: floor {floor.load_before}; sync {sync.load_before}",
    ]


def print_report(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(
        title=f"latency, {report.database}, {report.clients} clients, N={report.contacts:,}"
    )
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "measure" else "right")
    for row in _rows(report):
        table.add_row(*row)
    console.print(table)
    checks = Table(title="targets")
    for column in ("target", "required", "measured", "result"):
        checks.add_column(column)
    for name, required, measured, passed in targets(report):
        checks.add_row(
            name, required, measured, "[green]PASS[/green]" if passed else "[red]FAIL[/red]"
        )
    console.print(checks)
    for line in _details(report):
        console.print(line, highlight=False)


def backend_section(report: Report, when: datetime) -> str:
    lines = [
        BACKEND_HEADINGS[report.backend],
        "",
        f"- command: `{report.command}`",
        f"- run: {when:%Y-%m-%d %H:%M} UTC, commit {git_revision()}; load average "
        f"{report.floor.load_before} when the measurements began",
        f"- machine: {machine_line()}",
        f"- database: {report.database}",
        f"- N = {report.contacts:,} contacts; {report.clients} clients, each one request every "
        f"{report.interval:g} s ({report.clients / report.interval:,.0f} requests/s in all), "
        f"`limit={PAGE}`; the proxy's `HUBSPOT_REQUESTS_PER_10S={report.requests_per_10s}`",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(f"| {' | '.join(row)} |" for row in _rows(report)),
        "",
        *targets_table(targets(report)),
        "",
        *(f"- {line}" for line in _details(report)),
    ]
    return "\n".join(lines) + "\n"


def write_results(path: Path, report: Report, when: datetime) -> None:
    """Replace this backend's subsection of ``## latency``; leave everything else."""
    mine = {BACKEND_HEADINGS[report.backend]: backend_section(report, when)}
    write_backend_subsection(path, SECTION, INTRO, BACKEND_HEADINGS.values(), mine)


# --- main ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.latency", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    add_database_url_argument(parser)
    parser.add_argument("--contacts", type=int, default=50_000, help="contacts (50000)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase (30)")
    parser.add_argument(
        "--interval",
        type=float,
        default=0.25,
        help="seconds between one client's requests (0.25: 50 clients send 200 requests/s)",
    )
    parser.add_argument(
        "--requests-per-10s",
        type=int,
        default=1_000_000,
        help="the proxy's HUBSPOT_REQUESTS_PER_10S; the default leaves the sync unpaced, so it "
        "writes as fast as it can",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (bench/RESULTS.md)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    interrupt_on_sigterm()
    argv_list = list(sys.argv[1:] if argv is None else argv)
    if min(args.contacts, args.clients) < 1 or args.seconds <= 0 or args.interval <= 0:
        print("bench.latency: the counts and times must be positive", file=sys.stderr)
        return 2
    started = time.perf_counter()
    when = datetime.now(UTC)
    db = create_database(args.database_url, prefix="bench-latency", keep=args.keep_db)
    if db is None:
        return 2
    report = Report(
        backend=db.backend,
        database=db.describe(),
        command=command_line("bench.latency", argv_list),
        contacts=args.contacts,
        clients=args.clients,
        seconds=args.seconds,
        interval=args.interval,
        requests_per_10s=args.requests_per_10s,
    )
    try:
        measure(report, db, args)
    except BenchError as exc:
        print(f"bench.latency: {exc}", file=sys.stderr)
        return 1
    finally:
        db.drop()
    print_report(report)
    write_results(args.out, report, when)
    _progress(f"wrote {args.out}; total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    run_main(main, "bench.latency", "processes stopped, database removed")
