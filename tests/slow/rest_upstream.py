"""The proof tier's side of a declared source: seeded random changes to the filterless REST
simulator (``python -m proxy.simulator.rest``) through ``/_sim/mutate``, the comparison of a
feed with its snapshot, and the scans that bring the mirror up to date at the end."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from tests.helpers import wait_until
from tests.processes import RestSimulatorProcess, ServeProcess
from tests.slow.harness import FINISHED, log_lines, request_run, wait_for_run

CANCELLED = "cancelled"  # the soft deletion the tests declare: deleted = {status: cancelled}


async def api_requests(sim: RestSimulatorProcess) -> int:
    """How many API requests (list pages and item reads) the simulator has answered."""
    return int((await sim.call("GET", "/_sim/stats"))["requests"])


async def wait_for_scan(
    sim: RestSimulatorProcess, serve: ServeProcess, run_id: int, count: int, *, base: int
) -> None:
    """Until the simulator has answered ``count`` more API requests (list pages, item
    reads) than ``base``, or run ``run_id`` has ended (a resumed scan has fewer pages)."""

    async def enough() -> bool:
        if await api_requests(sim) - base >= count:
            return True
        record = await serve.admin("GET", f"/admin/runs/{run_id}")
        return record["status"] in FINISHED

    await wait_until(enough, timeout=60, what=f"{count} requests of run {run_id}")


class RestUpstream:
    """Seeded random changes to the simulator's orders. The test keeps its own model of
    which ids are active, cancelled (soft-deleted) and gone, so each operation names an id
    it applies to and a run's operations replay from its seed. Every update sets a name
    nobody set before (an update that changed nothing would be no change to mirror)."""

    WEIGHTS: Mapping[str, int] = {"update": 45, "create": 25, "delete": 18, "soft_delete": 12}

    def __init__(self, sim: RestSimulatorProcess, rng: random.Random, ids: list[int]) -> None:
        self.sim = sim
        self.rng = rng
        self.active: set[int] = set(ids)
        self.cancelled: set[int] = set()
        self.gone: set[int] = set()
        self.history: list[str] = []
        self.counts: dict[str, int] = dict.fromkeys(self.WEIGHTS, 0)
        self._stamp = 0

    @property
    def removed(self) -> set[str]:
        """Ids deleted or soft-deleted at some point."""
        return {str(i) for i in self.gone | self.cancelled}

    def _pick(self, ids: set[int]) -> int:
        return self.rng.choice(sorted(ids))

    async def change(self, operations: int, tag: str) -> None:
        for _ in range(operations):
            op = self.rng.choices(list(self.WEIGHTS), weights=list(self.WEIGHTS.values()))[0]
            if op != "create" and len(self.active) < 10:
                op = "create"
            self.history.append(f"{tag}: {await self._apply(op, tag)}")
            self.counts[op] += 1

    async def _apply(self, op: str, tag: str) -> str:
        self._stamp += 1
        name = f"{tag}-{self._stamp}"
        if op == "create":
            ids = []
            for _ in range(self.rng.randint(1, 3)):
                ids.append(int((await self.sim.mutate(op="create", name=name))["id"]))
            self.active.update(ids)
            return f"create {ids}"
        if op == "update":
            target = self._pick(self.active)
            await self.sim.mutate(op="update", id=target, name=name)
            return f"update {target} name={name}"
        if op == "soft_delete":
            target = self._pick(self.active)
            await self.sim.mutate(op="soft_delete", id=target)
            self.active.discard(target)
            self.cancelled.add(target)
            return f"soft_delete {target}"
        assert op == "delete", op
        target = self._pick(self.active | self.cancelled)
        await self.sim.mutate(op="delete", id=target)
        self.active.discard(target)
        self.cancelled.discard(target)
        self.gone.add(target)
        return f"delete {target}"


def rest_differences(
    feed: Mapping[str, Mapping[str, Any]], snapshot: Mapping[str, Any]
) -> list[str]:
    """Where a feed view {_id: entity} differs from the simulator's snapshot: every listed
    active order live in the feed with exactly its content; every cancelled one a tombstone
    with its content (or absent, if no scan saw it before it was cancelled); every other id
    in the feed deleted upstream and a tombstone."""
    records = {str(r["id"]): r for r in snapshot["records"]}
    gone = {str(i) for i in snapshot["gone"]}
    problems: list[str] = []
    for record_id, record in records.items():
        entity = feed.get(record_id)
        cancelled = record["status"] == CANCELLED
        if entity is None:
            if not cancelled:
                problems.append(f"{record_id}: listed upstream, not in the feed")
            continue
        if entity["_deleted"] != cancelled:
            problems.append(
                f"{record_id}: status {record['status']} upstream, _deleted "
                f"{entity['_deleted']} in the feed (_updated {entity['_updated']})"
            )
        content = {k: v for k, v in entity.items() if not k.startswith("_")}
        if content != record:
            problems.append(f"{record_id}: feed {content} != upstream {record}")
    for entity_id, entity in feed.items():
        if entity_id in records:
            continue
        if entity_id not in gone:
            problems.append(f"{entity_id}: in the feed, never an order upstream")
        elif not entity["_deleted"]:
            problems.append(
                f"{entity_id}: deleted upstream, live in the feed (_updated {entity['_updated']})"
            )
    return problems


async def converge_scans(serve: ServeProcess, feed: str, fresh: int) -> list[dict[str, Any]]:
    """With upstream no longer changing: full scans until ``fresh`` in a row have succeeded
    that each began a scan of their own. One that resumes a killed scan counted records it
    saw before they were deleted; without ``item_url`` a deletion needs two complete scans
    that missed the record. A scan found incomplete (a resumed offset listing that shifted,
    an item_url answering for a record the listing missed) deletes nothing and the next one
    starts over. Returns the runs."""
    runs: list[dict[str, Any]] = []
    streak = 0
    for _ in range(fresh + 4):
        run = await wait_for_run(serve, await request_run(serve, "full", feed), timeout=120)
        runs.append(run)
        if run["status"] == "failed" and "ListingIncomplete" in (run["error"] or ""):
            streak = 0
            continue
        assert run["status"] == "succeeded", f"a final scan: {run}\n{log_lines(serve)}"
        streak = streak + 1 if run["scan_run_id"] == run["id"] else 0
        if streak == fresh:
            return runs
    raise AssertionError(f"no {fresh} scans of their own in a row succeeded: {runs}")
