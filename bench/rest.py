"""Mirroring a declared JSON API with no change filter: a first scan of N ~1 KB records from
the filterless REST simulator, a no-change rescan, and a no-change rescan of the same API
answering conditional requests (304), each against a raw-fetch floor measured in the same run.

    .venv/bin/python -m bench.rest                        # SQLite in a temp dir, N=100,000
    .venv/bin/python -m bench.rest --database-url postgresql://postgres@127.0.0.1:5432/

Steps: start the REST simulator (``python -m proxy.simulator.rest``, its own process) with N
orders padded to ~1 KB, conditional requests off, and the real ``change-proxy serve`` (a
child process) with ``SOURCES`` declaring its cursor route as the source ``orders``
(Stripe's style, 100 records a page), no HubSpot and ``ADMIN_TOKEN`` set. (1) The first
scan, which serve queues by itself on the empty mirror. (2) The floor: the same pages
fetched and parsed with ``orjson`` by a bare aiohttp client, one after another. (3) No-change
rescans (``POST /admin/resync?object=orders&mode=full``). (4) Conditional requests switched
on at the simulator (``POST /_sim/conditional``), one rescan that learns the ETags, then
no-change rescans that send ``If-None-Match`` for every page. Prints a table and rewrites
this backend's part of the ``## rest`` section of ``bench/RESULTS.md``. A runner for people:
nothing here is a test.
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
    RssSampler,
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
    targets_table,
    write_backend_subsection,
)
from bench.memory import IMAGE_ENV, proc_status

SOURCE = "orders"
ADMIN_TOKEN = "bench-rest-admin"
PAGE_SIZE = 100
# Filler characters per order: with its id, name, status and updated_at, ~1 KB of JSON.
PADDING = 900
MIB = 2**20
RSS_BUDGET_MIB = 128  # Sesam's default docker.memory
READY_TIMEOUT_S = 900.0
RUN_TIMEOUT_S = 900.0
POLL_S = 0.05  # run polling: a rescan takes seconds, a 304 rescan well under one
# Targets of issue 17.
FIRST_MAX = 2.0  # first scan / floor
RESCAN_MAX = 1.3  # no-change rescan / floor
CONDITIONAL_MAX = 0.3  # conditional no-change rescan / plain no-change rescan

SECTION = "## rest"
BACKEND_HEADINGS = {"sqlite": "### SQLite", "postgresql": "### PostgreSQL"}
INTRO = f"""{SECTION}

