"""Memory of ``change-proxy serve`` within a microservice's budget: the server's peak RSS
during the first full sync of N contacts, and during a full resync with unpaged pulls of the
whole feed running at the same time, against a floor measured in the same run.

    .venv/bin/python -m bench.memory                      # SQLite in a temp dir, N=100,000
    .venv/bin/python -m bench.memory --database-url postgresql://postgres@127.0.0.1:5432/

Steps: start the HubSpot simulator (``python -m proxy.simulator``, its own process) with N
contacts and the real ``change-proxy serve`` (a child process, settings by environment, as
in the image) on a fresh database, with ``ADMIN_TOKEN`` and ``FEED_TOKEN`` set and no
periodic syncs. (a) The first full sync, which serve starts by itself on the empty mirror.
(b) Restart the simulator with other content for the same ids, ``POST /admin/resync`` (mode
full) and at once pull ``GET /contacts`` unpaged, pull after pull, until the run has
finished. Then restart serve on the complete mirror: its RSS at idle after start-up. The
floor is a bare interpreter that imports what any aiohttp + SQLAlchemy server of this kind
imports. Peaks are the kernel's (``VmHWM`` of ``/proc/PID/status``, reset between phases
through ``/proc/PID/clear_refs``), cross-checked by sampling ``VmRSS`` every 20 ms. Prints a
table and rewrites this backend's part of the ``## memory`` section of ``bench/RESULTS.md``.
A runner for people: nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.common import (
    RESULTS,
    BenchDatabase,
    BenchError,
    RssSampler,
    ServerProcess,
    add_database_url_argument,
    admin_request,
    command_line,
    create_database,
    git_revision,
    interrupt_on_sigterm,
    load_average,
    machine_line,
    run_main,
    seeded_simulator,
    targets_table,
    wait_run,
    write_backend_subsection,
)

OBJECT_TYPE = "contacts"
SIM_TOKEN = "bench-memory-token"
ADMIN_TOKEN = "bench-memory-admin"
FEED_TOKEN = "bench-memory-feed"
MIB = 2**20
# Sesam's microservice system gives a container this much memory unless docker.memory says
# otherwise (MB, i.e. Docker's `128m`, a cgroup limit in MiB).
SESAM_DEFAULT_MIB = 128
READY_TIMEOUT_S = 900.0  # the first full sync of N, with the server's start-up
RUN_TIMEOUT_S = 900.0  # the measured resync, after its last pull
PULL_TIMEOUT_S = 600.0  # one unpaged pull
# How long the server is left alone before an "at rest" reading: long enough for the
# sync's last commit and the scheduler's bookkeeping, short next to the phases.
SETTLE_S = 3.0
# The environment the image gives serve beyond the settings (Dockerfile ENV), so the
# figures are the deployed process's. ``--env NAME=`` removes one to measure without it.
IMAGE_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072"}
# The floor: what any aiohttp + SQLAlchemy (asyncio) server on this backend imports before
# it does anything. The child prints its own /proc/self/status readings.
FLOOR_IMPORTS = {
    "sqlite": "import aiohttp.web, sqlalchemy.ext.asyncio, aiosqlite",
    "postgresql": "import aiohttp.web, sqlalchemy.ext.asyncio, asyncpg",
}
FLOOR_CODE = "{imports}\nprint(open('/proc/self/status').read())\n"

SECTION = "## memory"
BACKEND_HEADINGS = {"sqlite": "### SQLite", "postgresql": "### PostgreSQL"}
INTRO = f"""{SECTION}

