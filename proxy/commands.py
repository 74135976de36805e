"""The foreground commands behind ``change-proxy sync`` and ``change-proxy demo``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from proxy.config import Settings, load_settings, redact_url
from proxy.sources.configured import build_sources, feed_names, resolve_feed_names
from proxy.sources.http import source_session
from proxy.store import RunCounts, Store, migrate
from proxy.sync import FULL, INCREMENTAL, RunOutcome, SyncRunner, describe
from proxy.worker import LeaseKeeper, process_owner

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _progress_display(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} records"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        yield progress


async def sync_once(
    settings: Settings, object_type: str, *, mode: str | None, wait_seconds: float = 0.0
) -> int:
    """One sync run in the foreground. A progress bar on a terminal, log lines otherwise;
    exit status 0 on success, 2 when a setting is wrong (the token), 1 on other failures.
    The run takes the object type's lease first: beside a running ``serve`` (or another
    ``sync``) it waits up to ``wait_seconds`` for it, then gives up with exit status 1."""
    settings, names = await resolve_feed_names(settings)
    object_type = names.get(object_type, object_type)
    store = Store.open(settings.database_url)
    try:
        await migrate.upgrade(store.engine)
        await store.changes.register_object_types([object_type])
        owner = process_owner()
        async with source_session(owner) as session:
            runner = SyncRunner(store, build_sources(settings, session).feeds, settings)
            run_task: asyncio.Task[RunOutcome] | None = None

            def lost(reason: str) -> None:
                if run_task is not None:
                    run_task.cancel(f"this process lost the {object_type} lease: {reason}")

            lease = LeaseKeeper(
                store,
                object_type,
                owner,
                timedelta(seconds=settings.lease_seconds),
                lost,
            )
            if not await _take_lease(store, lease, wait_seconds):
                return 1
            keeping = asyncio.create_task(lease.keep())
            try:
                await store.runs.interrupt_others(object_type, lease.owner)
                await runner.prepare_fingerprints(object_type)
                status = await store.reader.object_status(object_type)
                if status is None or status.watermark is None:
                    mode = FULL  # nothing to search from, nor to verify against
                mode = mode or INCREMENTAL
                run_id = await store.runs.start(object_type, mode, "cli", lease.owner)
                lease.run_id = run_id
                with _progress_display(sys.stderr.isatty()) as bar:
                    report = _reporter(bar, f"{mode} sync of {object_type}")
                    run_task = asyncio.create_task(
                        runner.run(
                            object_type, mode, run_id=run_id, owner=lease.owner, progress=report
                        )
                    )
                    await asyncio.wait({run_task})
                    if run_task.cancelled():
                        print(f"run {run_id}: {mode} sync of {object_type} interrupted")
                        return 1
                    outcome = run_task.result()
            finally:
                keeping.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeping
                await lease.release()
    finally:
        await store.close()
    verdict = "succeeded" if outcome.succeeded else f"{outcome.status.upper()}: {outcome.error}"
    print(
        f"run {outcome.run_id}: {mode} sync of {object_type} {verdict}; {describe(outcome.counts)}"
    )
    if outcome.succeeded:
        return 0
    return 2 if outcome.configuration_error else 1


async def _take_lease(store: Store, lease: LeaseKeeper, wait_seconds: float) -> bool:
    deadline = time.monotonic() + wait_seconds
    while not await lease.try_acquire():
        if time.monotonic() >= deadline:
            holder = await store.leases.holder(lease.object_type)
            who = f"process {holder.owner}" if holder else "another process"
            print(
                f"change-proxy: {lease.object_type} is being synced by {who}; runs of one "
                "object type never overlap. Ask the running service for a run instead "
                "(POST /admin/resync), or wait for it with --wait SECONDS.",
                file=sys.stderr,
            )
            return False
        await asyncio.sleep(min(lease.interval, max(deadline - time.monotonic(), 0.05)))
    return True


def _reporter(bar: Progress | None, title: str) -> Callable[[RunCounts, int | None], None]:
    """Progress of a run: the bar on a terminal, a log line every 50 pages otherwise."""
    task = bar.add_task(title, total=None, detail="") if bar is not None else None
    pages = 0

    def report(counts: RunCounts, total: int | None) -> None:
        nonlocal pages
        pages += 1
        if bar is not None and task is not None:
            bar.update(task, completed=counts.fetched, total=total, detail=describe(counts))
        elif pages % 50 == 0:
            log.info("%s: %s", title, describe(counts))

    return report


DEMO_OBJECT_TYPES = "contacts,companies,deals"
DEMO_SCAN_SECONDS = 15  # how often the demo's declared source is scanned


def demo_sources(api: str) -> str:
    """The demo's declared source: the orders of its own filterless JSON API."""
    declared = {
        "orders": {
            "url": f"{api}/cursor/orders",
            "params": {"limit": 100},
            "records": "data",
            "pagination": {
                "style": "cursor",
                "param": "starting_after",
                "from_record": "id",
                "has_more": "has_more",
            },
            "item_url": f"{api}/orders/{{id}}",
            "interval_seconds": DEMO_SCAN_SECONDS,
        }
    }
    return json.dumps(declared)


DEMO_ASSOCIATIONS = "contacts=companies,deals;companies=contacts,deals;deals=contacts,companies"