A declared JSON API with no change filter (the filterless REST simulator, `python -m
proxy.simulator.rest`, its own process: N orders of ~1 KB, listed 100 a page by Stripe-style
cursor, `?limit=100&starting_after=<last id>`, `has_more`) mirrored by the real `change-proxy
serve` (a child process, `SOURCES` in its environment, no HubSpot, the image's malloc
settings). *first scan*: the full scan serve queues by itself on the empty mirror. *no-change
rescan*: `POST /admin/resync?object=orders&mode=full` with nothing changed upstream, the
simulator answering without ETags. *conditional rescan*: the same after the simulator was
switched to answer `ETag`/`Last-Modified` and 304 (`POST /_sim/conditional`) and one rescan
learnt the ETags: every page asked with `If-None-Match`. A scan's time is its run's
`started_at` to `finished_at` (`GET /admin/runs/{{id}}`, polled every 50 ms). *floor*: the
same pages fetched one after another by a bare aiohttp client in the benchmark process,
each body parsed whole with `orjson.loads`, measured in the same run (best of 3). Page
bodies and 304s are the simulator's counts over each scan (`GET /_sim/stats`): a body byte
for byte the page serve last wrote is sent, but serve does not parse it. RSS is serve's
(sampled every 20 ms, and the kernel's `VmHWM`), in MiB. How to run: `bench/README.md`.
"""


def rest_simulator_process(log_path: Path, *, records: int, padding: int) -> SimulatorProcess:
    """``python -m proxy.simulator.rest --port 0`` as a child process (no token)."""
    args = ["--records", str(records), "--padding", str(padding), "--no-conditional"]
    return SimulatorProcess(log_path, token="", args=args, module="proxy.simulator.rest")


def declaration(base_url: str) -> dict[str, Any]:
    """The source as a user would declare it (``SOURCES``)."""
    return {
        SOURCE: {
            "url": f"{base_url}/cursor/orders",
            "params": {"limit": str(PAGE_SIZE)},
            "records": "data",
            "id": "id",
            "pagination": {
                "style": "cursor",
                "param": "starting_after",
                "from_record": "id",
                "has_more": "has_more",
            },
            "interval_seconds": 0,  # only the scans this benchmark asks for
        }
    }


@dataclass
class Scan:
    """One run of serve, as the admin API and the simulator saw it."""

    label: str
    run: dict[str, Any]
    seconds: float  # started_at -> finished_at
    observed: float  # from the request (or serve's start) to the poll that saw it finished
    pages: int  # bodies the simulator served
    not_modified: int  # 304s it answered
    requests: int  # API requests it counted
    peak_rss: int
    cpu_serve: float
    cpu_sim: float


@dataclass
class Walk:
    """One walk of the listing by the bare client."""

    seconds: float
    pages: int
    records: int
    body_bytes: int
    not_modified: int = 0


@dataclass
class Report:
    backend: str
    database: str
    command: str
    n: int
    load_before: str = ""
    load_after: str = ""
    record_bytes: float = 0.0
    first: Scan | None = None
    rescans: list[Scan] = field(default_factory=list)
    priming: Scan | None = None
    conditional: list[Scan] = field(default_factory=list)
    floors: list[Walk] = field(default_factory=list)
    conditional_floors: list[Walk] = field(default_factory=list)
    hwm: int = 0
    peak_sampled: int = 0
    idle_rss: int = 0
    other_cpu: str = ""

    @property
    def pages(self) -> int:
        return math.ceil(self.n / PAGE_SIZE)

    @property
    def peak(self) -> int:
        return max(self.hwm, self.peak_sampled)


def _progress(message: str) -> None:
    print(f"[bench.rest] {message}", file=sys.stderr, flush=True)


# --- the floor ---------------------------------------------------------------------------------


async def raw_walk(
    session: aiohttp.ClientSession,
    base_url: str,
    etags: dict[str | None, tuple[str, str | None]] | None = None,
) -> Walk:
    """Every page of the listing, one after another, each body parsed whole. With ``etags``
    (cursor -> (ETag, next cursor)) each page is asked with ``If-None-Match`` and a 304
    takes the next cursor from there; every 200 with an ETag is recorded in ``LEARNT``."""
    url = f"{base_url}/cursor/orders"
    after: str | None = None
    pages = records = body_bytes = not_modified = 0
    t0 = time.perf_counter()
    while True:
        params = {"limit": str(PAGE_SIZE)}
        if after is not None:
            params["starting_after"] = after
        headers = {"If-None-Match": etags[after][0]} if etags and after in etags else {}
        async with session.get(url, params=params, headers=headers) as resp:
            raw = await resp.read()
            status, etag = resp.status, resp.headers.get("ETag")
        if status == 304 and etags is not None:
            not_modified += 1
            after = etags[after][1]
        elif status == 200:
            pages += 1
            body_bytes += len(raw)
            doc = orjson.loads(raw)
            data = doc["data"]
            records += len(data)
            nxt = str(data[-1]["id"]) if doc["has_more"] and data else None
            if etag is not None:
                LEARNT[after] = (etag, nxt)
            after = nxt
        else:
            raise BenchError(f"GET {url} {params}: {status} {raw[:200]!r}")
        if after is None:
            break
    return Walk(time.perf_counter() - t0, pages, records, body_bytes, not_modified)


# ETags the last plain walk saw, by cursor (the conditional floor asks with them).
LEARNT: dict[str | None, tuple[str, str | None]] = {}


async def floor_walks(base_url: str, runs: int, *, conditional: bool) -> list[Walk]:
    async with aiohttp.ClientSession() as session:
        if conditional:
            LEARNT.clear()
            await raw_walk(session, base_url)  # learn the ETags, untimed
            etags = dict(LEARNT)
            return [await raw_walk(session, base_url, etags) for _ in range(runs)]
        return [await raw_walk(session, base_url) for _ in range(runs)]


# --- serve's runs -----------------------------------------------------------------------------


def _seconds(run: dict[str, Any]) -> float:
    started = datetime.fromisoformat(run["started_at"])
    return (datetime.fromisoformat(run["finished_at"]) - started).total_seconds()


async def _poll(session: aiohttp.ClientSession, base_url: str, run_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        run = await admin_request(session, "GET", f"{base_url}/admin/runs/{run_id}", ADMIN_TOKEN)
        if run["status"] in ("succeeded", "failed"):
            return run
        await asyncio.sleep(POLL_S)
    raise BenchError(f"run {run_id} did not finish within {RUN_TIMEOUT_S:.0f} s")


async def _startup_run(session: aiohttp.ClientSession, base_url: str) -> int:
    """The id of the full scan serve queued at start-up on the empty mirror."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            listed = await admin_request(
                session, "GET", f"{base_url}/admin/runs?object={SOURCE}", ADMIN_TOKEN
            )
        except (aiohttp.ClientError, BenchError):
            listed = {"runs": []}  # not listening yet
        if listed["runs"]:
            return int(listed["runs"][-1]["id"])
        await asyncio.sleep(POLL_S)
    raise BenchError("serve queued no scan at start-up")


