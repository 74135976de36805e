"""What every benchmark needs: a throwaway database, the real server as a child process, an
RSS sampler, the machine description, and writing one's own section of ``RESULTS.md``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, NoReturn, Self

import aiohttp
import orjson
import psutil  # type: ignore[import-untyped]  # no stubs in the venv
from sqlalchemy.engine import make_url

from proxy.config import SETTINGS, Settings, load_settings

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "RESULTS.md"


class BenchError(Exception):
    """A benchmark could not run (setup failed, or a result failed verification)."""


# --- the database -----------------------------------------------------------------------------


@dataclass
class BenchDatabase:
    """A database this run created and will drop: a SQLite file, or a Postgres database.

    Never touches a database that existed before: a named SQLite file must not exist yet, and
    a named Postgres database must not exist yet (the run refuses rather than reuse it)."""

    url: str  # plain URL, as DATABASE_URL takes it
    backend: str  # "sqlite" | "postgresql"
    workdir: Path  # temp dir for the server log (and the default SQLite file)
    sqlite_path: Path | None = None
    pg_admin_dsn: str | None = None  # the maintenance database, to CREATE/DROP from
    pg_name: str | None = None
    keep: bool = False
    _created: bool = field(default=False, repr=False)

    @classmethod
    def create(cls, url: str | None, *, prefix: str, keep: bool = False) -> BenchDatabase:
        workdir = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
        try:
            db = cls._create(url, prefix=prefix, workdir=workdir, keep=keep)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        return db

    @classmethod
    def _create(cls, url: str | None, *, prefix: str, workdir: Path, keep: bool) -> BenchDatabase:
        if url is None:
            path = workdir / "mirror.db"
            return cls(f"sqlite:///{path}", "sqlite", workdir, sqlite_path=path, keep=keep)
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            if not parsed.database:
                raise BenchError("--database-url: SQLite needs a file path")
            path = Path(parsed.database).resolve()
            if path.exists():
                raise BenchError(f"{path} exists; the benchmark only uses a database it creates")
            return cls(f"sqlite:///{path}", "sqlite", workdir, sqlite_path=path, keep=keep)
        if backend != "postgresql":
            raise BenchError(f"--database-url: unsupported backend {backend!r}")
        name = parsed.database or f"{prefix.replace('-', '_')}_{secrets.token_hex(4)}"
        if not name.replace("_", "").isalnum():
            raise BenchError(f"--database-url: use a plain database name, not {name!r}")
        plain = parsed.set(drivername="postgresql")
        admin = plain.set(database="postgres").render_as_string(hide_password=False)
        db = cls(
            plain.set(database=name).render_as_string(hide_password=False),
            "postgresql",
            workdir,
            pg_admin_dsn=admin,
            pg_name=name,
            keep=keep,
        )
        asyncio.run(db._pg_create())
        db._created = True
        return db

    async def _pg_create(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(self.pg_admin_dsn)
        try:
            exists = await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", self.pg_name
            )
            if exists:
                raise BenchError(
                    f"database {self.pg_name!r} exists; the benchmark only uses a database it "
                    f"creates (drop it with: psql -c 'DROP DATABASE {self.pg_name}')"
                )
            await conn.execute(f'CREATE DATABASE "{self.pg_name}"')
        finally:
            await conn.close()

    async def _pg_drop(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.pg_admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        finally:
            await conn.close()

    def server_version(self) -> str:
        if self.backend == "sqlite":
            return f"SQLite {sqlite3.sqlite_version}"
        import asyncpg

        async def query() -> str:
            conn = await asyncpg.connect(self.url)
            try:
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()

        return f"PostgreSQL {asyncio.run(query())}"

    def describe(self) -> str:
        """E.g. ``SQLite 3.40.1, a fresh file (WAL)``, ``PostgreSQL 15.4, a fresh database on
        127.0.0.1:5432``."""
        if self.backend == "sqlite":
            return f"{self.server_version()}, a fresh file (WAL)"
        parsed = make_url(self.url)
        where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
        return f"{self.server_version()}, a fresh database on {where}"

    def drop(self) -> None:
        """Remove what :meth:`create` made (unless ``keep``); safe to call twice."""
        if self.keep:
            print(f"kept the database: {self.url}", file=sys.stderr)
            if self.sqlite_path is None or self.workdir not in self.sqlite_path.parents:
                shutil.rmtree(self.workdir, ignore_errors=True)
            return
        if self.backend == "postgresql" and self._created:
            asyncio.run(self._pg_drop())
            self._created = False
        if self.sqlite_path is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.sqlite_path}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(self.workdir, ignore_errors=True)


# --- the server -------------------------------------------------------------------------------


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a child process's log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def stop_process(popen: subprocess.Popen[bytes]) -> None:
    """Terminate a child process, killing it if it does not exit within 10 s."""
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout=10)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def change_proxy_executable() -> str:
    """The venv's ``change-proxy`` (next to the running interpreter), else the one on PATH."""
    beside = Path(sys.executable).parent / "change-proxy"
    if beside.exists():
        return str(beside)
    found = shutil.which("change-proxy")
    if found is None:
        raise BenchError("change-proxy is not installed (pip install -e . into the venv)")
    return found


