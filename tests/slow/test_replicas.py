"""Three ``change-proxy serve`` replicas on one Postgres database: only the lease holder calls
HubSpot, and when it is killed another takes over, never while the old one still calls.

One simulator process (2,000 contacts, a small per-request delay); three replicas; HubSpot
changes, the leader is SIGKILLed (at a random point of a sync), HubSpot changes again, a
survivor takes over and a new replica replaces the dead one (as an orchestrator restarts
it), three times: four leaders. The simulator's request log (every API request with its
arrival time and User-Agent, which names the calling process) then shows one client at a
time, in the order of the leaders, each new one starting only after its predecessor died;
and every surviving replica serves a feed equal to HubSpot.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_until
from tests.processes import ServeProcess, SimulatorProcess
from tests.slow.harness import (
    AIMS,
    SEED_ENV,
    Upstream,
    aim_kill,
    converge,
    differences,
    owner_of,
    pull_all,
    runs_left_running,
    seed_from_env,
    user_agent_owner,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CONTACTS = 2000
REPLICAS = 3
LEADER_KILLS = 3
ENV = {"SYNC_INTERVAL_SECONDS": "1", "FULL_SYNC_CRON": "", "LEASE_SECONDS": "2"}


@dataclass
class Leader:
    owner: str  # the full lease owner, host:pid:token, as in the User-Agent
    name: str  # the replica's name (its log file)
    seen_at: float  # time.monotonic() when /admin/status first named it
    died_at: float | None = None  # time.monotonic() once its SIGKILL had taken effect
    aim: str = ""


async def status_of(replica: ServeProcess) -> dict[str, Any]:
    status: dict[str, Any] = (await replica.admin("GET", "/admin/status"))["objects"]["contacts"]
    return status


async def find_leader(replicas: list[ServeProcess], *, not_owner: str | None = None) -> Leader:
    """Poll the replicas until exactly one says it runs the syncs and every one names it as
    the lease owner, and return it."""
    found: list[Leader] = []
    seen: list[Any] = []

    async def agreed() -> bool:
        statuses = await asyncio.gather(*(status_of(r) for r in replicas))
        seen[:] = [s["health"] for s in statuses]
        holders = [
            (replica, s["health"]["sync_process"])
            for replica, s in zip(replicas, statuses, strict=True)
            if s["health"]["this_process_syncs"]
        ]
        owners = {s["health"]["sync_process"] for s in statuses}
        if len(holders) != 1 or len(owners) != 1:
            return False
        replica, owner = holders[0]
        if owner is None or owner == not_owner or not owner.startswith(owner_of(replica)):
            return False
        found.append(Leader(owner, replica.name, time.monotonic()))
        return True

    try:
        await wait_until(agreed, timeout=30, what="one replica to hold the lease")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the replicas say {seen}") from None
    return found[0]


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_three_replicas_one_caller_at_a_time_and_the_same_feed(
    tmp_path: Path, database_url: str, figures: Callable[[str], None]
) -> None:
    seed = seed_from_env()
    rng = random.Random(seed)
    context = f"[seed {seed}: replay with {SEED_ENV}={seed}; logs in {tmp_path}]"
    sim = await SimulatorProcess(tmp_path, CONTACTS).start()
    started = 0
    replicas: list[ServeProcess] = []
    dead: list[ServeProcess] = []
    left_running: list[dict[str, Any]] = []

    def replica() -> ServeProcess:
        nonlocal started
        started += 1
        return ServeProcess(tmp_path, f"replica-{started}", database_url, sim, **ENV)

    try:
        delay = round(rng.uniform(0.02, 0.04), 3)
        await sim.faults(delay_seconds=delay)
        upstream = Upstream(sim, rng, list((await sim.snapshot())["live"]))
        replicas = list(await asyncio.gather(*(replica().start() for _ in range(REPLICAS))))
        leaders = [await find_leader(replicas)]

        async def ready() -> bool:
            return bool((await status_of(replicas[0]))["ready"])

        await wait_until(ready, timeout=60, what="the first full sync")

        for round_ in range(1, LEADER_KILLS + 1):
            leader = leaders[-1]
            doomed = next(r for r in replicas if r.name == leader.name)
            followers = [r for r in replicas if r is not doomed]
            await upstream.change(rng.randint(2, 8), f"round {round_}, before the kill")
            aim = rng.choice(AIMS)
            # A full sync is requested of a follower: runs queue in the database and run on
            # the leader, whichever replica was asked.
            leader.aim = await aim_kill(rng.choice(followers), sim, rng, aim, contacts=CONTACTS)
            doomed.kill()
            await doomed.wait()
            leader.died_at = time.monotonic()
            replicas.remove(doomed)
            dead.append(doomed)
            await upstream.change(rng.randint(2, 8), f"round {round_}, after the kill")
            leaders.append(await find_leader(replicas, not_owner=leader.owner))
            # The new leader records the killed one's run interrupted before it runs
            # anything; noted here, judged at the end, after the feeds and the log.
            successor = next(r for r in replicas if r.name == leaders[-1].name)
            left_running.extend(
                {"after_kill": round_, **run} for run in await runs_left_running(successor)
            )
            replicas.append(await replica().start())  # the orchestrator replaces it

        # HubSpot stops changing; converge through a replica that is not the leader.
        asked = next(r for r in replicas if r.name != leaders[-1].name)
        final_runs = await converge(asked)
        snapshot = await sim.snapshot()
        feeds = [await pull_all(r.url, since=None) for r in replicas]
        log = await sim.call("GET", "/_sim/log?after=0")
    finally:
        for process in replicas:
            await process.stop()
        await sim.stop()

    # Every surviving replica serves the same feed, and it equals HubSpot.
    for process, feed in zip(replicas, feeds, strict=True):
        view = {entity["_id"]: entity for entity in feed}
        assert len(view) == len(feed), f"{context} {process.name}: an _id twice in one pull"
        problems = differences(view, snapshot)
        assert not problems, (
            f"{context} {process.name}'s feed differs from HubSpot in {len(problems)} ways: "
            f"{problems[:15]}; final runs {final_runs}"
        )
    assert all(feed == feeds[0] for feed in feeds), f"{context} the replicas' feeds differ"

    # One client at a time: sorted by arrival, the requests form one block per client, in
    # the order the leaders were found, and each block begins after the previous leader died.
    entries = sorted(log["entries"], key=lambda e: (e["t"], e["seq"]))
    assert entries and min(e["seq"] for e in entries) == 1, "the simulator's log was trimmed"
    blocks = [
        (client, list(group)) for client, group in itertools.groupby(entries, lambda e: e["client"])
    ]
    order = [user_agent_owner(client) for client, _ in blocks]
    expected = [leader.owner for leader in leaders]
    assert order == expected, (
        f"{context} the callers of HubSpot, in order of arrival (a name twice means two "
        f"processes interleaved): {order}; the leaders found: {expected}"
    )
    named: list[float] = []  # death to /admin/status naming the next leader
    takeovers: list[float] = []  # death to the next leader's first HubSpot request
    for (before, after), (_, previous), (client, calls) in zip(
        itertools.pairwise(leaders), blocks, blocks[1:], strict=False
    ):
        assert before.died_at is not None
        assert previous[-1]["t"] < before.died_at
        named.append(after.seen_at - before.died_at)
        first = calls[0]["t"]
        assert first > before.died_at, (
            f"{context} {client} called HubSpot at {first:.3f}, before the previous "
            f"leader {before.owner} had died ({before.died_at:.3f})"
        )
        takeovers.append(first - before.died_at)
    requests = Counter(user_agent_owner(e["client"]) for e in entries)
    figures(
        f"postgres: {len(replicas) + len(dead)} replicas started ({len(dead)} leaders killed), "
        f"{len(leaders)} leaders in turn, requests per leader "
        f"{[requests[leader.owner] for leader in leaders]}; takeovers: death to the next "
        f"leader named by /admin/status {', '.join(f'{t:.2f}' for t in named)} s, to its first "
        f"HubSpot request {', '.join(f'{t:.2f}' for t in takeovers)} s; "
        f"kills: {[leader.aim for leader in leaders[:-1]]}; {sum(upstream.counts.values())} "
        f"upstream changes; {len(left_running)} killed runs left 'running' by the successor; "
        f"delay {delay} s, seed {seed}"
    )
    assert not left_running, (
        f"{context} a new leader ran syncs while the killed leader's run stayed 'running': "
        f"{left_running}"
    )
