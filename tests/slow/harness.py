"""The machinery of the slow ("proof") tier: a Sesam-style since-reader that follows a server
across SIGKILLs and restarts, seeded upstream changes through the simulator's
``/_sim/mutate``, waiting for runs through the admin routes, and the comparison of a feed
with the simulator's snapshot.

Everything here talks HTTP to real processes (``tests/processes.py``); nothing is stubbed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from tests.helpers import wait_until
from tests.processes import ServeProcess, SimulatorProcess

SEED_ENV = "SLOW_SEED"
HOSTNAME = socket.gethostname()
FINISHED = ("succeeded", "failed", "interrupted", "coalesced")
Condition = Callable[[], Awaitable[bool]]
# How long the reader waits before asking again once it has caught up (a poll interval:
# Sesam asks on its schedule, not when told that something changed).
READER_POLL_S = 0.05


def seed_from_env() -> int:
    """``SLOW_SEED=<n>`` replays a run's random choices; otherwise a fresh seed, printed by
    the tests in their summary line and in every failure message."""
    raw = os.environ.get(SEED_ENV)
    return int(raw) if raw else random.SystemRandom().randrange(2**32)


def owner_of(serve: ServeProcess) -> str:
    """The prefix of a serve process's lease owner (``host:pid:token``): the token is
    random, but host and pid name the process."""
    assert serve.proc is not None
    return f"{HOSTNAME}:{serve.proc.pid}:"


def log_lines(serve: ServeProcess, lines: int = 30) -> str:
    """The end of a serve process's log without its access lines (the tests poll)."""
    text = serve.log_path.read_text(errors="replace") if serve.log_path.exists() else ""
    kept = [line for line in text.splitlines() if "proxy.access" not in line]
    return "\n".join(kept[-lines:])


def user_agent_owner(client: str) -> str:
    """``change-proxy (host:pid:token)`` → ``host:pid:token``."""
    prefix = "change-proxy ("
    assert client.startswith(prefix) and client.endswith(")"), client
    return client[len(prefix) : -1]


# --- the reader -------------------------------------------------------------------------------


@dataclass
class ServerLife:
    """What the reader needs to tell an expected connection failure from a real one: the
    test bumps ``generation`` and clears ``up`` just before it kills the server, and sets
    ``up`` once the new process answers."""

    generation: int = 0
    up: bool = False

    def killing(self) -> None:
        self.up = False
        self.generation += 1


@dataclass
class SesamReader:
    """Pulls ``GET <url>/<feed>?since=<last _updated seen>&limit=<page>`` the way a Sesam
    json source with ``supports_since``, ``is_chronological`` and ``page_size`` does, and
    keeps what it has read as ``view`` {_id: latest entity}.

    Expected and retried: connection refused or dropped while the server is down or was
    killed during the request (``life`` says so), and ``503`` before the feed ever answered
    ``200``. Anything else is recorded in ``errors``: another status, a 503 once the feed was
    ready, a connection failure while the server was up and not killed, a body that is not a
    JSON array, or a page that breaks the protocol (``_updated`` not above ``since`` or not
    ascending, more entities than ``limit``, malformed ``_id``/``_updated``/``_deleted``)."""

    url: str
    life: ServerLife
    page: int
    feed: str = "contacts"
    since: int | None = None
    view: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0
    pages: int = 0
    entities: int = 0
    refused: int = 0  # no connection: the server was down
    dropped: int = 0  # the connection broke during the request: the server was killed
    not_ready: int = 0
    ready: bool = False
    first_catch_up: set[str] | None = None
    """The ids read by the time the reader first caught up with the feed (a short page)."""
    errors: list[str] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not stop.is_set():
                more = await self.pull_once(session)
                if not more:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=READER_POLL_S)

    def summary(self) -> str:
        return (
            f"{self.requests} reader requests ({self.pages} pages, {self.entities} entities, "
            f"{self.refused} refused and {self.dropped} dropped by a dead server, "
            f"{self.not_ready} not-ready 503s), {len(self.errors)} errors"
        )

    async def pull_once(self, session: aiohttp.ClientSession) -> bool:
        """One request; True when it returned a full page (more may follow at once)."""
        params = {"limit": str(self.page)}
        if self.since is not None:
            params["since"] = str(self.since)
        generation, was_up = self.life.generation, self.life.up
        self.requests += 1
        try:
            async with session.get(f"{self.url}/{self.feed}", params=params) as resp:
                body = await resp.read()
                status, headers = resp.status, resp.headers
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            if not was_up or self.life.generation != generation:
                if isinstance(exc, aiohttp.ClientConnectorError):
                    self.refused += 1
                else:
                    self.dropped += 1
            else:
                self.errors.append(
                    f"since={self.since}: {type(exc).__name__}: {exc} while the server was up "
                    "and not being killed"
                )
            return False
        except TimeoutError:
            self.errors.append(f"since={self.since}: no answer within 60 s")
            return False
        where = f"GET /{self.feed}?{'&'.join(f'{k}={v}' for k, v in params.items())}"
        if status == 503:
            if self.ready:
                self.errors.append(f"{where}: 503 after the feed had answered 200: {body[:300]!r}")
            elif "Retry-After" not in headers or b'"error"' not in body:
                self.errors.append(f"{where}: 503 without Retry-After or JSON error: {body!r}")
            else:
                self.not_ready += 1
            return False
        if status != 200:
            self.errors.append(f"{where}: status {status}: {body[:500]!r}")
            return False
        if not headers.get("Content-Type", "").startswith("application/json"):
            self.errors.append(f"{where}: Content-Type {headers.get('Content-Type')!r}")
        try:
            entities = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            self.errors.append(f"{where}: a complete 200 that is not JSON ({exc}): {body[-200:]!r}")
            return False
        problems = protocol_problems(entities, since=self.since or 0, limit=self.page)
        if problems:
            self.errors.extend(f"{where}: {p}" for p in problems)
            return False
        self.ready = True
        self.pages += 1
        self.entities += len(entities)
        for entity in entities:
            self.view[entity["_id"]] = entity
        if entities:
            self.since = entities[-1]["_updated"]
        if len(entities) < self.page and self.first_catch_up is None:
            self.first_catch_up = set(self.view)
        return len(entities) == self.page


