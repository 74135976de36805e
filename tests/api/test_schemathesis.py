"""The schemathesis tier: the real service (``change-proxy serve`` syncing from the simulator,
both as processes, on a fresh SQLite file or Postgres database) fuzzed through its own
``/openapi.json`` by the schemathesis CLI: every response must be documented (status, content
type, headers, body schema), none may be a 5xx, and the auth it declares must be enforced.
Schemathesis sends the right tokens, wrong ones and none. The service's log must show no
error of its own either."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import proxy
from proxy.config import SETTINGS

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "admin-token-for-schemathesis"
FEED_TOKEN = "feed-token-for-schemathesis"
CONTACTS = 200
# Deleted in the simulator before the run: 15% of the mirror, over MASS_DELETE_PERCENT's
# default 10%, so the full scan holds them and the deletions routes have something to answer.
GDPR_DELETED = 30
MIN_REQUESTS = 1000
SEED = 20261129  # fixed, so CI fails for a change in the code, not a roll of the dice
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
    "use_after_free",
    "ensure_resource_availability",
)
# Left out: positive_data_acceptance expects a 2xx for every schema-valid request, but a
# ``since`` ahead of the feed is a documented 400 that no static schema can rule out (the
# feed's last ``_updated`` moves).

# What the service under test is told to be; the rest of the environment loses every setting
# the developer's shell may carry.
SERVE_ENV = {
    "ADMIN_TOKEN": ADMIN_TOKEN,
    "FEED_TOKEN": FEED_TOKEN,
    "HOST": "127.0.0.1",
    "LOG_LEVEL": "INFO",  # the access log counts the requests; errors come with tracebacks
}
READY_WITHIN_S = 90.0


def schemathesis_config() -> str:
    """The schemathesis.toml of the run: the token for every security scheme (Bearer, Basic
    password, the admin header), so each route gets the token it asks for (and schemathesis
    also sends none or a wrong one)."""
    return f"""\
[auth.openapi.adminToken]
bearer = "{ADMIN_TOKEN}"

[auth.openapi.adminBasic]
username = "operator"
password = "{ADMIN_TOKEN}"

[auth.openapi.adminHeader]
api_key = "{ADMIN_TOKEN}"

[auth.openapi.feedToken]
bearer = "{FEED_TOKEN}"

[auth.openapi.feedBasic]
username = "sesam"
password = "{FEED_TOKEN}"
"""


# --- processes ------------------------------------------------------------------------------


@dataclass
class Child:
    process: asyncio.subprocess.Process
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@contextlib.asynccontextmanager
async def child(
    log: Path, *command: str, env: dict[str, str] | None = None
) -> AsyncIterator[Child]:
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=out, stderr=asyncio.subprocess.STDOUT, env=env
        )
    running = Child(process, log)
    try:
        yield running
    finally:
        await running.stop()


async def poll(
    what: str,
    check: Callable[[], Awaitable[Any]],
    *,
    within: float,
    alive: Child | None = None,
) -> Any:
    """``check()``'s first truthy result, polled until ``within`` seconds have passed."""
    deadline = time.monotonic() + within
    last: object = None
    while time.monotonic() < deadline:
        if alive is not None and alive.process.returncode is not None:
            raise AssertionError(
                f"{what}: the process exited with {alive.process.returncode}:\n{alive.log_tail()}"
            )
        try:
            result = await check()
        except (aiohttp.ClientError, OSError) as exc:
            result, last = None, exc
        if result:
            return result
        await asyncio.sleep(0.1)
    tail = f"\n{alive.log_tail()}" if alive is not None else ""
    raise AssertionError(f"{what}: not within {within:.0f} s (last error: {last!r}){tail}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def simulator(tmp_path: Path) -> AsyncIterator[tuple[Child, str]]:
    command = [sys.executable, "-m", "proxy.simulator", "--port", "0"]
    async with child(tmp_path / "simulator.log", *command, "--contacts", str(CONTACTS)) as sim:

        async def listening() -> str | None:
            found = re.search(r"simulator listening on (http://\S+)", sim.log_text())
            return found.group(1) if found else None

        url = await poll("simulator start", listening, within=30, alive=sim)
        yield sim, url


@contextlib.asynccontextmanager
async def serve(
    tmp_path: Path, database_url: str, hubspot_url: str
) -> AsyncIterator[tuple[Child, str]]:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if k not in {s.name for s in SETTINGS}}
    environ.update(
        SERVE_ENV,
        DATABASE_URL=database_url,
        HUBSPOT_BASE_URL=hubspot_url,
        HUBSPOT_ACCESS_TOKEN="sim-token",  # the simulator's default
        PORT=str(port),
    )
    command = [sys.executable, "-m", "proxy.cli", "serve"]
    async with child(tmp_path / "serve.log", *command, env=environ) as server:
        yield server, f"http://127.0.0.1:{port}"