async def _scan(
    label: str,
    server: ServerProcess,
    sim: SimulatorProcess,
    *,
    startup: bool = False,
    started: float | None = None,
) -> Scan:
    async with aiohttp.ClientSession() as session:
        before = await sim.stats(session)
        cpu0 = cpu_seconds(server.process), cpu_seconds(sim.process)
        t0 = started if started is not None else time.perf_counter()
        with RssSampler(server.process) as sampler:
            if startup:
                run_id = await _startup_run(session, server.base_url)
            else:
                url = f"{server.base_url}/admin/resync?object={SOURCE}&mode=full"
                run_id = int((await admin_request(session, "POST", url, ADMIN_TOKEN))["run_id"])
            run = await _poll(session, server.base_url, run_id)
        observed = time.perf_counter() - t0
        cpu1 = cpu_seconds(server.process), cpu_seconds(sim.process)
        after = await sim.stats(session)
    if run["status"] != "succeeded":
        raise BenchError(f"{label}: run {run_id} {run['status']}: {run.get('error')}")
    return Scan(
        label=label,
        run=run,
        seconds=_seconds(run),
        observed=observed,
        pages=after["pages"] - before["pages"],
        not_modified=after["not_modified"] - before["not_modified"],
        requests=after["requests"] - before["requests"],
        peak_rss=sampler.peak,
        cpu_serve=cpu1[0] - cpu0[0],
        cpu_sim=cpu1[1] - cpu0[1],
    )


def _check(scan: Scan, n: int, *, created: int, pages: int, not_modified: int) -> None:
    run = scan.run
    counts = (run["created"], run["updated"], run["deleted"])
    if counts != (created, 0, 0):
        raise BenchError(f"{scan.label}: created/updated/deleted {counts}, expected {created}/0/0")
    if (scan.pages, scan.not_modified) != (pages, not_modified):
        raise BenchError(
            f"{scan.label}: the simulator served {scan.pages} pages and {scan.not_modified} "
            f"304s; expected {pages} and {not_modified}"
        )
    if run["requests"] != scan.requests:
        raise BenchError(
            f"{scan.label}: the run counted {run['requests']} requests, the simulator "
            f"{scan.requests}"
        )


async def _verify_mirror(base_url: str, sim_url: str, n: int) -> float:
    """The mirror holds N live orders and its first page equals the API's; returns the mean
    record size of that page (bytes of JSON)."""
    async with aiohttp.ClientSession() as session:
        status = await admin_request(session, "GET", f"{base_url}/admin/status", ADMIN_TOKEN)
        live = status["objects"][SOURCE]["live"]
        if live != n:
            raise BenchError(f"the mirror holds {live:,} live orders, not {n:,}")
        async with session.get(f"{sim_url}/cursor/orders", params={"limit": "100"}) as resp:
            upstream = orjson.loads(await resp.read())["data"]
        async with session.get(f"{base_url}/{SOURCE}", params={"limit": "100"}) as resp:
            feed = orjson.loads(await resp.read())
    mirrored = {e["_id"]: {k: v for k, v in e.items() if not k.startswith("_")} for e in feed}
    if mirrored != {str(r["id"]): r for r in upstream}:
        raise BenchError("the feed's first 100 entities differ from the API's first page")
    return sum(len(orjson.dumps(r)) for r in upstream) / len(upstream)