class ChildProcess:
    """A child process logging to ``log_path``; a context manager that stops it on exit."""

    popen: subprocess.Popen[bytes]
    log_path: Path
    _log: BinaryIO

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of its log."""
        return log_tail(self.log_path, lines)

    def stop(self) -> None:
        """Stop the process (terminate, then kill) and close its log."""
        stop_process(self.popen)
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def clean_environment() -> dict[str, str]:
    """This process's environment without any of the proxy's settings: what a benchmark
    sets is all that is in effect, whatever the caller has exported."""
    return {k: v for k, v in os.environ.items() if k not in {s.name for s in SETTINGS}}


def bench_settings(**values: str) -> Settings:
    """Settings for sync runs in the benchmark's own process: ``values`` on a clean
    environment, logging at WARNING."""
    return load_settings(env={**clean_environment(), "LOG_LEVEL": "WARNING", **values})


class ServerProcess(ChildProcess):
    """``change-proxy serve`` on a free port, sync disabled, logs to a file. A context
    manager: the process is stopped on exit, whatever happened."""

    def __init__(self, database_url: str, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        environ = clean_environment()
        environ.update(
            DATABASE_URL=database_url,
            HUBSPOT_ACCESS_TOKEN="bench-token",
            HUBSPOT_BASE_URL="http://127.0.0.1:9",  # never used: sync is disabled
            SYNC_INTERVAL_SECONDS="0",
            FULL_SYNC_CRON="",
            HOST="127.0.0.1",
            PORT=str(self.port),
            LOG_LEVEL="WARNING",
        )
        environ.update(env)
        self.command = [change_proxy_executable(), "serve"]
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(
            self.command, env=environ, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO
        )
        self.process = psutil.Process(self.popen.pid)

    @property
    def pid(self) -> int:
        return self.popen.pid

    async def wait_ready(self, object_type: str, *, within: float = 60.0) -> dict[str, object]:
        """Poll ``GET /health`` until it answers 200 with ``object_type`` ready."""
        deadline = time.monotonic() + within
        last = "no answer yet"
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.popen.poll() is not None:
                    raise BenchError(
                        f"change-proxy serve exited with {self.popen.returncode}:\n"
                        + self.log_tail()
                    )
                try:
                    async with session.get(
                        f"{self.base_url}/health", timeout=aiohttp.ClientTimeout(total=5)
                    ) as resp:
                        body = await resp.json(content_type=None)
                        objects = body.get("objects", {}) if isinstance(body, dict) else {}
                        if resp.status == 200 and objects.get(object_type, {}).get("ready"):
                            return dict(body)
                        last = f"{resp.status} {body}"
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    last = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(0.1)
        raise BenchError(
            f"server not ready after {within:.0f}s (last: {last}):\n" + self.log_tail()
        )


async def admin_request(
    session: aiohttp.ClientSession, method: str, url: str, token: str
) -> dict[str, Any]:
    """One request to the server's admin API with ``token``; a JSON object, or BenchError."""
    headers = {"Authorization": f"Bearer {token}"}
    async with session.request(method, url, headers=headers) as resp:
        body = await resp.read()
        if resp.status >= 300:
            raise BenchError(f"{method} {url}: {resp.status} {body[:300]!r}")
    out = orjson.loads(body)
    if not isinstance(out, dict):
        raise BenchError(f"{method} {url}: not a JSON object")
    return out