Peak RSS of the real `change-proxy serve` (a child process, configured by environment as the
image runs it) fed by the HubSpot simulator (another process), all on this machine. *(a)*:
the first full sync of N contacts, which serve starts by itself on an empty mirror. *(b)*:
the simulator restarted with other content for the same ids, `POST
/admin/resync?object=contacts&mode=full`, and at once unpaged `GET /contacts` pulls of the
whole feed, one after another, until the run has finished: a full sync that rewrites every
record with a concurrent pull. *idle*: serve restarted on the complete mirror, at rest after
start-up. *floor*: a bare `python -c` importing aiohttp's server, SQLAlchemy's asyncio
extension and the backend's driver, measured in the same run. Peaks are the kernel's
(`VmHWM`, reset between phases), cross-checked by sampling `VmRSS` every 20 ms. MiB (2^20
bytes), the unit of a container's memory limit: Sesam's default `docker.memory` is 128.
How to run: `bench/README.md`.
"""


# --- /proc -------------------------------------------------------------------------------------


def proc_status(pid: int | str) -> dict[str, int]:
    """The ``Vm*`` and ``Rss*`` lines of ``/proc/PID/status``, in bytes."""
    return _parse_status(Path(f"/proc/{pid}/status").read_text())


def _parse_status(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.startswith(("Vm", "Rss")) and value.strip().endswith("kB"):
            out[name] = int(value.split()[0]) * 1024
    return out


def reset_peak(pid: int) -> None:
    """Reset the process's ``VmHWM`` to its current RSS (Linux >= 4.0; our own child)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@dataclass
class Reading:
    """One phase's memory: the kernel's peak, the sampled peak, and RSS at rest after."""

    hwm: int  # VmHWM at the end of the phase (reset at its start)
    sampled: int  # largest VmRSS seen by the 20 ms sampler
    after: int = 0  # VmRSS SETTLE_S after the phase ended
    anon_after: int = 0  # of which anonymous (heap, stacks): what malloc holds
    seconds: float = 0.0

    @property
    def peak(self) -> int:
        """The larger of the two: the kernel folds its per-CPU RSS counters into VmHWM only
        now and then, so a sample can come out a few hundred KB above it."""
        return max(self.hwm, self.sampled)


@dataclass
class Pull:
    seconds: float
    entities: int
    body_bytes: int


@dataclass
class Report:
    backend: str
    database: str
    command: str
    n: int
    env: dict[str, str]
    load_before: str = ""
    floor: dict[str, int] = field(default_factory=dict)
    first_sync: Reading | None = None
    resync: Reading | None = None
    idle: dict[str, int] = field(default_factory=dict)
    pulls: list[Pull] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)


def _progress(message: str) -> None:
    print(f"[bench.memory] {message}", file=sys.stderr, flush=True)


# --- the measurements -------------------------------------------------------------------------


def measure_floor(backend: str, env: dict[str, str]) -> dict[str, int]:
    code = FLOOR_CODE.format(imports=FLOOR_IMPORTS[backend])
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return _parse_status(done.stdout)


async def pull_unpaged(session: aiohttp.ClientSession, base_url: str) -> tuple[Pull, bytes]:
    """One ``GET /contacts`` of the whole feed, read as it arrives; the body is returned to
    be verified (:func:`verify`) once the measured phase is over, so the pulls follow each
    other without gaps."""
    headers = {"Authorization": f"Bearer {FEED_TOKEN}"}
    body = bytearray()
    t0 = time.perf_counter()
    async with session.get(f"{base_url}/{OBJECT_TYPE}", headers=headers) as resp:
        if resp.status != 200:
            raise BenchError(f"GET /{OBJECT_TYPE}: {resp.status} {(await resp.read())[:300]!r}")
        async for chunk in resp.content.iter_chunked(1 << 20):
            body += chunk
    return Pull(time.perf_counter() - t0, 0, len(body)), bytes(body)


def verify(pull: Pull, body: bytes) -> None:
    """A JSON array, ``_updated`` strictly ascending, each ``_id`` once; sets the pull's
    entity count. (During a sync a pull may hold fewer than N: a record rewritten ahead of
    the pull moves past the response's pinned end and comes with the next since-pull.)"""
    entities = orjson.loads(body)
    if not isinstance(entities, list) or not entities:
        raise BenchError(f"GET /{OBJECT_TYPE}: not a non-empty JSON array")
    updated = [e["_updated"] for e in entities]
    if any(b <= a for a, b in itertools.pairwise(updated)):
        raise BenchError(f"GET /{OBJECT_TYPE}: _updated not strictly ascending")
    if len({e["_id"] for e in entities}) != len(entities):
        raise BenchError(f"GET /{OBJECT_TYPE}: an _id came twice")
    pull.entities = len(entities)