# --- preparing the service ------------------------------------------------------------------


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def wait_until_ready(http: aiohttp.ClientSession, base: str, server: Child) -> None:
    """Until /health says the contacts mirror is complete (the first full sync is done)."""

    async def ready() -> bool:
        async with http.get(f"{base}/health") as resp:
            body = await resp.json()
            return resp.status == 200 and bool(body["objects"]["contacts"]["ready"])

    await poll("the first full sync", ready, within=READY_WITHIN_S, alive=server)


async def hold_deletions(
    http: aiohttp.ClientSession, base: str, hubspot_url: str, server: Child
) -> None:
    """GDPR-delete contacts in the simulator and run a full sync, which holds the deletions
    for an operator (so /admin/deletions and its confirm and discard have one to answer
    about, until schemathesis confirms or discards it)."""
    async with http.get(f"{hubspot_url}/_sim/snapshot") as resp:
        ids = sorted((await resp.json())["live"], key=int)[:GDPR_DELETED]
    for entity_id in ids:
        async with http.post(
            f"{hubspot_url}/_sim/mutate", json={"op": "gdpr_delete", "id": entity_id}
        ) as resp:
            assert resp.status == 200, await resp.text()
    async with http.post(f"{base}/admin/resync?mode=full", headers=ADMIN) as resp:
        assert resp.status == 202, await resp.text()

    async def held() -> bool:
        async with http.get(f"{base}/admin/deletions", headers=ADMIN) as resp:
            return (await resp.json())["held"] is not None

    await poll("held deletions", held, within=60, alive=server)


# --- the run --------------------------------------------------------------------------------


@dataclass
class Outcome:
    exit_code: int
    output: str
    report: dict[str, Any]
    seconds: float


async def run_schemathesis(base: str, tmp_path: Path) -> Outcome:
    config = tmp_path / "schemathesis.toml"
    config.write_text(schemathesis_config())
    report = tmp_path / "schemathesis-report.json"
    command = [
        sys.executable, "-m", "schemathesis.cli",
        "--config-file", str(config),
        "--no-color",
        "run", f"{base}/openapi.json",
        "--checks", ",".join(CHECKS),
        "--seed", str(SEED),
        "--workers", "2",
        "--request-timeout", "30",
        "--generation-database", "none",
        "--report", "json",
        "--report-json-path", str(report),
    ]  # fmt: skip
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=tmp_path,  # whatever it writes stays in the test's directory
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 240)
    seconds = time.monotonic() - started
    text = output.decode(errors="replace")
    assert report.exists(), f"schemathesis wrote no report:\n{text}"
    return Outcome(process.returncode or 0, text, json.loads(report.read_text()), seconds)


PROXY_PACKAGE = str(Path(proxy.__file__).resolve().parent) + os.sep
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (\w+) (\S+): ", re.MULTILINE)


def our_errors(log: str) -> list[str]:
    """ERROR records (with their tracebacks) that this service's code logged or raised. aiohttp
    logs the malformed requests schemathesis sends on purpose (a NUL byte in a header) at
    ERROR too, with a traceback of its own parser: those say nothing about this service."""
    starts = [*LOG_RECORD.finditer(log)]
    found = []
    for match, following in zip(starts, [*starts[1:], None], strict=True):
        record = log[match.start() : following.start() if following else len(log)]
        level, logger = match.group(1), match.group(2)
        if level in ("ERROR", "CRITICAL") and (
            logger.startswith("proxy") or f'File "{PROXY_PACKAGE}' in record
        ):
            found.append(record.rstrip())
    return found


async def test_schemathesis_finds_no_undocumented_or_failing_response(
    database_url: str, tmp_path: Path, figures: Callable[[str], None]
) -> None:
    async with (
        simulator(tmp_path) as (_, hubspot_url),
        serve(tmp_path, database_url, hubspot_url) as (server, base),
    ):
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            await wait_until_ready(http, base, server)
            await hold_deletions(http, base, hubspot_url, server)
        outcome = await run_schemathesis(base, tmp_path)
        # Read before the service stops: stopping interrupts the runs schemathesis queued,
        # which the service rightly logs as errors.
        log = server.log_text()
    requests = sum(1 for line in log.splitlines() if '"schemathesis/' in line)
    generated = outcome.report["test_cases"]["generated"]
    figures(f"schemathesis: {generated} test cases, {requests} requests, {outcome.seconds:.1f} s")
    errors = "\n\n".join(our_errors(log))
    assert outcome.exit_code == 0, (
        f"schemathesis failed (exit {outcome.exit_code}):\n{outcome.output}\n"
        f"--- errors in the change-proxy serve log ---\n{errors or '(none)'}"
    )
    assert not errors, errors
    assert generated >= MIN_REQUESTS and requests >= MIN_REQUESTS, (generated, requests)
