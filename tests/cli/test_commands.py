"""The console script as a user runs it: sync, status, record, db, serve --help, and the
demo."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from proxy.simulator import HubSpotSimulator
from proxy.simulator import create_app as create_simulator

CLI = [sys.executable, "-m", "proxy.cli"]


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args,
        env={**os.environ, "LOG_LEVEL": "WARNING", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode()


@pytest.fixture
async def simulator(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> tuple[HubSpotSimulator, str]:
    sim = HubSpotSimulator()
    sim.create_contacts(230)
    server = await aiohttp_server(create_simulator(sim))
    return sim, str(server.make_url("")).rstrip("/")


async def test_sync_status_and_db_commands(
    simulator: tuple[HubSpotSimulator, str], database_url: str
) -> None:
    sim, url = simulator
    env = {"HUBSPOT_ACCESS_TOKEN": sim.token, "HUBSPOT_BASE_URL": url, "DATABASE_URL": database_url}
    code, out = await run_cli("sync", "--full", env=env)
    assert code == 0, out
    assert "full sync of contacts succeeded" in out and "created 230" in out
    sim.update(sim.live_ids()[0], {"firstname": "Changed"})
    code, out = await run_cli("sync", env=env)
    assert code == 0, out
    assert "incremental sync of contacts succeeded" in out and "updated 1" in out
    code, out = await run_cli("status", env=env)
    assert code == 0, out
    assert "230" in out and "succeeded" in out and "incremental" in out
    code, out = await run_cli("db", "current", env=env)
    assert code == 0 and "(head)" in out


async def test_status_says_when_syncing_has_stopped_working(
    simulator: tuple[HubSpotSimulator, str], database_url: str
) -> None:
    """The run log's verdict, as /health gives it, read from the database alone."""
    sim, url = simulator
    env = {"HUBSPOT_ACCESS_TOKEN": sim.token, "HUBSPOT_BASE_URL": url, "DATABASE_URL": database_url}
    assert (await run_cli("sync", "--full", env=env))[0] == 0
    code, out = await run_cli("status", env=env)
    assert code == 0, out
    [row] = [line for line in out.splitlines() if "contacts" in line and "yes" in line]
    assert row.rstrip(" │|").endswith("ok"), row
    sim.update(sim.live_ids()[0], {"firstname": "Changed"})
    sim.faults.malformed_batch_read_next = 100  # every batch read is rejected
    for _ in range(3):
        code, out = await run_cli("sync", env=env)
        assert code == 1 and "BadPage" in out, out
    code, out = await run_cli("status", env=env)
    assert code == 0, out
    assert "failed the same way" in out and "BadPage" in out


async def test_sync_names_a_custom_object_given_by_id(
    simulator: tuple[HubSpotSimulator, str], database_url: str
) -> None:
    """``change-proxy sync --object 2-…`` mirrors it under its name, as serve serves it."""
    sim, url = simulator
    cars = sim.define_custom_object("cars", ["make"])
    sim.objects("cars").create(4)
    env = {
        "HUBSPOT_ACCESS_TOKEN": sim.token,
        "HUBSPOT_BASE_URL": url,
        "DATABASE_URL": database_url,
        "OBJECT_TYPES": f"contacts,{cars.object_type_id}",
    }
    code, out = await run_cli("sync", "--full", "--object", cars.object_type_id, env=env)
    assert code == 0, out
    assert "full sync of cars succeeded" in out and "created 4" in out
    code, out = await run_cli("status", env=env)  # from the store alone
    assert code == 0, out
    [row] = [line for line in out.splitlines() if "cars" in line and "yes" in line]
    assert " 4 " in row


async def test_record_prints_a_stored_record_as_the_feed_serves_it(
    aiohttp_server: Callable[..., Awaitable[TestServer]], database_url: str
) -> None:
    """Whatever form it is stored in (a contact of 300 custom properties is compressed on
    SQLite): `change-proxy record` is how a developer reads it."""
    sim = HubSpotSimulator(custom_properties=300)
    wanted = sim.create_contacts(5)[3]
    server = await aiohttp_server(create_simulator(sim))
    env = {
        "HUBSPOT_ACCESS_TOKEN": sim.token,
        "HUBSPOT_BASE_URL": str(server.make_url("")).rstrip("/"),
        "DATABASE_URL": database_url,
    }
    code, out = await run_cli("sync", "--full", env=env)
    assert code == 0, out
    code, out = await run_cli("record", "contacts", wanted, env=env)
    assert code == 0, out
    entity = orjson.loads(out)
    assert (entity["_id"], entity["_deleted"]) == (wanted, False)
    assert entity["properties"] == sim.contact(wanted)["properties"]
    code, out = await run_cli("record", "contacts", "404404", env=env)
    assert code == 1 and "no contacts record 404404" in out