async def resync_with_pulls(base_url: str) -> tuple[dict[str, Any], list[tuple[Pull, bytes]]]:
    """Ask for a full sync and pull the whole feed, unpaged, pull after pull, until the run
    has finished (at least once). The bodies are kept for :func:`verify`: a few hundred MB
    each at N=100,000, in this process, not the server's."""
    timeout = aiohttp.ClientTimeout(total=PULL_TIMEOUT_S)
    pulls: list[tuple[Pull, bytes]] = []
    async with aiohttp.ClientSession(timeout=timeout) as session:
        queued = await admin_request(
            session, "POST", f"{base_url}/admin/resync?object={OBJECT_TYPE}&mode=full", ADMIN_TOKEN
        )
        run_id = int(queued["run_id"])
        while True:
            pulls.append(await pull_unpaged(session, base_url))
            run = await admin_request(
                session, "GET", f"{base_url}/admin/runs/{run_id}", ADMIN_TOKEN
            )
            if run["status"] not in ("queued", "running"):
                break
    return await wait_run(base_url, run_id, RUN_TIMEOUT_S, ADMIN_TOKEN), pulls


def _at_rest(server: ServerProcess, reading: Reading) -> None:
    time.sleep(SETTLE_S)
    status = proc_status(server.pid)
    reading.after, reading.anon_after = status["VmRSS"], status.get("RssAnon", 0)


def measure(report: Report, db: BenchDatabase) -> None:
    workdir = db.workdir
    sim = seeded_simulator(report.n, workdir / "simulator-seed0.log", token=SIM_TOKEN)
    try:
        base = sim.wait_listening()
        _progress(f"simulator with {report.n:,} contacts at {base}; starting serve")
        env = {
            **report.env,
            "HUBSPOT_BASE_URL": base,
            "HUBSPOT_ACCESS_TOKEN": SIM_TOKEN,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "FEED_TOKEN": FEED_TOKEN,
            # Only the syncs this benchmark asks for: the first full sync (at start, as the
            # mirror is empty) and the measured resync.
            "SYNC_INTERVAL_SECONDS": "0",
            "FULL_SYNC_CRON": "",
            # Unpaced: the sync writes as fast as it can, the most pages in flight at once.
            "HUBSPOT_REQUESTS_PER_10S": "1000000",
            "HUBSPOT_SEARCH_PER_SECOND": "1000",
        }
        report.load_before = load_average()
        with ServerProcess(db.url, workdir / "server.log", **env) as server:
            try:
                # (a) From the process's start: VmHWM covers start-up and the first sync.
                t0 = time.perf_counter()
                with RssSampler(server.process) as sampler:
                    asyncio.run(server.wait_ready(OBJECT_TYPE, within=READY_TIMEOUT_S))
                    hwm = proc_status(server.pid)["VmHWM"]
                first = Reading(hwm, sampler.peak, seconds=time.perf_counter() - t0)
                _at_rest(server, first)
                report.first_sync = first
                _progress(
                    f"(a) first full sync ready in {first.seconds:.1f} s; peak {_mib(hwm)} MiB"
                )

                sim.stop()
                sim = seeded_simulator(
                    report.n,
                    workdir / "simulator-seed1.log",
                    token=SIM_TOKEN,
                    seed=1,
                    port=sim.port,
                )
                sim.wait_listening()
                _progress("simulator restarted with --seed 1; resync + unpaged pulls")

                # (b) The peak from here on only.
                reset_peak(server.pid)
                t0 = time.perf_counter()
                with RssSampler(server.process) as sampler:
                    report.run, pulls = asyncio.run(resync_with_pulls(server.base_url))
                    hwm = proc_status(server.pid)["VmHWM"]
                resync = Reading(hwm, sampler.peak, seconds=time.perf_counter() - t0)
                _at_rest(server, resync)
                report.resync = resync
                while pulls:
                    pull, body = pulls.pop(0)
                    verify(pull, body)
                    report.pulls.append(pull)
                    del body
                run = report.run
                if run["status"] != "succeeded":
                    raise BenchError(f"the measured resync failed: {run.get('error')}")
                if run["updated"] < report.n * 0.99:
                    raise BenchError(
                        f"the measured resync updated {run['updated']:,} of {report.n:,} "
                        "contacts: it did not rewrite the mirror"
                    )
                _progress(
                    f"(b) resync with {len(report.pulls)} unpaged pull(s): peak {_mib(hwm)} MiB"
                )
            except BaseException as exc:
                if not isinstance(exc, BenchError):
                    print(f"server log tail:\n{server.log_tail()}", file=sys.stderr)
                raise

        # idle: a restart on the complete mirror; no sync runs (none is due).
        with ServerProcess(db.url, workdir / "server-idle.log", **env) as server:
            asyncio.run(server.wait_ready(OBJECT_TYPE, within=READY_TIMEOUT_S))
            time.sleep(SETTLE_S)
            report.idle = proc_status(server.pid)
        _progress(f"idle after start-up: {_mib(report.idle['VmRSS'])} MiB")
    finally:
        sim.stop()
    report.floor = measure_floor(report.backend, report.env)


