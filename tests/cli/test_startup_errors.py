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


@pytest.mark.parametrize(
    ("env", "needles"),
    [
        (
            {"SOURCES": '{"orders": {"url": "http://x/o", "pagination": {"style": "cursors"}}}'},
            ("sources.orders.pagination", "cursors"),
        ),
        ({"SOURCES": '{"orders": {"url": "http://x/o", "colour": "red"}}'}, ("sources.orders",)),
        (
            {"SOURCES": '{"orders": {"url": "http://x/o", "headers": {"A": "${NOT_SET_VAR}"}}}'},
            ("sources.orders.headers", "NOT_SET_VAR"),
        ),
        ({"SOURCES": '{"Orders!": {"url": "http://x/o"}}'}, ("Orders!",)),
        ({"SOURCES": '{"contacts": {"url": "http://x/o"}}'}, ("sources.contacts", "OBJECT_TYPES")),
        ({"SOURCES": '{"health": {"url": "http://x/o"}}'}, ("sources.health", "route")),
        ({"SOURCES": "{not json"}, ("SOURCES", "not valid JSON")),
        (
            {"SOURCES": '{"a": {"url": "http://x/o"}}', "SOURCES_FILE": "/nowhere.toml"},
            ("SOURCES and SOURCES_FILE",),
        ),
        ({"SOURCES_FILE": "/no/such/sources.toml"}, ("SOURCES_FILE", "/no/such/sources.toml")),
    ],
)
async def test_a_wrong_declaration_stops_the_start_naming_source_and_key(
    tmp_path: Path, env: dict[str, str], needles: tuple[str, ...]
) -> None:
    path = tmp_path / "m.db"
    status, out, err = await run(
        "serve",
        DATABASE_URL=f"sqlite:///{path}",
        PORT=str(free_port()),
        OBJECT_TYPES="contacts",
        **env,
    )
    assert status == 2, (out, err)
    assert_short(err, "configuration error", *needles)
    assert not path.exists()


async def test_a_secret_from_the_environment_never_shows_in_a_declaration_error(
    tmp_path: Path,
) -> None:
    table = '{"orders": {"url": "http://x/o?key=${SHOP_KEY}", "pagination": {"style": 7}}}'
    status, out, err = await run(
        "serve",
        DATABASE_URL=f"sqlite:///{tmp_path}/m.db",
        PORT=str(free_port()),
        SOURCES=table,
        SHOP_KEY="very-secret-shop-key",
    )
    assert status == 2, (out, err)
    assert "very-secret-shop-key" not in out + err
    assert "sources.orders.pagination" in err


async def test_sources_alone_need_no_hubspot_token_but_object_types_do(tmp_path: Path) -> None:
    sources = '{"orders": {"url": "http://127.0.0.1:9/orders"}}'
    url = f"sqlite:///{tmp_path}/m.db"
    # Object types named without a token: still an error.
    status, _, err = await run(
        "sync", DATABASE_URL=url, SOURCES=sources, OBJECT_TYPES="contacts", HUBSPOT_ACCESS_TOKEN=""
    )
    assert status == 2 and "HUBSPOT_ACCESS_TOKEN" in err, err
    # The sources alone: the run starts (and fails reaching the API, exit 1, not 2).
    env = {k: v for k, v in os.environ.items() if k != "HUBSPOT_ACCESS_TOKEN"}
    proc = await asyncio.create_subprocess_exec(
        *CLI, "sync", "--object", "orders",
        env={**env, "DATABASE_URL": url, "SOURCES": sources, "HUBSPOT_MAX_TRIES": "1",
             "LOG_LEVEL": "WARNING"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1, out.decode()
    assert "source orders" in out.decode()