def measure(report: Report, db: BenchDatabase, repeats: int) -> None:
    workdir = db.workdir
    n = report.n
    with rest_simulator_process(workdir / "simulator.log", records=n, padding=PADDING) as sim:
        sim_url = sim.wait_listening()
        env = {
            **IMAGE_ENV,
            "SOURCES": orjson.dumps(declaration(sim_url)).decode(),
            "HUBSPOT_ACCESS_TOKEN": "",  # the declared source alone
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "VERIFY_SYNC_CRON": "",
        }
        _progress(f"simulator with {n:,} orders at {sim_url}; starting serve")
        report.load_before = load_average()
        pg = db.pg_name

        def own() -> list[psutil.Process]:
            return postgres_backends(pg) if pg else []

        with (
            ServerProcess(db.url, workdir / "server.log", **env) as server,
            OtherCpu(server.process, sim.process, find_own=own) as other,
        ):
            try:
                _measure_scans(report, server, sim, sim_url, repeats)
            except BaseException as exc:
                if not isinstance(exc, KeyboardInterrupt):
                    print(f"server log tail:\n{server.log_tail()}", file=sys.stderr)
                raise
        report.other_cpu = other.describe()
        report.load_after = load_average()


def _measure_scans(
    report: Report,
    server: ServerProcess,
    sim: SimulatorProcess,
    sim_url: str,
    repeats: int,
) -> None:
    n, pages = report.n, report.pages
    sampler = RssSampler(server.process)
    with sampler:
        first = asyncio.run(_scan("first scan", server, sim, startup=True))
        _check(first, n, created=n, pages=pages, not_modified=0)
        report.first = first
        _progress(f"first scan: {first.seconds:.1f} s, {n / first.seconds:,.0f} records/s")
        report.record_bytes = asyncio.run(_verify_mirror(server.base_url, sim_url, n))
        report.idle_rss = proc_status(server.pid)["VmRSS"]

        report.floors = asyncio.run(floor_walks(sim_url, 3, conditional=False))
        for walk in report.floors:
            if (walk.pages, walk.records) != (pages, n):
                raise BenchError(f"floor: {walk.pages} pages, {walk.records} records")
        _progress(f"floor: best {min(w.seconds for w in report.floors):.2f} s")

        for i in range(repeats):
            scan = asyncio.run(_scan(f"no-change rescan {i + 1}", server, sim))
            _check(scan, n, created=0, pages=pages, not_modified=0)
            report.rescans.append(scan)
            _progress(f"no-change rescan {i + 1}: {scan.seconds:.2f} s")

        asyncio.run(_set_conditional(sim_url))
        priming = asyncio.run(_scan("rescan learning the ETags", server, sim))
        _check(priming, n, created=0, pages=pages, not_modified=0)
        report.priming = priming
        for i in range(repeats):
            scan = asyncio.run(_scan(f"conditional rescan {i + 1}", server, sim))
            _check(scan, n, created=0, pages=0, not_modified=pages)
            report.conditional.append(scan)
            _progress(f"conditional rescan {i + 1}: {scan.seconds:.2f} s")
        report.conditional_floors = asyncio.run(floor_walks(sim_url, 3, conditional=True))
        report.hwm = proc_status(server.pid)["VmHWM"]
    report.peak_sampled = sampler.peak


async def _set_conditional(sim_url: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sim_url}/_sim/conditional", json={"on": True}) as resp,
    ):
        if resp.status != 200:
            raise BenchError(f"POST /_sim/conditional: {resp.status}")


# --- output ----------------------------------------------------------------------------------


def _best(scans: Sequence[Scan]) -> Scan:
    return min(scans, key=lambda s: s.seconds)


