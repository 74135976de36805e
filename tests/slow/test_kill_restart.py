"""SIGKILL in the middle of full and incremental syncs, again and again, while HubSpot
changes and a Sesam-style reader pulls the feed across the restarts: the reader never sees
an error other than the server being down, and at the end its view equals HubSpot.

One simulator process (3,000 contacts, a small per-request delay so that a sync takes long
enough to be killed in the middle) and one ``change-proxy serve`` process at a time on the
same database and port; each round changes HubSpot through ``/_sim/mutate``, aims at a
random point of a full sync, of an incremental one or just a random moment, kills the
server with SIGKILL (no cleanup of any kind) and starts a new one. The run records then say
which kills interrupted which kind of run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_until
from tests.processes import ServeProcess, SimulatorProcess, free_port
from tests.slow.harness import (
    AIMS,
    SEED_ENV,
    Kill,
    ServerLife,
    SesamReader,
    Upstream,
    aim_kill,
    all_runs,
    classify_kills,
    converge,
    differences,
    fresh_vs_incremental,
    holds_lease,
    last_updated,
    owner_of,
    pull_all,
    runs_left_running,
    seed_from_env,
    stale_modified_dates,
    wait_for_requests,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

CONTACTS = 3000
KILLS = 20
PAGE = 200  # the reader's limit (Sesam's page_size)
ENV = {
    "SYNC_INTERVAL_SECONDS": "1",
    "FULL_SYNC_CRON": "",  # full syncs only when the test asks (and to resume a scan)
    "LEASE_SECONDS": "2",  # a restarted process takes over a dead one's lease quickly
}


async def test_sigkill_in_the_middle_of_syncs_loses_nothing(
    tmp_path: Path, database_url: str, backend: str, figures: Callable[[str], None]
) -> None:
    seed = seed_from_env()
    rng = random.Random(seed)
    context = f"[{backend}, seed {seed}: replay with {SEED_ENV}={seed}; logs in {tmp_path}]"
    sim = await SimulatorProcess(tmp_path, CONTACTS).start()
    life = ServerLife()
    port = free_port()  # one URL for the reader, as Sesam's pipe has
    started = 0
    serve: ServeProcess | None = None
    stop = asyncio.Event()
    reader_task: asyncio.Task[None] | None = None
    kills: list[Kill] = []
    left_running: list[dict[str, Any]] = []
    upstream: Upstream | None = None
    evidence: dict[str, Any] = {"seed": seed, "backend": backend}

    async def start() -> ServeProcess:
        nonlocal started
        started += 1
        process = ServeProcess(
            tmp_path, f"serve-{started}", database_url, sim, **ENV, PORT=str(port)
        )
        await process.start()
        life.up = True
        return process

    def check_reader(reader: SesamReader) -> None:
        assert not reader.errors, f"{context} the reader saw: {reader.errors[:10]}"

    try:
        delay = round(rng.uniform(0.02, 0.05), 3)
        await sim.faults(delay_seconds=delay)
        upstream = Upstream(sim, rng, list((await sim.snapshot())["live"]))
        serve = await start()
        reader = SesamReader(serve.url, life, page=PAGE)
        reader_task = asyncio.create_task(reader.run(stop))

        for number in range(1, KILLS + 1):
            await upstream.change(rng.randint(1, 8), f"round {number}")
            if number == 1:
                # The first kill lands in the first full sync, while the feed answers 503:
                # the next process must resume it, and the feed open only once it is done.
                aim, pages = "full", rng.randint(1, CONTACTS // 100 - 5)
                await wait_for_requests(sim, "list", pages)
                detail = f"killed after {pages} list pages of the first full sync"
            else:
                aim = rng.choices(AIMS, weights=(4, 4, 2))[0]
                detail = await aim_kill(serve, sim, rng, aim, contacts=CONTACTS)
            kills.append(Kill(number, aim, owner_of(serve), detail))
            life.killing()
            serve.kill()
            await serve.wait()
            check_reader(reader)
            serve = await start()
            await wait_until(
                holds_lease(serve),
                timeout=30,
                what=f"the process started after kill {number} to take the lease over",
            )
            # The new holder records the killed run interrupted before it runs anything
            # (test_takeover_records.py has the case that once slipped through); noted
            # here, judged at the end, after the feed.
            left_running.extend(
                {"after_kill": number, **run} for run in await runs_left_running(serve)
            )
            check_reader(reader)

        # HubSpot stops changing; a full sync that scans from now on and an incremental
        # bring the mirror up to date, and the reader catches up with the feed.
        final_runs = await converge(serve)
        target = await last_updated(serve)

        async def caught_up() -> bool:
            return reader.since == target

        await wait_until(
            caught_up,
            timeout=60,
            what=f"the reader to reach _updated {target}",
        )
        assert await last_updated(serve) == target, f"{context} the feed changed by itself"
        stop.set()
        await reader_task
        check_reader(reader)

        snapshot = await sim.snapshot()
        fresh = await pull_all(serve.url, since=0)
        fresh_view = {entity["_id"]: entity for entity in fresh}
        runs = await all_runs(serve)
        run_problems = classify_kills(kills, runs)
        evidence.update(
            kills=[asdict(k) for k in kills],
            left_running=left_running,
            final_runs=final_runs,
            runs=runs,
            upstream_history=upstream.history,
        )

        problems = differences(reader.view, snapshot)
        evidence["feed_vs_upstream"] = problems
        assert not problems, (
            f"{context} the reader's view differs from HubSpot in {len(problems)} ways: "
            f"{problems[:15]}"
        )
        assert len(fresh_view) == len(fresh), f"{context} an _id twice in one pull from 0"
        mismatched = fresh_vs_incremental(fresh_view, reader.view)
        evidence["incremental_vs_fresh"] = mismatched
        assert not mismatched, (
            f"{context} a pull from since=0 differs from the reader's incremental view for "
            f"{len(mismatched)} ids: "
            + "; ".join(
                f"{i}: fresh {fresh_view.get(i, {}).get('_updated')} reader "
                f"{reader.view.get(i, {}).get('_updated')}"
                for i in mismatched[:10]
            )
        )
        # The feed opened only once a full sync had completed (the first one was killed):
        # when the reader first caught up it had every contact HubSpot started with, but
        # those removed since (which a scan may rightly never have seen).
        assert reader.first_catch_up is not None
        unseen = {str(i) for i in range(1, CONTACTS + 1)} - reader.first_catch_up
        assert unseen <= upstream.removed, (
            f"{context} when the reader first caught up, {len(unseen - upstream.removed)} "
            f"contacts were missing from the feed: it opened before a full sync completed? "
            f"e.g. {sorted(unseen - upstream.removed, key=int)[:10]}"
        )
        assert not run_problems, f"{context} {run_problems}"
        hits = Counter(k.hit for k in kills)
        assert kills[0].hit == "full", f"{context} the first kill missed the first full sync"
        assert hits["incremental"] >= 1, f"{context} no kill interrupted an incremental: {kills}"
        failed = [f"{r['id']} {r['mode']}: {r['error']}" for r in runs if r["status"] == "failed"]
        resumed = sum(1 for r in runs if r["trigger"] == "resume")
        figures(
            f"{backend}: {len(kills)} kills ({hits['full']} during a full sync, "
            f"{hits['incremental']} during an incremental, {hits['idle']} between runs), "
            f"{resumed} resumed scans, {len(runs)} runs ({len(failed)} failed), "
            f"{reader.summary()}; {sum(upstream.counts.values())} upstream changes "
            f"{dict(upstream.counts)}; {len(snapshot['live'])} live upstream, "
            f"{sum(e['_deleted'] for e in reader.view.values())} tombstones, "
            f"{stale_modified_dates(reader.view, snapshot)} touched-only; "
            f"{len(left_running)} killed runs left 'running' by the successor; delay {delay} s, "
            f"seed {seed}"
        )
        if failed:
            figures(f"{backend}: failed runs: {failed}")
        assert not left_running, (
            f"{context} after {len(left_running)} of {len(kills)} kills the successor ran "
            "syncs while the killed process's run stayed 'running': "
            + "; ".join(
                f"kill {r['after_kill']}: run {r['id']} {r['mode']} started "
                f"{r['started_at']} heartbeat {r['heartbeat_at']}"
                for r in left_running
            )
        )
    finally:
        stop.set()
        if reader_task is not None:
            with contextlib.suppress(Exception):
                await reader_task
        if upstream is not None:
            evidence.setdefault("upstream_history", upstream.history)
        evidence.setdefault("kills", [asdict(k) for k in kills])
        (tmp_path / "evidence.json").write_text(json.dumps(evidence, indent=1, default=str))
        if serve is not None:
            await serve.stop()
        await sim.stop()