# --- output ----------------------------------------------------------------------------------


def _mib(n: int) -> str:
    return f"{n / MIB:.1f}"


def _ratio(n: int, floor: int) -> str:
    return f"{n / floor:.2f}x" if floor else "–"


COLUMNS = ("measure", "peak RSS (VmHWM)", "sampled peak", "RSS at rest after", "/ floor")


def _rows(report: Report) -> list[tuple[str, ...]]:
    assert report.first_sync is not None and report.resync is not None
    floor = report.floor["VmRSS"]
    imports = FLOOR_IMPORTS[report.backend].removeprefix("import ")
    rows: list[tuple[str, ...]] = [
        (f"floor: `python -c 'import {imports}'`", f"{_mib(floor)} MiB", "–", "–", "1.00x"),
        (
            "idle: serve restarted on the complete mirror (start-up peak / at rest)",
            f"{_mib(report.idle['VmHWM'])} MiB",
            "–",
            f"{_mib(report.idle['VmRSS'])} MiB",
            _ratio(report.idle["VmRSS"], floor),
        ),
    ]
    for label, reading in (
        (f"(a) start-up + first full sync of {report.n:,}", report.first_sync),
        (
            f"(b) full resync + {len(report.pulls)} unpaged pull(s) at once",
            report.resync,
        ),
    ):
        rows.append(
            (
                label,
                f"**{_mib(reading.hwm)} MiB**",
                f"{_mib(reading.sampled)} MiB",
                f"{_mib(reading.after)} MiB",
                _ratio(reading.hwm, floor),
            )
        )
    return rows


def peak(report: Report) -> int:
    assert report.first_sync is not None and report.resync is not None
    return max(report.first_sync.peak, report.resync.peak)


def targets(report: Report) -> list[tuple[str, str, str, bool]]:
    budget = SESAM_DEFAULT_MIB * MIB
    return [
        (
            "peak RSS, (a) and (b) (the larger of VmHWM and the samples)",
            f"< {SESAM_DEFAULT_MIB} MiB (Sesam's default `docker.memory`)",
            f"{_mib(peak(report))} MiB ({peak(report) / budget:.0%} of it)",
            peak(report) < budget,
        )
    ]


def _run_seconds(run: dict[str, Any]) -> float:
    started = datetime.fromisoformat(run["started_at"])
    return (datetime.fromisoformat(run["finished_at"]) - started).total_seconds()