def _floor(report: Report) -> float:
    return min(w.seconds for w in report.floors)


def _mib(n: int) -> str:
    return f"{n / MIB:.1f}"


COLUMNS = (
    "measure",
    "time",
    "records/s",
    "/ floor",
    "requests",
    "page bodies / 304",
    "serve peak RSS",
    "CPU serve / simulator",
)


def _rows(report: Report) -> list[tuple[str, ...]]:
    assert report.first is not None and report.priming is not None
    floor = _floor(report)
    n = report.n
    best_floor = min(report.floors, key=lambda w: w.seconds)
    rows: list[tuple[str, ...]] = [
        (
            "floor: bare aiohttp + `orjson.loads`, best of 3",
            f"{floor:.2f} s",
            f"{n / floor:,.0f}",
            "1.00x",
            f"{best_floor.pages:,}",
            f"{best_floor.pages:,} / 0",
            "–",
            "–",
        )
    ]

    def row(label: str, scan: Scan, ratio: str) -> tuple[str, ...]:
        return (
            label,
            f"{scan.seconds:.2f} s",
            f"{n / scan.seconds:,.0f}",
            ratio,
            f"{scan.run['requests']:,}",
            f"{scan.pages:,} / {scan.not_modified:,}",
            f"{_mib(scan.peak_rss)} MiB",
            f"{scan.cpu_serve:.1f} s / {scan.cpu_sim:.1f} s",
        )

    first = report.first
    ratio = f"**{first.seconds / floor:.2f}x**"
    rows.append(row("first scan (serve's start-up run)", first, ratio))
    plain = _best(report.rescans)
    rows.append(
        row(
            f"no-change rescan, best of {len(report.rescans)}",
            plain,
            f"**{plain.seconds / floor:.2f}x**",
        )
    )
    rows.append(
        row(
            "rescan learning the ETags (conditional just switched on)",
            report.priming,
            f"{report.priming.seconds / floor:.2f}x",
        )
    )
    cond = _best(report.conditional)
    rows.append(
        row(
            f"conditional no-change rescan, best of {len(report.conditional)}",
            cond,
            f"{cond.seconds / floor:.2f}x (**{cond.seconds / plain.seconds:.2f}x** the rescan)",
        )
    )
    return rows


def targets(report: Report) -> list[tuple[str, str, str, bool]]:
    assert report.first is not None
    floor = _floor(report)
    plain, cond = _best(report.rescans), _best(report.conditional)
    first_ratio = report.first.seconds / floor
    rescan_ratio = plain.seconds / floor
    cond_ratio = cond.seconds / plain.seconds
    parsed = max(s.pages for s in report.conditional)
    return [
        ("first scan / floor", f"≤ {FIRST_MAX}x", f"{first_ratio:.2f}x", first_ratio <= FIRST_MAX),
        (
            "no-change rescan / floor",
            f"≤ {RESCAN_MAX}x",
            f"{rescan_ratio:.2f}x",
            rescan_ratio <= RESCAN_MAX,
        ),
        (
            "conditional no-change rescan / no-change rescan",
            f"≤ {CONDITIONAL_MAX}x",
            f"{cond_ratio:.2f}x",
            cond_ratio <= CONDITIONAL_MAX,
        ),
        ("full pages sent (so parsed) in a conditional rescan", "0", f"{parsed}", parsed == 0),
        (
            "serve peak RSS over every scan",
            f"< {RSS_BUDGET_MIB} MiB",
            f"{_mib(report.peak)} MiB",
            report.peak < RSS_BUDGET_MIB * MIB,
        ),
    ]


