"""Real processes for the tests that kill, stop and restart them: the HubSpot simulator
(``python -m proxy.simulator``), the filterless REST simulator (``python -m
proxy.simulator.rest``) and ``change-proxy serve``, each with its log in a file."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from proxy.config import SETTINGS

ADMIN_TOKEN = "admin-token-for-process-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env() -> dict[str, str]:
    """The environment without any of the service's settings (a developer's shell may set
    some)."""
    names = {s.name for s in SETTINGS}
    return {k: v for k, v in os.environ.items() if k not in names}


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class SimulatorProcess:
    """The simulator as its own process, so it outlives the proxies a test kills."""

    def __init__(self, workdir: Path, contacts: int, *extra: str) -> None:
        self.workdir = workdir
        self.contacts = contacts
        self.extra = extra
        self.log_path = workdir / "simulator.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = "sim-token"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> SimulatorProcess:
        log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "proxy.simulator",
            "--port", str(self.port), "--contacts", str(self.contacts), *self.extra,
            stdout=log, stderr=asyncio.subprocess.STDOUT, env=_clean_env(),
        )  # fmt: skip
        log.close()
        await wait_for_http(f"{self.url}/_sim/stats", self.proc, self.log_path)
        return self

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, self.url + path, data=orjson.dumps(body) if body is not None else None
            ) as resp,
        ):
            data = orjson.loads(await resp.read())
            if resp.status >= 400:
                raise AssertionError(f"{method} {path}: {resp.status} {data}")
            return data

    async def mutate(self, **op: Any) -> Any:
        return await self.call("POST", "/_sim/mutate", op)

    async def faults(self, **changes: Any) -> Any:
        return await self.call("POST", "/_sim/faults", changes)

    async def snapshot(self) -> dict[str, Any]:
        data: dict[str, Any] = await self.call("GET", "/_sim/snapshot")
        return data

    async def stop(self) -> None:
        await stop_process(self.proc)


class RestSimulatorProcess(SimulatorProcess):
    """The filterless REST simulator as its own process (the same ``/_sim/`` controls;
    ``snapshot`` answers ``{"records": [...], "gone": [ids]}``)."""

    def __init__(self, workdir: Path, records: int, *extra: str) -> None:
        super().__init__(workdir, records, *extra)
        self.log_path = workdir / "rest-simulator.log"

    async def start(self) -> RestSimulatorProcess:
        log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "proxy.simulator.rest",
            "--port", str(self.port), "--records", str(self.contacts), *self.extra,
            stdout=log, stderr=asyncio.subprocess.STDOUT, env=_clean_env(),
        )  # fmt: skip
        log.close()
        await wait_for_http(f"{self.url}/_sim/stats", self.proc, self.log_path)
        return self


class ServeProcess:
    """``change-proxy serve`` on a free port against the simulator and a database."""

    def __init__(self, workdir: Path, name: str, database_url: str,
                 sim: SimulatorProcess | None, **env: str) -> None:  # fmt: skip
        """``env`` overrides settings; a ``PORT`` there fixes the port (a restarted process
        answers where its predecessor did, as a reader's URL stays the same), otherwise a
        free one is picked. Without ``sim`` no HubSpot is configured (``env`` then declares
        ``SOURCES``)."""
        self.workdir = workdir
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.port = int(env["PORT"]) if "PORT" in env else free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        hubspot = (
            {"HUBSPOT_ACCESS_TOKEN": sim.token, "HUBSPOT_BASE_URL": sim.url}
            if sim is not None
            else {}
        )
        self.env = {
            **_clean_env(),
            "DATABASE_URL": database_url,
            **hubspot,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "LOG_LEVEL": "INFO",
            "HUBSPOT_BACKOFF_SECONDS": "0.05",
            "HUBSPOT_REQUESTS_PER_10S": "100000",
            "HUBSPOT_SEARCH_PER_SECOND": "1000",
            **env,
        }
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> ServeProcess:
        log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "proxy.cli", "serve",
            stdout=log, stderr=asyncio.subprocess.STDOUT, env=self.env,
        )  # fmt: skip
        log.close()
        await wait_for_http(f"{self.url}/health", self.proc, self.log_path, any_status=True)
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as a power cut or an OOM kill."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()

    async def wait(self) -> int:
        assert self.proc is not None
        return await self.proc.wait()

    def terminate(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)

    async def stop(self) -> None:
        await stop_process(self.proc)

    async def admin(self, method: str, path: str) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, self.url + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            ) as resp,
        ):
            return orjson.loads(await resp.read())

    def log(self) -> str:
        return log_tail(self.log_path)


async def wait_for_http(
    url: str,
    proc: asyncio.subprocess.Process | None,
    log_path: Path,
    *,
    any_status: bool = False,
    timeout: float = 60.0,  # noqa: ASYNC109 - a deadline for polling
) -> None:
    """Poll ``url`` until it answers (200, or any status), failing early if the process
    exits."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            if proc is not None and proc.returncode is not None:
                raise AssertionError(f"{url}: the process exited:\n{log_tail(log_path)}")
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                    if any_status or resp.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{url} never answered:\n{log_tail(log_path)}")
            await asyncio.sleep(0.05)


async def stop_process(proc: asyncio.subprocess.Process | None) -> None:
    if proc is None or proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 15)
    except TimeoutError:
        proc.kill()
        await proc.wait()