def protocol_problems(entities: object, *, since: int, limit: int | None) -> list[str]:
    """What is wrong with one feed response under the JSON-pull protocol (empty: nothing)."""
    if not isinstance(entities, list):
        return [f"the body is not a JSON array but {type(entities).__name__}"]
    if limit is not None and len(entities) > limit:
        return [f"{len(entities)} entities for limit={limit}"]
    problems: list[str] = []
    previous = since
    for entity in entities:
        if not isinstance(entity, dict):
            return [f"an entity is not an object: {entity!r:.200}"]
        updated, entity_id = entity.get("_updated"), entity.get("_id")
        own_id = entity.get("id")  # a string at HubSpot; a declared source's may be a number
        if not isinstance(entity_id, str) or entity_id != (
            str(own_id) if isinstance(own_id, int) else own_id
        ):
            problems.append(f"_id {entity_id!r} is not the string id {entity.get('id')!r}")
        if not isinstance(entity.get("_deleted"), bool):
            problems.append(f"{entity_id}: _deleted is {entity.get('_deleted')!r}")
        if not isinstance(updated, int) or isinstance(updated, bool):
            problems.append(f"{entity_id}: _updated is {updated!r}")
            continue
        if updated <= previous:
            what = "not above since" if previous == since else "not ascending"
            problems.append(f"{entity_id}: _updated {updated} after {previous}: {what}")
        previous = updated
    return problems


async def pull_all(
    url: str, *, since: int | None = 0, limit: int | None = None, feed: str = "contacts"
) -> list[Any]:
    """Every entity above ``since`` (pages of ``limit`` followed to the end; one request
    without), each response checked against the protocol."""
    out: list[Any] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        while True:
            params = {}
            if since is not None:
                params["since"] = str(since)
            if limit is not None:
                params["limit"] = str(limit)
            async with session.get(f"{url}/{feed}", params=params) as resp:
                body = await resp.read()
                assert resp.status == 200, f"{url}/{feed} {params}: {resp.status} {body[:300]!r}"
            entities = orjson.loads(body)
            problems = protocol_problems(entities, since=since or 0, limit=limit)
            assert not problems, f"{url}/{feed} {params}: {problems[:5]}"
            out.extend(entities)
            if limit is None or len(entities) < limit:
                return out
            since = entities[-1]["_updated"]


# --- upstream changes -------------------------------------------------------------------------