def _details(report: Report) -> list[str]:
    assert report.first is not None
    floors = ", ".join(f"{w.seconds:.2f}" for w in report.floors)
    cfloor = min(report.conditional_floors, key=lambda w: w.seconds)
    mb = report.floors[0].body_bytes / 1e6
    return [
        f"N = {report.n:,} orders, {report.pages:,} pages of {PAGE_SIZE}; mean record "
        f"{report.record_bytes:,.0f} B of JSON; {mb:.1f} MB of page bodies per listing",
        f"first scan: {report.first.observed:.1f} s from starting serve to the poll that saw "
        f"it finished; the mirror then held {report.n:,} live orders and its first 100 "
        "equalled the API's first page",
        "times observed from the resync request to the poll that saw the run finished: "
        + "; ".join(
            f"{label} {', '.join(f'{s.observed:.2f}' for s in scans)} s"
            for label, scans in (
                ("no-change", report.rescans),
                ("conditional", report.conditional),
            )
        ),
        "all runs (started_at -> finished_at): no-change "
        + ", ".join(f"{s.seconds:.2f}" for s in report.rescans)
        + " s; conditional "
        + ", ".join(f"{s.seconds:.2f}" for s in report.conditional)
        + f" s; floor walks {floors} s",
        f"raw 304 floor (the same walk asking each page with `If-None-Match`, best of 3): "
        f"{cfloor.seconds:.2f} s, {cfloor.not_modified:,} 304s, {cfloor.pages} bodies",
        f"serve RSS: {_mib(report.idle_rss)} MiB after the first scan; peak "
        f"{_mib(report.peak)} MiB (VmHWM {_mib(report.hwm)}, sampled {_mib(report.peak_sampled)})",
        f"load average {report.load_before} at the start, {report.load_after} at the end; "
        f"{report.other_cpu}",
    ]


def print_report(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"declared REST source, {report.database}, N={report.n:,}")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "measure" else "right")
    for r in _rows(report):
        table.add_row(*(cell.replace("`", "").replace("**", "") for cell in r))
    console.print(table)
    checks = Table(title="targets")
    for column in ("target", "required", "measured", "result"):
        checks.add_column(column)
    for name, required, measured, passed in targets(report):
        checks.add_row(
            name, required, measured, "[green]PASS[/green]" if passed else "[red]MISS[/red]"
        )
    console.print(checks)
    for line in _details(report):
        console.print(line.replace("`", ""), highlight=False)


def backend_section(report: Report, when: datetime) -> str:
    lines = [
        BACKEND_HEADINGS[report.backend],
        "",
        f"- command: `{report.command}`",
        f"- run: {when:%Y-%m-%d %H:%M} UTC, commit {git_revision()}; load average "
        f"{report.load_before} when the measurements began",
        f"- machine: {machine_line()}",
        f"- database: {report.database}",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "| --- | " + " | ".join("---:" for _ in COLUMNS[1:]) + " |",
        *(f"| {' | '.join(r)} |" for r in _rows(report)),
        "",
        *targets_table(targets(report), failed="MISS"),
        "",
        *(f"- {line}" for line in _details(report)),
    ]
    return "\n".join(lines) + "\n"


def write_results(path: Path, report: Report, when: datetime) -> None:
    """Replace this backend's subsection of ``## rest``; leave everything else."""
    mine = {BACKEND_HEADINGS[report.backend]: backend_section(report, when)}
    write_backend_subsection(path, SECTION, INTRO, BACKEND_HEADINGS.values(), mine)


# --- main ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.rest", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    add_database_url_argument(parser)
    parser.add_argument("--n", type=int, default=100_000, help="orders (100000)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="no-change and conditional rescans each (3)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (bench/RESULTS.md)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    interrupt_on_sigterm()
    argv_list = list(sys.argv[1:] if argv is None else argv)
    if args.n < 1 or args.repeats < 1:
        print("bench.rest: --n and --repeats must be positive", file=sys.stderr)
        return 2
    started = time.perf_counter()
    when = datetime.now(UTC)
    db = create_database(args.database_url, prefix="bench-rest", keep=args.keep_db)
    if db is None:
        return 2
    report = Report(
        backend=db.backend,
        database=db.describe(),
        command=command_line("bench.rest", argv_list),
        n=args.n,
    )
    try:
        measure(report, db, args.repeats)
    except BenchError as exc:
        print(f"bench.rest: {exc}", file=sys.stderr)
        return 1
    finally:
        db.drop()
    print_report(report)
    write_results(args.out, report, when)
    _progress(f"wrote {args.out}; total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    run_main(main, "bench.rest", "processes stopped, database removed")