async def wait_run(base_url: str, run_id: int, within: float, token: str) -> dict[str, Any]:
    """The run's record once it has finished (bounded wait, polled twice a second)."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            run = await admin_request(session, "GET", f"{base_url}/admin/runs/{run_id}", token)
            if run["status"] in ("succeeded", "failed"):
                return run
            await asyncio.sleep(0.5)
    raise BenchError(f"sync run {run_id} did not finish within {within:.0f} s")


def cpu_seconds(process: psutil.Process) -> float:
    """A process's CPU time so far (user + system); 0 once it is gone."""
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


# --- the HubSpot simulator --------------------------------------------------------------------


def request_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """What the simulator answered between two ``/_sim/stats`` snapshots, by route."""
    old, new = before.get("requests", {}), after.get("requests", {})
    keys = sorted(set(old) | set(new))
    return {k: int(new.get(k, 0)) - int(old.get(k, 0)) for k in keys if new.get(k) != old.get(k)}


class SimulatorProcess(ChildProcess):
    """``python -m proxy.simulator --port 0`` as a child process, logging to a file; stopped
    on exit. Its own process, so it never shares an event loop (or the GIL) with what it
    serves. The port it picked is read from the line it prints once it accepts connections
    (after creating its ``--contacts``), so there is no race for a free port."""

    def __init__(
        self,
        log_path: Path,
        *,
        token: str,
        args: Sequence[str] = (),
        port: int = 0,
        module: str = "proxy.simulator",
    ) -> None:
        self.log_path = log_path
        self.token = token
        tokens = ["--token", token] if token else []  # the REST simulator asks for none
        self.command = [
            sys.executable, "-m", module, "--port", str(port), *tokens, *args,
        ]  # fmt: skip
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(
            self.command, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO
        )
        self.process = psutil.Process(self.popen.pid)
        self.base_url = ""

    def wait_listening(self, within: float = 120.0) -> str:
        """The base URL, once the simulator says it is listening (bounded wait)."""
        marker = "simulator listening on "
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise BenchError(
                    f"the simulator exited with {self.popen.returncode}:\n{self.log_tail()}"
                )
            for line in self.log_path.read_text(errors="replace").splitlines():
                if marker in line:  # "simulator ..." (HubSpot's), "rest simulator ..."
                    self.base_url = line.split(marker, 1)[1].strip()
                    return self.base_url
            time.sleep(0.05)
        raise BenchError(f"the simulator did not start within {within:.0f} s")

    @property
    def port(self) -> int:
        """The port it listens on (after :meth:`wait_listening`), to restart it on the same one."""
        return int(self.base_url.rsplit(":", 1)[1])

    async def control(
        self, session: aiohttp.ClientSession, method: str, path: str, body: object = None
    ) -> dict[str, Any]:
        """One ``/_sim/...`` control request (no token, not counted in the stats); a JSON
        object back, or :class:`BenchError`."""
        async with session.request(
            method,
            f"{self.base_url}{path}",
            json=body,
            timeout=aiohttp.ClientTimeout(total=600),  # creating 100,000 contacts takes a while
        ) as resp:
            raw = await resp.read()
            if resp.status != 200:
                raise BenchError(f"{method} {path}: {resp.status} {raw[:300]!r}")
        out = orjson.loads(raw)
        if not isinstance(out, dict):
            raise BenchError(f"{method} {path}: not a JSON object")
        return out

    async def stats(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        return await self.control(session, "GET", "/_sim/stats")

    async def mutate(self, session: aiohttp.ClientSession, body: dict[str, Any]) -> dict[str, Any]:
        return await self.control(session, "POST", "/_sim/mutate", body)


def seeded_simulator(
    contacts: int, log_path: Path, *, token: str, seed: int = 0, port: int = 0
) -> SimulatorProcess:
    """The simulator with ``contacts`` contacts of ``seed``'s content, on ``port`` (0: any)."""
    args = ["--contacts", str(contacts), "--seed", str(seed)]
    return SimulatorProcess(log_path, token=token, args=args, port=port)


class RssSampler:
    """Samples a process's RSS every ``interval`` seconds in a background thread; ``peak``
    is the largest sample seen between ``__enter__`` and ``__exit__``."""

    def __init__(self, process: psutil.Process, interval: float = 0.02) -> None:
        self.process = process
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            self.peak = max(self.peak, self.process.memory_info().rss)
            self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


class OtherCpu:
    """CPU time the rest of the machine used between ``__enter__`` and ``__exit__``: a figure
    to read timings against on a shared machine. Everything counts as "other" except
    ``processes`` and whatever ``find_own`` returns (called at both ends, e.g. the database
    server's backends for this run's database)."""

    def __init__(
        self,
        *processes: psutil.Process,
        find_own: Callable[[], list[psutil.Process]] | None = None,
    ) -> None:
        self.processes = processes
        self.find_own = find_own
        self.seconds = 0.0  # CPU-seconds used by other processes
        self.wall = 0.0
        self._start: tuple[float, float, dict[int, float]] = (0.0, 0.0, {})

    @staticmethod
    def _busy() -> float:
        # irq and softirq time is left out: loopback traffic of our own pulls lands there.
        t = psutil.cpu_times()
        return float(t.user + t.nice + t.system)

    def _own(self) -> dict[int, float]:
        found = [*self.processes, *(self.find_own() if self.find_own else [])]
        out: dict[int, float] = {}
        for proc in found:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                out[proc.pid] = t.user + t.system
        return out

    def __enter__(self) -> OtherCpu:
        self._start = (time.time(), self._busy(), self._own())
        return self

    def __exit__(self, *exc: object) -> None:
        started, busy0, own0 = self._start
        busy1, own1 = self._busy(), self._own()
        self.wall = time.time() - started
        own = 0.0
        for pid, cpu in own1.items():
            if pid in own0:
                own += cpu - own0[pid]
            else:  # appeared meanwhile: all of its CPU time is ours if it started after us
                with contextlib.suppress(psutil.Error):
                    if psutil.Process(pid).create_time() >= started:
                        own += cpu
        self.seconds = max(0.0, (busy1 - busy0) - own)

    def describe(self) -> str:
        cores = psutil.cpu_count() or 1
        share = self.seconds / (self.wall * cores) * 100 if self.wall else 0.0
        return (
            f"{self.seconds:.1f} CPU-s used by other processes during the {self.wall:.0f} s of "
            f"measurements ({share:.0f}% of the machine)"
        )


def postgres_backends(database: str) -> list[psutil.Process]:
    """The Postgres server processes working for ``database`` (backends, autovacuum)."""
    marker = f" {database} "
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or []) + " "
        if cmdline.startswith("postgres:") and marker in cmdline:
            found.append(proc)
    return found


