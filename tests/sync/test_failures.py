"""Upstream trouble: rate limits, 5xx and HTML bodies, timeouts, bad tokens, bad pages.
Each either heals by retrying or fails the run, recorded, with nothing committed lost and
nothing deleted; the feed keeps serving throughout."""

from __future__ import annotations

from proxy.simulator import HubSpotSimulator
from tests.sync.conftest import RigFactory


async def test_a_burst_of_429s_is_waited_out_without_failing(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(350)
    rig = await make_rig(sim)
    sim.faults.rate_limit_next = 4
    sim.faults.retry_after_seconds = 0.01
    run = await rig.sync("full")
    assert (run.status, run.created) == ("succeeded", 350), run.error
    assert sim.requests["429"] == 4
    assert run.requests >= 4 + 4  # 4 list pages, 1 archived page, properties, and the 429s


async def test_5xx_html_bodies_are_retried_then_succeed(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(120)
    rig = await make_rig(sim, HUBSPOT_MAX_TRIES="4")
    sim.faults.fail_next = 3
    sim.faults.fail_status = 502
    run = await rig.sync("full")
    assert (run.status, run.created) == ("succeeded", 120), run.error


async def test_persistent_failure_fails_the_run_keeps_the_mirror_and_the_feed(
    make_rig: RigFactory,
) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(250)
    rig = await make_rig(sim, HUBSPOT_MAX_TRIES="3")
    await rig.sync("full")
    served = await rig.feed()
    sim.gdpr_delete(ids[0])  # a full scan that completed would tombstone this
    sim.update(ids[249], {"firstname": "Edited"})
    sim.faults.fail_next = 1000
    sim.faults.fail_status = 503
    run = await rig.sync("full")
    assert run.status == "failed"
    assert "503" in (run.error or "") and "an HTML page" in (run.error or "")
    assert await rig.feed() == served  # nothing deleted, nothing half-written
    sim.faults.fail_next = 0
    healed = await rig.sync("full")
    assert (healed.status, healed.deleted, healed.updated) == ("succeeded", 1, 1)


async def test_failure_midway_keeps_the_pages_already_committed(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(300)
    rig = await make_rig(sim, HUBSPOT_MAX_TRIES="2")
    await rig.sync("full")
    mark = await rig.last_updated()
    for contact_id in ids:
        sim.update(contact_id, {"city": "Tromsø"})
    # The properties call, the first two pages (a listing and a batch read of the changed
    # records each) and the third listing page (asked for while the second page's records
    # are read) go through, then HubSpot breaks.
    sim.faults.fail_after = 6
    sim.faults.fail_next = 1000
    run = await rig.sync("full")
    assert run.status == "failed"
    assert run.updated == 200  # two whole pages, committed
    changed = await rig.feed(since=mark)
    assert len(changed) == 200 and all(e["properties"]["city"] == "Tromsø" for e in changed)


async def test_a_malformed_batch_read_is_rejected_whole(make_rig: RigFactory) -> None:
    """Batch read answers have a parser of their own (records are not decoded whole): a
    record whose properties are not an object, or that has no id, rejects the answer."""
    sim = HubSpotSimulator()
    ids = sim.create_contacts(150)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    # One batch read asks for both; the first record is broken, the second must not be
    # applied either.
    for contact_id in (ids[0], ids[5]):
        sim.update(contact_id, {"firstname": "Never half-applied"})
    for expected in ("Expected `object`, got `array` - at `$.properties`", "missing required"):
        sim.faults.malformed_batch_read_next = 1
        run = await rig.sync("full")
        assert (run.status, run.updated, run.deleted) == ("failed", 0, 0)
        assert "batch/read: result 0:" in (run.error or "") and expected in (run.error or "")
    assert await rig.feed(since=mark) == []
    assert (await rig.sync("full")).updated == 2


async def test_timeouts_are_retried_and_then_fail_the_run(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(10)
    rig = await make_rig(sim, HUBSPOT_TIMEOUT_SECONDS="0.2", HUBSPOT_MAX_TRIES="2")
    sim.faults.delay_seconds = 1.0
    run = await rig.sync("full")
    assert run.status == "failed"
    assert "timed out" in (run.error or "")
    assert run.requests == 2


async def test_a_wrong_token_fails_at_once_naming_the_setting(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    sim.create_contacts(10)
    rig = await make_rig(sim, HUBSPOT_ACCESS_TOKEN="pat-wrong-secret-token")
    run = await rig.sync("full")
    assert run.status == "failed"
    assert "HUBSPOT_ACCESS_TOKEN" in (run.error or "") and "401" in (run.error or "")
    assert "pat-wrong-secret-token" not in (run.error or "")
    assert run.requests == 1  # no retries on 401
    status = await rig.client.get(
        "/admin/status", headers={"Authorization": "Bearer admin-token-for-tests"}
    )
    assert "pat-wrong-secret-token" not in await status.text()


async def test_a_malformed_page_is_rejected_whole(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(150)
    rig = await make_rig(sim)
    await rig.sync("full")
    mark = await rig.last_updated()
    sim.update(ids[0], {"firstname": "Never half-applied"})
    for malformed in (1, 1):  # first: no "results"; second: a record without "id"
        sim.faults.malformed_next = malformed
        run = await rig.sync("full")
        assert run.status == "failed"
        assert "page rejected" in (run.error or "")
        assert run.deleted == 0 and run.updated == 0
    assert await rig.feed(since=mark) == []
    assert (await rig.sync("full")).updated == 1
