"""Mistakes a user makes at start, through the real CLI as a subprocess: each is one or two
lines on stderr naming the setting and the fix, exit status 2 for configuration and 1 for
trouble at run time, and the traceback only at LOG_LEVEL=DEBUG."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL

CLI = [sys.executable, "-m", "proxy.cli"]
PG_BASE = PG_ADMIN_URL.rpartition("/")[0]


async def run(*args: str, **env: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args,
        env={**os.environ, "HUBSPOT_ACCESS_TOKEN": "t", "SYNC_INTERVAL_SECONDS": "0",
             "FULL_SYNC_CRON": "", "HOST": "127.0.0.1", "LOG_LEVEL": "INFO", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_short(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) <= 2, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], err


@pytest.mark.parametrize(
    ("url", "code", "needles"),
    [
        (f"{PG_BASE}/cp_no_such_database", 2, ("DATABASE_URL", "does not exist", "CREATE")),
        ("postgresql://postgres@127.0.0.1:1/x", 1, ("DATABASE_URL", "127.0.0.1:1", "refused")),
        (f"{PG_BASE}/postgres?sslmode=require", 2, ("DATABASE_URL", "TLS", "sslmode")),
        ("postgresql://nobody@127.0.0.1:5432/postgres", 2, ("DATABASE_URL", "'nobody'")),
        ("postgresql://u@no-such-host.invalid/x", 2, ("DATABASE_URL", "resolve")),
        ("sqlite:////no/such/dir/mirror.db", 2, ("DATABASE_URL", "/no/such/dir/mirror.db")),
        ("mysql://x@y/z", 2, ("DATABASE_URL", "unsupported")),
    ],
)
async def test_database_mistakes_are_one_line_naming_the_setting(
    url: str, code: int, needles: tuple[str, ...], request: pytest.FixtureRequest
) -> None:
    if url.startswith(PG_BASE):
        request.getfixturevalue("postgres_server")  # skips without a server (not in CI)
    status, out, err = await run("serve", DATABASE_URL=url, PORT=str(free_port()))
    assert status == code, (out, err)
    assert_short(err, *needles)


async def test_the_traceback_comes_with_log_level_debug() -> None:
    status, _, err = await run(
        "serve", DATABASE_URL="postgresql://postgres@127.0.0.1:1/x", LOG_LEVEL="DEBUG"
    )
    assert status == 1 and "Traceback" in err and "DATABASE_URL" in err


async def test_a_port_in_use_names_the_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, _, err = await run(
            "serve", DATABASE_URL=f"sqlite:///{tmp_path}/m.db", PORT=str(port)
        )
    assert status == 2
    assert_short(err, "PORT", f"127.0.0.1:{port}", "in use")
    assert not (tmp_path / "m.db").exists()  # found before the database was migrated


@pytest.mark.parametrize(
    ("env", "needles"),
    [
        ({"HOST": "300.1.1.1"}, ("HOST", "'300.1.1.1'", "neither an IP address nor a host")),
        ({"HOST": "no-such-host.invalid"}, ("HOST", "cannot resolve")),
        ({"LOG_LEVEL": "verbose"}, ("LOG_LEVEL", "DEBUG, INFO, WARNING, ERROR, CRITICAL")),
        ({"HUBSPOT_BASE_URL": "api.hubapi.com"}, ("HUBSPOT_BASE_URL", "https://")),
        ({"FULL_SYNC_CRON": "0 25 * * *"}, ("FULL_SYNC_CRON", "'0 25 * * *'")),
        ({"FEED_TOKEN": ""}, ("FEED_TOKEN", "blank")),
        ({"ADMIN_TOKEN": " "}, ("ADMIN_TOKEN", "blank")),
    ],
)
async def test_a_wrong_setting_stops_the_start_before_any_database(
    tmp_path: Path, env: dict[str, str], needles: tuple[str, ...]
) -> None:
    path = tmp_path / "m.db"
    status, out, err = await run(
        "serve", DATABASE_URL=f"sqlite:///{path}", PORT=str(free_port()), **env
    )
    assert status == 2, (out, err)
    assert_short(err, "configuration error", *needles)
    assert not path.exists()


async def test_libpq_style_urls_work(tmp_path: Path, postgres_server: object) -> None:
    url = f"{PG_BASE}/postgres?sslmode=prefer&connect_timeout=5&application_name=change-proxy"
    status, out, err = await run("db", "current", DATABASE_URL=url)
    assert status == 0, (out, err)


async def test_a_missing_token_and_an_unreachable_hubspot(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    status, _, err = await run("sync", DATABASE_URL=url, HUBSPOT_ACCESS_TOKEN="")
    assert status == 2
    assert_short(err, "HUBSPOT_ACCESS_TOKEN")
    status, out, _ = await run(
        "sync",
        DATABASE_URL=url,
        HUBSPOT_BASE_URL=f"http://127.0.0.1:{free_port()}",
        HUBSPOT_MAX_TRIES="1",
        LOG_LEVEL="WARNING",
    )
    assert status == 1
    assert "cannot connect to 127.0.0.1" in out and "HUBSPOT_BASE_URL" in out


async def test_status_never_creates_a_database(tmp_path: Path) -> None:
    path = tmp_path / "mirror.db"
    status, out, _ = await run("status", DATABASE_URL=f"sqlite:///{path}")
    assert status == 1 and "no database" in out
    assert not path.exists()
    status, _, err = await run("db", "current", DATABASE_URL=f"sqlite:///{path}")
    assert status == 1 and "no database" in err and not path.exists()