# --- describing the run -----------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return f"{line.split('=', 1)[1].strip(chr(34))}, Linux {platform.release()}"
    except OSError:
        pass
    return platform.platform()


def machine_line() -> str:
    logical = psutil.cpu_count(logical=True) or os.cpu_count() or 0
    physical = psutil.cpu_count(logical=False)
    cores = f"{logical} logical cores" + (f" ({physical} physical)" if physical else "")
    ram = psutil.virtual_memory().total / 2**30
    return (
        f"{_cpu_model()}, {cores}, {ram:.1f} GiB RAM; Python {platform.python_version()}; "
        f"SQLite {sqlite3.sqlite_version}; {_os_name()}"
    )


def load_average() -> str:
    """The 1/5/15-minute load averages: other work on the machine skews every figure."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def git_revision() -> str:
    """``abc1234`` or ``abc1234 (+ uncommitted changes)``; read-only git commands only."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # status must not touch the index
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "proxy", "migrations"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} (+ uncommitted changes in proxy/)" if dirty else head


def command_line(module: str, argv: list[str]) -> str:
    """The command as a person would type it from the repository root."""
    import shlex

    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(REPO) if python.is_absolute() else python
    return shlex.join([str(python), "-m", module, *argv])


# --- RESULTS.md sections ----------------------------------------------------------------------


def _heading_level(line: str) -> int:
    stripped = line.rstrip()
    hashes = len(stripped) - len(stripped.lstrip("#"))
    if 0 < hashes <= 6 and (len(stripped) == hashes or stripped[hashes] == " "):
        return hashes
    return 0