async def run_demo(
    base: Settings, *, contacts: int, churn_interval: float, database_url: str | None
) -> int:
    """The built-in HubSpot simulator with contacts that keep changing, and the proxy on
    SQLite against it, until interrupted."""
    from proxy.app import create_app
    from proxy.simulator import HubSpotSimulator
    from proxy.simulator import create_app as create_simulator
    from proxy.simulator.churn import churn
    from proxy.simulator.rest import RestSimulator, create_rest_app
    from proxy.simulator.rest.churn import churn as churn_orders
    from proxy.simulator.seeding import associate_all

    workdir = Path(tempfile.mkdtemp(prefix="change-proxy-demo-"))
    sim = HubSpotSimulator(token="demo-" + secrets.token_hex(8))
    sim.create_contacts(contacts)
    # A worked-in account: a company for every six contacts, a deal for every four, linked.
    sim.objects("companies").create(max(contacts // 6, 1))
    sim.objects("deals").create(max(contacts // 4, 1))
    associate_all(sim, random.Random(7))
    sim_runner = web.AppRunner(create_simulator(sim), access_log=None)
    await sim_runner.setup()
    sim_site = web.TCPSite(sim_runner, "127.0.0.1", 0)
    await sim_site.start()
    sim_port = sim_runner.addresses[0][1]
    # A JSON API of the project's own with no change filter (orders behind a cursor), for a
    # declared source: only the mirror can tell what changed there.
    orders = RestSimulator(max(contacts // 5, 10))
    api_runner = web.AppRunner(create_rest_app(orders), access_log=None)
    await api_runner.setup()
    await web.TCPSite(api_runner, "127.0.0.1", 0).start()
    api = f"http://127.0.0.1:{api_runner.addresses[0][1]}"
    admin_token = secrets.token_urlsafe(16)
    env = {
        **os.environ,
        "HUBSPOT_ACCESS_TOKEN": sim.token,
        "HUBSPOT_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "DATABASE_URL": database_url or f"sqlite:///{workdir}/mirror.db",
        "ADMIN_TOKEN": admin_token,
        "OBJECT_TYPES": os.environ.get("OBJECT_TYPES", DEMO_OBJECT_TYPES),
        "ASSOCIATIONS": os.environ.get("ASSOCIATIONS", DEMO_ASSOCIATIONS),
        "SYNC_INTERVAL_SECONDS": os.environ.get("SYNC_INTERVAL_SECONDS", "10"),
        "SEARCH_OVERLAP_SECONDS": os.environ.get("SEARCH_OVERLAP_SECONDS", "30"),
        "DELETE_CHECK_SECONDS": os.environ.get("DELETE_CHECK_SECONDS", "15"),
        "HOST": base.host if "HOST" in os.environ else "127.0.0.1",
        "PORT": str(base.port),
        "LOG_LEVEL": base.log_level,
        "SOURCES": os.environ.get("SOURCES", demo_sources(api)),
    }
    env.pop("SOURCES_FILE", None)
    settings, _ = await resolve_feed_names(load_settings(env=env))
    proxy_runner = web.AppRunner(create_app(settings))
    stop = asyncio.Event()
    churn_task = asyncio.create_task(
        churn(sim, interval_s=churn_interval, rng=random.Random(7), stop=stop)
    )
    orders_task = asyncio.create_task(churn_orders(orders, interval_s=churn_interval, seed=7))
    try:
        await proxy_runner.setup()
        await web.TCPSite(proxy_runner, settings.host, settings.port).start()
        root = f"http://{settings.host}:{settings.port}"
        feeds = "\n".join(f"  feed         {root}/{t}" for t in feed_names(settings))
        simulator = f"http://127.0.0.1:{sim_port}/_sim/mutate"
        auth = f"-H 'Authorization: Bearer {admin_token}'"
        archive = '{"op": "archive", "object_type": "deals", "id": "1"}'
        print(
            f"""
change-proxy demo: a HubSpot simulator whose contacts, companies and deals keep changing,
and the proxy on SQLite ({redact_url(settings.database_url)}).

{feeds}
               (503 until each type's first full sync finishes: a few seconds)
  admin token  {admin_token}
  console      {root}/admin/ (in a browser; enter the admin token)
  simulator    {simulator}
  try          curl -s '{root}/contacts?limit=3'
               curl -s {auth} {root}/admin/status
               curl -s -X POST {auth} '{root}/admin/resync?object=deals&mode=full'
  archive one  curl -s -X POST {simulator} -d '{archive}'
               and within {settings.delete_check_seconds} s (DELETE_CHECK_SECONDS) its tombstone
               is in curl -s '{root}/deals' (the entity with "_id": "1" has "_deleted": true)

  orders       a JSON API with no change filter ({api}/cursor/orders), mirrored as the
               declared source orders (SOURCES), scanned every {DEMO_SCAN_SECONDS} s:
  change one   curl -s -X POST {api}/_sim/mutate -d '{{"op": "update", "id": 3, "name": "Ada"}}'
  delete one   curl -s -X POST {api}/_sim/mutate -d '{{"op": "delete", "id": 4}}'
               and after the next scan curl -s '{root}/orders' has order 3 renamed and order 4
               a tombstone ("_deleted": true; item_url confirmed it is gone)

Ctrl-C stops it.""",
            flush=True,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        stop.set()
        await churn_task
        orders_task.cancel()
        await asyncio.gather(orders_task, return_exceptions=True)
        await api_runner.cleanup()
        await proxy_runner.cleanup()
        await sim_runner.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)  # the demo leaves nothing behind
    print("demo stopped", flush=True)
    return 0