async def test_sync_fails_with_nonzero_exit_and_a_clear_message(
    simulator: tuple[HubSpotSimulator, str], database_url: str
) -> None:
    _, url = simulator
    env = {
        "HUBSPOT_ACCESS_TOKEN": "wrong-token-123",
        "HUBSPOT_BASE_URL": url,
        "DATABASE_URL": database_url,
    }
    code, out = await run_cli("sync", "--full", env=env)
    assert code == 2  # a setting is wrong: retrying will not help
    assert "HUBSPOT_ACCESS_TOKEN" in out and "wrong-token-123" not in out


async def test_sync_exits_2_on_a_wrong_setting_and_1_when_the_run_fails(
    simulator: tuple[HubSpotSimulator, str], database_url: str
) -> None:
    """2: a setting is wrong, retrying will not help (checked before anything runs, or a
    token HubSpot rejects); 1: the run failed on something else (HubSpot answering 502)."""
    sim, url = simulator
    env = {"HUBSPOT_ACCESS_TOKEN": sim.token, "HUBSPOT_BASE_URL": url, "DATABASE_URL": database_url}
    no_scheme = url.removeprefix("http://")
    code, out = await run_cli("sync", env={**env, "HUBSPOT_BASE_URL": no_scheme})
    assert code == 2, out
    assert "HUBSPOT_BASE_URL" in out and "http:// or https://" in out
    code, out = await run_cli("sync", env={**env, "HUBSPOT_ACCESS_TOKEN": "rejected-token"})
    assert code == 2, out
    assert "401" in out and "HUBSPOT_ACCESS_TOKEN" in out and "rejected-token" not in out
    sim.faults.fail_next = 1000
    code, out = await run_cli("sync", env={**env, "HUBSPOT_MAX_TRIES": "1"})
    assert code == 1, out
    assert "FAILED" in out and "502" in out


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_missing_token_is_a_configuration_error(database_url: str) -> None:
    env = {"DATABASE_URL": database_url, "HUBSPOT_ACCESS_TOKEN": ""}
    code, out = await run_cli("sync", env=env)
    assert code == 2 and "HUBSPOT_ACCESS_TOKEN" in out


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_serve_help_lists_every_setting(database_url: str) -> None:
    from proxy.config import SETTINGS

    code, out = await run_cli("serve", "--help", env={})
    assert code == 0
    for setting in SETTINGS:
        assert setting.name in out


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_demo_serves_a_live_feed_until_interrupted(
    database_url: str, unused_tcp_port: int
) -> None:
    proc = await asyncio.create_subprocess_exec(
        *CLI, "demo", "--contacts", "300", "--churn-interval", "0.2",
        "--port", str(unused_tcp_port),
        env={
            **os.environ,
            "LOG_LEVEL": "WARNING",
            "SYNC_INTERVAL_SECONDS": "1",
            "DELETE_CHECK_SECONDS": "1",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        lines: list[str] = []
        while not any("Ctrl-C stops it" in line for line in lines):
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, "demo exited early:\n" + "".join(lines)
            lines.append(line.decode())
        text = "".join(lines)
        feed = f"http://127.0.0.1:{unused_tcp_port}/contacts"
        assert feed in text
        token = next(line.split()[-1] for line in lines if "admin token" in line)
        async with ClientSession() as session:
            # The first full sync runs in the background: wait for its run to succeed.
            entities: list[dict[str, Any]] = []
            for _ in range(600):
                async with session.get(feed) as resp:
                    if resp.status == 200:
                        entities = orjson.loads(await resp.read())
                        break
                    assert resp.status == 503
                await asyncio.sleep(0.05)
            assert len(entities) >= 300
            last = entities[-1]["_updated"]
            # The churn keeps editing contacts; scheduled incremental syncs bring them in.
            for _ in range(600):
                async with session.get(f"{feed}?since={last}") as resp:
                    if orjson.loads(await resp.read()):
                        break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("no change reached the feed")
            async with session.get(
                f"http://127.0.0.1:{unused_tcp_port}/admin/status",
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                assert resp.status == 200
            # Companies and deals, with their associations; a deal archived in the
            # simulator is a tombstone in the feed within the deletion check's period.
            deals_feed = f"http://127.0.0.1:{unused_tcp_port}/deals"
            for path in ("companies", "deals"):
                for _ in range(600):
                    async with session.get(f"http://127.0.0.1:{unused_tcp_port}/{path}") as resp:
                        if resp.status == 200:
                            records = orjson.loads(await resp.read())
                            break
                    await asyncio.sleep(0.05)
                assert records and "contacts" in records[0]["associations"], path
            deal = next(e["_id"] for e in records if not e["_deleted"])
            mutate = next(w for w in text.split() if w.endswith("/_sim/mutate"))
            body = {"op": "archive", "object_type": "deals", "id": deal}
            async with session.post(mutate, json=body) as resp:
                assert resp.status == 200, await resp.text()
            for _ in range(600):
                async with session.get(deals_feed) as resp:
                    entities = orjson.loads(await resp.read())
                if any(e["_id"] == deal and e["_deleted"] for e in entities):
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the archived deal's tombstone did not reach the feed")
            # The declared source: the demo's own filterless API, mirrored at /orders; an
            # order deleted there is a tombstone after the next scan (asked for here rather
            # than waited for).
            orders_feed = f"http://127.0.0.1:{unused_tcp_port}/orders"
            for _ in range(600):
                async with session.get(orders_feed) as resp:
                    if resp.status == 200:
                        orders = orjson.loads(await resp.read())
                        break
                await asyncio.sleep(0.05)
            assert len(orders) >= 60 and orders[0]["name"].startswith("order")
            api_mutate = [w for w in text.split() if w.endswith("/_sim/mutate")][-1]
            async with session.post(api_mutate, json={"op": "delete", "id": 4}) as resp:
                # 404: the demo's own churn deleted it first (a tombstone all the same).
                assert resp.status in (200, 404), await resp.text()
            for _ in range(600):
                async with session.post(
                    f"http://127.0.0.1:{unused_tcp_port}/admin/resync?object=orders&mode=full",
                    headers={"Authorization": f"Bearer {token}"},
                ) as resp:
                    assert resp.status == 202
                async with session.get(orders_feed) as resp:
                    orders = orjson.loads(await resp.read())
                if any(e["_id"] == "4" and e["_deleted"] for e in orders):
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the deleted order's tombstone did not reach the feed")
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, rest.decode()
    assert "demo stopped" in rest.decode()
    # Its temporary folder (the SQLite mirror) is gone.
    database = next(w for w in text.split() if w.startswith("(sqlite:///"))
    folder = Path(database.removeprefix("(sqlite:///").rstrip("):.")).parent
    assert folder.name.startswith("change-proxy-demo-") and not folder.exists()


async def test_sync_beside_a_process_that_holds_the_lease_gives_up_or_waits(
    simulator: tuple[HubSpotSimulator, str], database_url: str
) -> None:
    from datetime import timedelta

    from proxy.store import Store, migrate

    sim, url = simulator
    env = {"HUBSPOT_ACCESS_TOKEN": sim.token, "HUBSPOT_BASE_URL": url, "DATABASE_URL": database_url}
    store = Store.open(database_url)
    try:
        await migrate.upgrade(store.engine)
        await store.changes.register_object_types(["contacts"])
        # A running serve elsewhere holds the contacts lease (it renews it; here it is held
        # for a minute, then for two seconds that nobody renews).
        assert await store.leases.acquire("contacts", "elsewhere:1:abcd", timedelta(minutes=1))
        code, out = await run_cli("sync", "--full", env=env)
        assert code == 1, out
        assert "elsewhere:1:abcd" in out and "--wait" in out and "/admin/resync" in out
        assert await store.runs.recent() == []  # nothing ran, nothing was recorded
        assert await store.leases.acquire("contacts", "elsewhere:1:abcd", timedelta(seconds=2))
        code, out = await run_cli("sync", "--full", "--wait", "30", env=env)
        assert code == 0, out
        assert "full sync of contacts succeeded" in out
        assert await store.leases.holder("contacts") is None  # given back when done
    finally:
        await store.close()