def _find_section(lines: list[str], heading: str) -> tuple[int, int] | None:
    """Line range [start, end) of the section whose heading line is ``heading``: up to the
    next heading of the same or a higher level (fenced code blocks are skipped)."""
    level = _heading_level(heading)
    start: int | None = None
    fenced = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        if start is None:
            if line.rstrip() == heading:
                start = i
        elif 0 < _heading_level(line) <= level:
            return start, i
    return None if start is None else (start, len(lines))


def get_section(text: str, heading: str) -> str | None:
    lines = text.splitlines()
    found = _find_section(lines, heading)
    if found is None:
        return None
    return "\n".join(lines[found[0] : found[1]]).rstrip() + "\n"


def replace_section(text: str, heading: str, section: str) -> str:
    """``text`` with the section headed ``heading`` replaced by ``section`` (which starts
    with that heading line), or with ``section`` appended when there is none."""
    lines = text.splitlines()
    found = _find_section(lines, heading)
    new = section.rstrip().splitlines()
    if found is None:
        while lines and not lines[-1].strip():
            lines.pop()
        out = [*lines, "", *new] if lines else new
    else:
        start, end = found
        tail = lines[end:]
        out = [*lines[:start], *new, *([""] if tail else []), *tail]
    return "\n".join(out).rstrip() + "\n"


def targets_table(
    targets: Iterable[tuple[str, str, str, bool]], *, failed: str = "FAIL"
) -> list[str]:
    """The Markdown lines of a targets table: one row per (target, required, measured, met);
    a target not met reads ``failed``."""
    return [
        "| target | required | measured | result |",
        "| --- | --- | --- | --- |",
        *(
            f"| {name} | {required} | {measured} | {'PASS' if passed else failed} |"
            for name, required, measured, passed in targets
        ),
    ]


def rebuild_section(
    intro: str, old: str | None, headings: Iterable[str], new: dict[str, str]
) -> str:
    """``intro`` followed by the subsections ``headings``: from ``new`` where given, else as
    they are in ``old`` (the section as it was), in that order."""
    section = intro
    for heading in headings:
        sub = new.get(heading) or (get_section(old, heading) if old is not None else None)
        if sub is not None:
            section = replace_section(section, heading, sub)
    return section


def write_backend_subsection(
    path: Path, heading: str, intro: str, headings: Iterable[str], mine: dict[str, str]
) -> None:
    """Replace one backend's subsection (``mine``) of section ``heading``; leave the rest."""
    text = path.read_text() if path.exists() else RESULTS_PREAMBLE
    old = get_section(text, heading)
    path.write_text(replace_section(text, heading, rebuild_section(intro, old, headings, mine)))


RESULTS_PREAMBLE = """# Benchmark results

Written by the runners in `bench/` (see `bench/README.md`); each benchmark owns one `## <name>`
section and rewrites only that one. Figures are from one machine and one run: compare runs
on the same machine, not across machines.
"""


# --- the command line -------------------------------------------------------------------------


def add_database_url_argument(parser: argparse.ArgumentParser) -> None:
    """``--database-url``, as the runners that create their own database take it."""
    parser.add_argument(
        "--database-url",
        help="default a SQLite file in a temp dir; postgresql://user@host:port/[NAME] creates "
        "(NAME must not exist) and drops a database",
    )


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def interrupt_on_sigterm() -> None:
    """Make SIGTERM clean up like Ctrl-C does (a KeyboardInterrupt through the finally blocks)."""
    signal.signal(signal.SIGTERM, _interrupt)


def create_database(url: str | None, *, prefix: str, keep: bool) -> BenchDatabase | None:
    """:meth:`BenchDatabase.create`, or None after saying on stderr why it could not."""
    try:
        return BenchDatabase.create(url, prefix=prefix, keep=keep)
    except Exception as exc:  # BenchError, or the database server refusing
        print(f"{prefix.replace('-', '.')}: cannot create the database: {exc}", file=sys.stderr)
        return None


def run_main(main: Callable[[], int], name: str, cleaned: str) -> NoReturn:
    """Exit with ``main()``'s code, or 130 saying ``cleaned`` after Ctrl-C or SIGTERM."""
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # main's finally blocks have cleaned up by now
        print(f"{name}: interrupted; {cleaned}", file=sys.stderr)
        raise SystemExit(130) from None