def _details(report: Report) -> list[str]:
    assert report.first_sync is not None and report.resync is not None
    run = report.run
    entities = ", ".join(f"{p.entities:,}" for p in report.pulls)
    seconds = ", ".join(f"{p.seconds:.2f}" for p in report.pulls)
    mb = sum(p.body_bytes for p in report.pulls) / len(report.pulls) / 1e6
    env = ", ".join(f"`{k}={v}`" for k, v in sorted(report.env.items())) or "none"
    return [
        f"(a) the first full sync: {report.first_sync.seconds:.1f} s from starting serve to a "
        f"ready feed",
        f"(b) the resync: {run['mode']} sync {run['id']}, {run['status']}: fetched "
        f"{run['fetched']:,}, updated {run['updated']:,}, created {run['created']:,}, "
        f"{run['requests']:,} requests, {_run_seconds(run):.1f} s from its start to its end; "
        f"{report.resync.seconds:.1f} s from the request to the end of the last pull",
        f"(b) the pulls: {len(report.pulls)}, one after another from the resync request on, "
        f"~{mb:.0f} MB each; entities {entities}; seconds {seconds}",
        f"anonymous memory (heap) at rest: after (a) {_mib(report.first_sync.anon_after)} MiB, "
        f"after (b) {_mib(report.resync.anon_after)} MiB, idle "
        f"{_mib(report.idle.get('RssAnon', 0))} MiB (floor "
        f"{_mib(report.floor.get('RssAnon', 0))} MiB); the rest is mapped files (code)",
        f"environment beyond the settings: {env}",
    ]


def print_report(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"memory of serve, {report.database}, N={report.n:,}")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "measure" else "right")
    for row in _rows(report):
        table.add_row(*(cell.replace("`", "").replace("**", "") for cell in row))
    console.print(table)
    checks = Table(title="targets")
    for column in ("target", "required", "measured", "result"):
        checks.add_column(column)
    for name, required, measured, passed in targets(report):
        checks.add_row(
            name,
            required.replace("`", ""),
            measured,
            "[green]PASS[/green]" if passed else "[red]FAIL[/red]",
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
        f"- N = {report.n:,} contacts; serve's settings: `ADMIN_TOKEN`, `FEED_TOKEN` set, "
        "`SYNC_INTERVAL_SECONDS=0`, `FULL_SYNC_CRON=` empty, "
        "`HUBSPOT_REQUESTS_PER_10S=1000000` (the sync unpaced), the rest default",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "| --- | ---: | ---: | ---: | ---: |",
        *(f"| {' | '.join(row)} |" for row in _rows(report)),
        "",
        *targets_table(targets(report)),
        "",
        *(f"- {line}" for line in _details(report)),
    ]
    return "\n".join(lines) + "\n"


def write_results(path: Path, report: Report, when: datetime) -> None:
    """Replace this backend's subsection of ``## memory``; leave everything else."""
    mine = {BACKEND_HEADINGS[report.backend]: backend_section(report, when)}
    write_backend_subsection(path, SECTION, INTRO, BACKEND_HEADINGS.values(), mine)


# --- main ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    add_database_url_argument(parser)
    parser.add_argument("--n", type=int, default=100_000, help="contacts (100000)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for serve and the floor, on top of the image's "
        f"({', '.join(f'{k}={v}' for k, v in IMAGE_ENV.items())}); NAME= removes one",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (bench/RESULTS.md)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    return parser


def _environment(pairs: Sequence[str]) -> dict[str, str]:
    """The image's environment with ``--env`` applied. A name given empty is removed here
    and from this process's environment, which the children inherit."""
    env = dict(IMAGE_ENV)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--env {pair!r}: expected NAME=VALUE")
        if value:
            env[name] = value
        else:
            env.pop(name, None)
            os.environ.pop(name, None)
    return env


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    interrupt_on_sigterm()
    argv_list = list(sys.argv[1:] if argv is None else argv)
    if args.n < 1:
        print("bench.memory: --n must be positive", file=sys.stderr)
        return 2
    try:
        env = _environment(args.env)
    except ValueError as exc:
        print(f"bench.memory: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    when = datetime.now(UTC)
    db = create_database(args.database_url, prefix="bench-memory", keep=args.keep_db)
    if db is None:
        return 2
    report = Report(
        backend=db.backend,
        database=db.describe(),
        command=command_line("bench.memory", argv_list),
        n=args.n,
        env=env,
    )
    try:
        measure(report, db)
    except BenchError as exc:
        print(f"bench.memory: {exc}", file=sys.stderr)
        return 1
    finally:
        db.drop()
    print_report(report)
    write_results(args.out, report, when)
    _progress(f"wrote {args.out}; total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    run_main(main, "bench.memory", "processes stopped, database removed")
