"""A sync that stops must say so: the worker survives any error (the run is recorded with
its reason), runs have a time limit, a failed full sync is retried, and /health, status and
metrics report a dead worker or runs that stopped succeeding."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa

from proxy import worker as worker_module
from proxy.simulator import HubSpotSimulator
from tests.helpers import age_runs, wait_until
from tests.sync.conftest import RigFactory


def fail_once(obj: Any, name: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make ``obj.name`` raise a database error the first time it is called (then behave)."""
    real: Callable[..., Awaitable[Any]] = getattr(obj, name)
    calls: list[int] = []

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("injected", {}, Exception("database went away"))
        return await real(*args, **kwargs)

    monkeypatch.setattr(obj, name, flaky)
    return calls


@pytest.mark.parametrize(
    ("target", "method"),
    [("runs", "claim_next"), ("runs", "finish"), ("reader", "object_status")],
)
async def test_a_database_error_never_ends_the_worker(
    make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch, target: str, method: str
) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(30)
    rig = await make_rig(sim)
    await rig.sync("full")
    calls = fail_once(getattr(rig.store, target), method, monkeypatch)
    first = await rig.sync("incremental")
    assert calls, "the injected failure was never reached"
    worker = rig.scheduler.workers["contacts"]
    assert worker.alive
    if method == "claim_next":  # nothing was claimed: the run waited for the next try
        assert first.status == "succeeded", first.error
    else:  # the run failed, and says why
        assert first.status == "failed" and "internal error" in (first.error or "")
        assert "database went away" in (first.error or "")
    sim.create_contacts(2)
    second = await rig.sync("incremental")
    assert (second.status, second.created) == ("succeeded", 2)


async def test_a_dead_worker_makes_health_status_and_metrics_say_so(make_rig: RigFactory) -> None:
    rig = await make_rig()
    assert (await rig.client.get("/health")).status == 200
    for task in rig.scheduler.workers["contacts"]._tasks:
        task.cancel()
    await asyncio.gather(*rig.scheduler.workers["contacts"]._tasks, return_exceptions=True)
    resp = await rig.client.get("/health")
    body = await resp.json()
    assert resp.status == 503 and body["status"] == "error"
    assert "not running" in body["objects"]["contacts"]["problems"][0]
    status = await rig.admin("GET", "/admin/status")
    assert status["objects"]["contacts"]["health"]["healthy"] is False
    metrics = await (await rig.client.get("/metrics")).text()
    assert 'change_proxy_sync_worker_alive{object_type="contacts"} 0.0' in metrics
    assert 'change_proxy_sync_healthy{object_type="contacts"} 0.0' in metrics


async def test_runs_that_stopped_succeeding_make_health_answer_503(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(10)
    rig = await make_rig(sim, SYNC_STALE_SECONDS="600", HUBSPOT_MAX_TRIES="1")
    await rig.sync("full")
    assert (await rig.client.get("/health")).status == 200
    await age_runs(rig.store, hours=1)
    sim.faults.fail_next = 100
    assert (await rig.sync("incremental")).status == "failed"
    resp = await rig.client.get("/health")
    body = await resp.json()
    assert resp.status == 503
    assert "SYNC_STALE_SECONDS=600" in body["objects"]["contacts"]["problems"][0]
    metrics = await (await rig.client.get("/metrics")).text()
    assert 'change_proxy_sync_healthy{object_type="contacts"} 0.0' in metrics
    sim.faults.fail_next = 0
    assert (await rig.sync("incremental")).status == "succeeded"
    assert (await rig.client.get("/health")).status == 200


async def test_a_run_that_takes_too_long_fails_with_the_reason(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(500)
    rig = await make_rig(sim, RUN_TIMEOUT_SECONDS="1")
    sim.faults.delay_seconds = 0.3  # about 2 s of requests
    run = await rig.sync("full")
    assert run.status == "failed" and "RUN_TIMEOUT_SECONDS" in (run.error or "")
    assert rig.scheduler.workers["contacts"].alive
    sim.faults.delay_seconds = 0
    assert (await rig.sync("full")).status == "succeeded"  # and it resumes where it stopped


async def test_a_failed_full_sync_is_retried_with_backoff(
    make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "FULL_RETRY_BACKOFF_S", (0.05, 1.0))
    sim = HubSpotSimulator()
    sim.create_contacts(40)
    sim.faults.fail_next = 1  # the startup full sync's first request fails, tries exhausted
    rig = await make_rig(
        sim, schedule=True, HUBSPOT_MAX_TRIES="1", SYNC_INTERVAL_SECONDS="0", FULL_SYNC_CRON=""
    )

    async def retried() -> bool:
        last = await rig.store.runs.last("contacts", status=None)
        return last is not None and last.status == "succeeded"

    await wait_until(retried, what="the retried full sync")
    runs = sorted(await rig.store.runs.recent(limit=10), key=lambda r: r.id)
    assert [(r.status, r.trigger) for r in runs] == [
        ("failed", "startup"),
        ("succeeded", "retry"),
    ]


async def test_the_full_sync_schedule_survives_a_stalled_loop_and_coalesces(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(schedule=True, FULL_SYNC_CRON="0 3 * * *", SYNC_INTERVAL_SECONDS="60")
    job = rig.scheduler._aps.get_job("contacts:full")
    assert job is not None and job.coalesce and job.misfire_grace_time >= 3600
    incremental = rig.scheduler._aps.get_job("contacts:incremental")
    assert incremental is not None and incremental.misfire_grace_time >= 60


async def test_every_scheduled_job_is_due_none_paused(make_rig: RigFactory) -> None:
    rig = await make_rig(
        schedule=True,
        FULL_SYNC_CRON="0 3 * * *",
        VERIFY_SYNC_CRON="0 4 * * 0",
        SYNC_INTERVAL_SECONDS="60",
        DELETE_CHECK_SECONDS="900",
    )
    jobs = {job.id: job for job in rig.scheduler._aps.get_jobs()}
    modes = ("incremental", "deletions", "full", "verify")
    assert {f"contacts:{mode}" for mode in modes} <= jobs.keys()
    # A job added with next_run_time=None would be paused: it would never run.
    assert all(job.next_run_time is not None for job in jobs.values()), jobs


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=False)
async def test_postgres_dropping_every_connection_is_survived(
    make_rig: RigFactory, database_url: str
) -> None:
    import asyncpg

    from tests.conftest import PG_ADMIN_URL

    sim = HubSpotSimulator()
    sim.create_contacts(30)
    rig = await make_rig(sim)
    await rig.sync("full")
    name = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        dropped = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
            name,
        )
    finally:
        await admin.close()
    assert dropped >= 1
    sim.create_contacts(3)
    run = await rig.sync("incremental")
    assert (run.status, run.created) == ("succeeded", 3), run.error
    assert len(await rig.feed()) == 33
    assert (await rig.client.get("/health")).status == 200