class Upstream:
    """Seeded random changes to the simulator's account, through ``/_sim/mutate``.

    The test keeps its own model of which ids are live and which archived (ids are handed
    out in order, so the model follows from the operations alone), so every operation names
    ids it applies to, and a run's operations replay from its seed. Each update sets a value
    nobody set before: an update that changed nothing would be no change to mirror."""

    # Relative weights of the operations (a bulk update is HubSpot's import or workflow:
    # many records, one identical lastmodifieddate).
    WEIGHTS: Mapping[str, int] = {
        "update": 34,
        "create": 18,
        "archive": 12,
        "restore": 8,
        "gdpr_delete": 10,
        "merge": 10,
        "bulk_update": 8,
    }
    PROPERTIES = ("firstname", "lastname", "company", "jobtitle", "city", "phone")

    def __init__(self, sim: SimulatorProcess, rng: random.Random, live: list[str]) -> None:
        self.sim = sim
        self.rng = rng
        self.live: set[str] = set(live)
        self.archived: set[str] = set()
        self.history: list[str] = []
        self.removed: set[str] = set()
        """Ids archived, GDPR-deleted or merged away at some point."""
        self.counts: dict[str, int] = dict.fromkeys(self.WEIGHTS, 0)
        self._stamp = 0

    def _pick(self, ids: set[str], k: int = 1) -> list[str]:
        return self.rng.sample(sorted(ids, key=int), k)

    def _value(self, tag: str) -> str:
        self._stamp += 1
        return f"{tag}-{self._stamp}"

    async def change(self, operations: int, tag: str) -> None:
        for _ in range(operations):
            op = self.rng.choices(list(self.WEIGHTS), weights=list(self.WEIGHTS.values()))[0]
            if op == "restore" and not self.archived:
                op = "update"
            if op in ("merge", "bulk_update") and len(self.live) < 10:
                op = "create"
            self.history.append(f"{tag}: {await self._apply(op, tag)}")
            self.counts[op] += 1

    async def _apply(self, op: str, tag: str) -> str:
        rng = self.rng
        if op == "create":
            n = rng.randint(1, 5)
            ids = (await self.sim.mutate(op="create", n=n))["ids"]
            self.live.update(ids)
            return f"create {ids}"
        if op == "update":
            (target,) = self._pick(self.live)
            name = rng.choice(self.PROPERTIES)
            value = self._value(tag)
            await self.sim.mutate(op="update", id=target, properties={name: value})
            return f"update {target} {name}={value}"
        if op == "bulk_update":
            targets = self._pick(self.live, rng.randint(2, 8))
            value = self._value(tag)
            await self.sim.mutate(op="update", ids=targets, properties={"company": value})
            return f"bulk update {targets} company={value}"
        if op == "archive":
            (target,) = self._pick(self.live)
            await self.sim.mutate(op="archive", id=target)
            self.removed.add(target)
            self.live.discard(target)
            self.archived.add(target)
            return f"archive {target}"
        if op == "restore":
            (target,) = self._pick(self.archived)
            await self.sim.mutate(op="restore", id=target)
            self.archived.discard(target)
            self.live.add(target)
            return f"restore {target}"
        if op == "gdpr_delete":
            # Mostly live records; sometimes an archived one, which only a full scan that
            # finds it in neither listing can tell apart from a still-archived one.
            archived_only = self.archived and rng.random() < 0.3
            (target,) = self._pick(self.archived if archived_only else self.live | self.archived)
            await self.sim.mutate(op="gdpr_delete", id=target)
            self.removed.add(target)
            self.live.discard(target)
            self.archived.discard(target)
            return f"gdpr_delete {target}"
        assert op == "merge", op
        primary, other = self._pick(self.live, 2)
        new_id = (await self.sim.mutate(op="merge", primary=primary, other=other))["id"]
        self.removed.update({primary, other})
        self.live.difference_update({primary, other})
        self.live.add(new_id)
        return f"merge {primary}+{other} -> {new_id}"


# --- kills ------------------------------------------------------------------------------------

AIMS = ("full", "incremental", "moment")


async def sim_requests(sim: SimulatorProcess, route: str) -> int:
    """How many requests of ``route`` (list, search, …) the simulator has answered."""
    stats = await sim.call("GET", "/_sim/stats")
    return int(stats["requests"].get(route, 0))


async def wait_for_requests(
    sim: SimulatorProcess, route: str, count: int, *, base: int = 0, also: Condition | None = None
) -> None:
    """Until the simulator has answered ``count`` more requests of ``route`` than ``base``
    (or ``also`` holds)."""

    async def enough() -> bool:
        if await sim_requests(sim, route) - base >= count:
            return True
        return also is not None and await also()

    await wait_until(enough, timeout=60, what=f"{count} {route} requests")


