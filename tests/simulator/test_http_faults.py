"""Rate limits and injected faults through real HTTP. Windows move by the injected
monotonic time source; nothing here sleeps to wait for anything."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from proxy.simulator.state import HubSpotSimulator, ManualClock

from .conftest import CONTACTS, SEARCH, Client, FakeMonotonic

HTML_502 = "<html><body><h1>502 Bad Gateway</h1></body></html>"


async def test_rolling_ten_second_budget(
    client: Client, sim: HubSpotSimulator, monotonic: FakeMonotonic
) -> None:
    sim.create_contacts(1)
    sim.faults.rate_limit_per_10s = 5

    remaining = []
    for _ in range(5):
        response = await client.get(CONTACTS)
        assert response.status == 200
        assert response.headers["X-HubSpot-RateLimit-Max"] == "5"
        remaining.append(response.headers["X-HubSpot-RateLimit-Remaining"])
        monotonic.advance(1)
    assert remaining == ["4", "3", "2", "1", "0"]

    limited = await client.get(CONTACTS)
    assert limited.status == 429
    body = await limited.json()
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["correlationId"]
    assert limited.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert limited.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert "Retry-After" not in limited.headers
    assert sim.requests["429"] == 1

    # 10 s after the first request its slot is free, but the rejected request took one too
    # (HubSpot counts 429s), so hammering on stays limited.
    monotonic.advance(5)
    assert (await client.get(CONTACTS)).status == 429

    monotonic.advance(10)  # everything earlier has left the window
    recovered = await client.get(CONTACTS)
    assert recovered.status == 200
    assert recovered.headers["X-HubSpot-RateLimit-Remaining"] == "4"


async def test_search_has_its_own_per_second_budget(
    client: Client, sim: HubSpotSimulator, monotonic: FakeMonotonic
) -> None:
    sim.faults.search_per_second = 2
    sim.faults.rate_limit_per_10s = 1
    assert (await client.post(SEARCH, json={})).status == 200
    assert (await client.post(SEARCH, json={})).status == 200
    limited = await client.post(SEARCH, json={})
    assert limited.status == 429
    assert (await limited.json())["message"] == "You have reached your secondly limit."
    assert not [h for h in limited.headers if h.lower().startswith("x-hubspot-ratelimit")]
    # Search did not use the 10-second budget.
    assert (await client.get("/crm/v3/properties/contacts")).status == 200
    monotonic.advance(1)
    assert (await client.post(SEARCH, json={})).status == 200


async def test_injected_429s_with_retry_after(client: Client, sim: HubSpotSimulator) -> None:
    sim.faults.rate_limit_next = 2
    sim.faults.retry_after_seconds = 1.5
    for _ in range(2):
        response = await client.get(CONTACTS)
        assert response.status == 429
        assert response.headers["Retry-After"] == "1.5"
        assert (await response.json())["policyName"] == "TEN_SECONDLY_ROLLING"
    assert (await client.get(CONTACTS)).status == 200


async def test_too_long_url_is_414_html(client: Client, sim: HubSpotSimulator) -> None:
    sim.create_contacts(1)
    sim.faults.max_url_length = 1000
    names = ",".join(sim.property_names())  # 54 names, well over 1000 characters
    too_long = await client.get(CONTACTS, params={"properties": names})
    assert too_long.status == 414
    assert too_long.content_type == "text/html"
    assert "414 Request-URI Too Long" in await too_long.text()

    # The default limit admits a URL longer than aiohttp's own 8190-byte request line cap
    # would, so the 414 is the simulator's decision, not an accident of the HTTP parser.
    sim.faults.max_url_length = 20_000
    padded = names + ",unknown_but_harmless" * 600
    assert (await client.get(CONTACTS, params={"properties": padded})).status == 200
    sim.faults.max_url_length = 8000
    assert (await client.get(CONTACTS, params={"properties": padded})).status == 414


async def test_fail_next_html_then_json(client: Client, sim: HubSpotSimulator) -> None:
    sim.faults.fail_next = 1
    failed = await client.get(CONTACTS)
    assert failed.status == 502
    assert failed.content_type == "text/html"
    assert await failed.text() == HTML_502
    assert (await client.get(CONTACTS)).status == 200

    sim.faults.fail_next = 1
    sim.faults.fail_status = 503
    sim.faults.fail_html = False
    failed = await client.post(SEARCH, json={})
    assert failed.status == 503
    body = await failed.json()
    assert body["status"] == "error"
    assert body["correlationId"]
    assert sim.requests["error"] == 2


async def test_malformed_batch_reads_alternate(client: Client, sim: HubSpotSimulator) -> None:
    sim.create_contacts(2)
    sim.faults.malformed_batch_read_next = 2
    body = {"inputs": [{"id": "1"}, {"id": "2"}], "properties": ["email"]}

    async def read() -> list[dict[str, object]]:
        response = await client.post(f"{CONTACTS}/batch/read", json=body)
        results: list[dict[str, object]] = (await response.json())["results"]
        return results

    listed = await read()
    assert isinstance(listed[0]["properties"], list) and "email" in listed[0]["properties"]
    assert isinstance(listed[1]["properties"], dict)
    no_id = await read()
    assert "id" not in no_id[0] and no_id[1]["id"] == "2"
    assert [r["id"] for r in await read()] == ["1", "2"]  # healthy again


async def test_malformed_pages_alternate(client: Client, sim: HubSpotSimulator) -> None:
    sim.create_contacts(3)
    sim.faults.malformed_next = 3

    no_results = await (await client.get(CONTACTS)).json()
    assert "results" not in no_results
    no_id = await (await client.post(SEARCH, json={})).json()
    assert "id" not in no_id["results"][0]
    assert no_id["results"][1]["id"] == "2"
    assert "results" not in await (await client.get(CONTACTS)).json()

    healthy = await (await client.get(CONTACTS)).json()
    assert [r["id"] for r in healthy["results"]] == ["1", "2", "3"]


async def test_delay_makes_clients_time_out(client: Client, sim: HubSpotSimulator) -> None:
    sim.faults.delay_seconds = 0.5
    with pytest.raises(asyncio.TimeoutError):
        await client.get(CONTACTS, timeout=aiohttp.ClientTimeout(total=0.05))


async def test_faults_can_be_set_over_http(client: Client, sim: HubSpotSimulator) -> None:
    response = await client.post("/_sim/faults", json={"fail_next": 2, "search_lag_ms": 100})
    assert response.status == 200
    assert (sim.faults.fail_next, sim.faults.search_lag_ms) == (2, 100)
    assert (await client.post("/_sim/faults", json={"bogus": 1})).status == 400


@pytest.mark.parametrize("raw", ["inf", "1e999", "-5", "abc", "86400"])
async def test_retry_after_raw_is_sent_verbatim_on_every_429(
    client: Client, sim: HubSpotSimulator, raw: str
) -> None:
    response = await client.post(
        "/_sim/faults",
        json={"retry_after_raw": raw, "retry_after_seconds": 1.5, "rate_limit_next": 1},
    )
    assert response.status == 200
    injected = await client.get(CONTACTS)
    assert injected.status == 429
    assert injected.headers["Retry-After"] == raw  # wins over retry_after_seconds

    sim.faults.search_per_second = 1
    assert (await client.post(SEARCH, json={})).status == 200
    secondly = await client.post(SEARCH, json={})
    assert secondly.status == 429
    assert secondly.headers["Retry-After"] == raw

    sim.faults.retry_after_raw = None
    sim.faults.rate_limit_next = 1
    assert (await client.get(CONTACTS)).headers["Retry-After"] == "1.5"


@pytest.mark.parametrize("raw", ["0", "-100", "abc"])
async def test_rate_interval_raw_replaces_the_interval_header(
    client: Client, sim: HubSpotSimulator, raw: str
) -> None:
    assert (await client.post("/_sim/faults", json={"rate_interval_raw": raw})).status == 200
    answered = await client.get(CONTACTS)
    assert answered.status == 200
    assert answered.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == raw
    assert answered.headers["X-HubSpot-RateLimit-Max"] == "100000"

    sim.faults.rate_limit_next = 1
    limited = await client.get(CONTACTS)
    assert limited.status == 429
    assert limited.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == raw

    searched = await client.post(SEARCH, json={})  # search never carries rate headers
    assert "X-HubSpot-RateLimit-Interval-Milliseconds" not in searched.headers

    sim.faults.rate_interval_raw = None
    default = await client.get(CONTACTS)
    assert default.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"


async def test_sim_faults_checks_values_against_the_field_types(
    client: Client, sim: HubSpotSimulator
) -> None:
    accepted = {
        "list_cut_after": 3,
        "list_cut_mode": "blank_after",
        "search_cursor_fault": "repeat",
        "retry_after_raw": "inf",
        "rate_interval_raw": "-100",
        "retry_after_seconds": 2,
        "delay_seconds": 0,
        "fail_html": False,
    }
    response = await client.post("/_sim/faults", json=accepted)
    assert response.status == 200
    assert (await response.json())["list_cut_mode"] == "blank_after"
    faults = sim.faults
    assert (faults.list_cut_after, faults.list_cut_mode) == (3, "blank_after")
    assert (faults.search_cursor_fault, faults.retry_after_raw) == ("repeat", "inf")
    assert faults.rate_interval_raw == "-100"
    assert faults.retry_after_seconds == 2.0
    assert isinstance(faults.retry_after_seconds, float)

    switched_off = {
        "list_cut_after": None,
        "search_cursor_fault": None,
        "retry_after_raw": None,
        "rate_interval_raw": None,
    }
    assert (await client.post("/_sim/faults", json=switched_off)).status == 200
    assert (faults.list_cut_after, faults.search_cursor_fault) == (None, None)
    assert (faults.retry_after_raw, faults.rate_interval_raw) == (None, None)

    for wrong in (
        {"list_cut_after": "3"},
        {"list_cut_after": True},
        {"list_cut_mode": "sideways"},
        {"list_cut_mode": None},
        {"search_cursor_fault": "forwards"},
        {"retry_after_raw": 5},
        {"fail_next": 1.5},
        {"fail_html": 1},
        # All or nothing: the good field is not applied either.
        {"fail_next": 1, "rate_interval_raw": 0},
    ):
        rejected = await client.post("/_sim/faults", json=wrong)
        assert rejected.status == 400, wrong
        assert (await rejected.json())["category"] == "VALIDATION_ERROR"
    assert faults.fail_next == 0


async def test_search_edit_property_edits_a_served_record_at_each_page_boundary(
    client: Client, sim: HubSpotSimulator, clock: ManualClock
) -> None:
    ids = sim.create_contacts(5)
    clock.advance(1000)
    sim.faults.search_edit_property = "city"
    window = {
        "filters": [{"propertyName": "lastmodifieddate", "operator": "LT", "value": "9" * 13}],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 2,
    }
    first = await (await client.post(SEARCH, json=window)).json()
    assert [r["id"] for r in first["results"]] == ids[:2]
    assert (
        first["results"][0]["properties"]["lastmodifieddate"]
        != sim.contact(ids[0])["properties"]["lastmodifieddate"]
    )  # the page shows the record as it was when served
    assert sim.search_edits == [ids[0]]
    assert sim.contact(ids[0])["properties"]["city"] == "edited after search page 1"
    # The edited record moved to the end; the next offset now skips ids[2].
    second = await (await client.post(SEARCH, json={**window, "after": "2"})).json()
    assert [r["id"] for r in second["results"]] == ids[3:5]
    assert sim.search_edits == [ids[0], ids[3]]
    last = await (await client.post(SEARCH, json={**window, "after": "4"})).json()
    assert "paging" not in last and sim.search_edits == [ids[0], ids[3]]  # no boundary

    sim.faults.search_edit_property = "no_such_property"
    refused = await client.post(SEARCH, json=window)
    assert refused.status == 400
    assert "search_edit_property" in (await refused.json())["message"]