async def aim_kill(
    admin: ServeProcess, sim: SimulatorProcess, rng: random.Random, aim: str, *, contacts: int
) -> str:
    """Wait for a random point to kill the syncing process at, and say what it was: in a
    full sync (requested through ``admin``, any replica), after a random number of its list
    pages; in an incremental one, after a random number of search pages; or a random moment.
    The run records tell afterwards what the kill actually interrupted."""
    if aim == "full":
        # The live listing is one page per 100 contacts; a resumed scan needs fewer, so the
        # run's end also ends the wait.
        run_id = await request_run(admin, "full")
        pages = rng.randint(1, contacts // 100 + 4)
        base = await sim_requests(sim, "list")

        async def over() -> bool:
            run = await admin.admin("GET", f"/admin/runs/{run_id}")
            return run["status"] in FINISHED

        await wait_for_requests(sim, "list", pages, base=base, also=over)
        return f"full run {run_id} requested, killed after {pages} list pages or its end"
    if aim == "incremental":
        # Each incremental re-reads the records modified within SEARCH_OVERLAP_SECONDS (at
        # first: all of them), 200 a page; the count may run on into the next run.
        pages = rng.randint(1, contacts // 200 + 1)
        await wait_for_requests(sim, "search", pages, base=await sim_requests(sim, "search"))
        return f"killed after {pages} search pages"
    assert aim == "moment", aim
    moment = rng.uniform(0, 1.5)
    await asyncio.sleep(moment)  # the point of this kill is a random moment, not an event
    return f"killed {moment:.2f} s into the round"


async def runs_left_running(serve: ServeProcess) -> list[dict[str, Any]]:
    """Once ``serve`` (which holds the lease) has started a run of its own, the runs of
    other processes still marked running: none may be, since a new holder records its dead
    predecessor's run interrupted before it claims one (``SyncWorker._on_acquired``)."""
    me = owner_of(serve)
    runs: list[dict[str, Any]] = []

    async def started() -> bool:
        runs[:] = (await serve.admin("GET", "/admin/runs?limit=50"))["runs"]
        return any((r["owner"] or "").startswith(me) for r in runs)

    await wait_until(started, timeout=30, what=f"{serve.name} to start a run")
    return [r for r in runs if r["status"] == "running" and not (r["owner"] or "").startswith(me)]


def holds_lease(serve: ServeProcess, feed: str = "contacts") -> Condition:
    """A condition: ``serve`` says it is the process that runs the feed's syncs."""

    async def check() -> bool:
        status = await serve.admin("GET", "/admin/status")
        return bool(status["objects"][feed]["health"]["this_process_syncs"])

    return check


# --- runs -------------------------------------------------------------------------------------


@dataclass
class Kill:
    number: int
    aim: str  # full | incremental | moment: where the test tried to kill
    owner: str  # host:pid: of the killed process
    detail: str
    hit: str = "?"  # full | incremental | idle: what the run records say it interrupted


def classify_kills(kills: list[Kill], runs: list[dict[str, Any]]) -> list[str]:
    """Set each kill's ``hit`` from the run records; returns what is wrong with them."""
    problems: list[str] = []
    for kill in kills:
        mine = [r for r in runs if (r["owner"] or "").startswith(kill.owner)]
        left = [r["id"] for r in mine if r["status"] not in FINISHED]
        if left:
            problems.append(f"kill {kill.number}: runs {left} of the killed process never ended")
        interrupted = [r for r in mine if r["status"] == "interrupted"]
        if len(interrupted) > 1:
            problems.append(f"kill {kill.number}: more than one run interrupted: {interrupted}")
        kill.hit = interrupted[0]["mode"] if interrupted else "idle"
        for run in interrupted:
            # Recorded by another process (a SIGKILLed one records nothing itself), as
            # interrupted: by the next lease holder, or by a process starting up.
            error = run["error"] or ""
            if not error.startswith("interrupted:") or "service stopped" in error:
                problems.append(f"kill {kill.number}: run {run['id']} error {error!r}")
    return problems


async def request_run(serve: ServeProcess, mode: str, feed: str = "contacts") -> int:
    answer = await serve.admin("POST", f"/admin/resync?object={feed}&mode={mode}")
    assert "run_id" in answer, answer
    return int(answer["run_id"])


async def wait_for_run(serve: ServeProcess, run_id: int, *, timeout: float = 60) -> dict[str, Any]:  # noqa: ASYNC109
    """The run record once the run has finished (any outcome)."""
    record: dict[str, Any] = {}

    async def finished() -> bool:
        nonlocal record
        record = await serve.admin("GET", f"/admin/runs/{run_id}")
        return record.get("status") in FINISHED

    try:
        await wait_until(finished, timeout=timeout, what=f"run {run_id} to finish")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen {record}\n{serve.log()}") from None
    return record


async def converge(serve: ServeProcess) -> list[dict[str, Any]]:
    """With upstream no longer changing: a full sync whose scan began now (one requested
    after a crash resumes the interrupted scan, which already counted records it saw before
    they were deleted: the deletion is evidence only for a scan that starts after it), then
    an incremental. Returns the runs, each of which must have succeeded."""
    runs: list[dict[str, Any]] = []
    for _ in range(4):
        full = await wait_for_run(serve, await request_run(serve, "full"), timeout=120)
        runs.append(full)
        if full["status"] == "failed" and "ListingIncomplete" in (full["error"] or ""):
            # A resumed scan that HubSpot changed under (a record restored after the live
            # listing passed it) deletes nothing and gives up; the next one starts over.
            continue
        assert full["status"] == "succeeded", f"the final full sync: {full}\n{log_lines(serve)}"
        if full["scan_run_id"] == full["id"]:
            break
    else:
        raise AssertionError(f"no full sync began a scan of its own and succeeded: {runs}")
    incremental = await wait_for_run(serve, await request_run(serve, "incremental"))
    assert incremental["status"] == "succeeded", f"the final incremental: {incremental}"
    runs.append(incremental)
    return runs


async def all_runs(serve: ServeProcess) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = (await serve.admin("GET", "/admin/runs?limit=1000"))["runs"]
    assert len(runs) < 1000, "more runs than one page of /admin/runs: raise the limit"
    return runs


async def last_updated(serve: ServeProcess, feed: str = "contacts") -> int:
    status = await serve.admin("GET", "/admin/status")
    return int(status["objects"][feed]["last_updated"])


# --- comparison -------------------------------------------------------------------------------

# The proxy leaves the modification date out of change detection (sync.py: it ticks with
# every edit, and the edits that matter change other content). A record touched without a
# content change (archived and restored between two looks) therefore keeps its earlier date
# in the feed: those two fields are compared as "never ahead of upstream", the rest exactly.
MODIFIED = "lastmodifieddate"


def fresh_vs_incremental(
    fresh: Mapping[str, Mapping[str, Any]], view: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """The ids on which a pull from ``since=0`` (``fresh``) and the reader's incremental
    view differ: present in one only, or a different copy; in numeric order."""
    both = fresh.keys() & view.keys()
    return sorted((fresh.keys() ^ view.keys()) | {i for i in both if fresh[i] != view[i]}, key=int)


def differences(feed: Mapping[str, Mapping[str, Any]], snapshot: Mapping[str, Any]) -> list[str]:
    """Where a feed view {_id: entity} differs from the upstream snapshot: every live
    upstream record live in the feed with exactly its properties; every other mirrored id
    (archived, GDPR-deleted, merged away) a tombstone."""
    live: Mapping[str, Mapping[str, Any]] = snapshot["live"]
    archived = set(snapshot["archived"])
    problems: list[str] = []
    for entity_id, record in live.items():
        entity = feed.get(entity_id)
        if entity is None:
            problems.append(f"{entity_id}: live upstream, not in the feed")
            continue
        if entity["_deleted"]:
            problems.append(
                f"{entity_id}: live upstream, _deleted in the feed (_updated {entity['_updated']})"
            )
            continue
        ours, theirs = entity.get("properties", {}), record["properties"]
        wrong = sorted(
            name
            for name in ours.keys() | theirs.keys()
            if name != MODIFIED and ours.get(name, "<absent>") != theirs.get(name, "<absent>")
        )
        if wrong:
            shown = {name: (ours.get(name), theirs.get(name)) for name in wrong[:6]}
            problems.append(
                f"{entity_id}: properties differ (feed, upstream) {shown} "
                f"(_updated {entity['_updated']})"
            )
        if (ours.get(MODIFIED) or "") > (theirs.get(MODIFIED) or ""):
            problems.append(f"{entity_id}: {MODIFIED} {ours.get(MODIFIED)} ahead of upstream")
        for key in ("createdAt", "archived"):
            if entity.get(key) != record.get(key):
                problems.append(f"{entity_id}: {key} {entity.get(key)!r} != {record.get(key)!r}")
    for entity_id, entity in feed.items():
        if entity_id not in live and not entity["_deleted"]:
            why = "archived" if entity_id in archived else "GDPR-deleted or merged away"
            problems.append(
                f"{entity_id}: {why} upstream, live in the feed (_updated {entity['_updated']})"
            )
    return problems


def stale_modified_dates(feed: Mapping[str, Mapping[str, Any]], snapshot: Mapping[str, Any]) -> int:
    """How many live records carry an older modification date than upstream (touched
    without a content change)."""
    live: Mapping[str, Mapping[str, Any]] = snapshot["live"]
    return sum(
        1
        for entity_id, record in live.items()
        if entity_id in feed
        and feed[entity_id].get("properties", {}).get(MODIFIED) != record["properties"][MODIFIED]
    )
