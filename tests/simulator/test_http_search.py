"""Search through real HTTP: filters, sorting, offsets, the 10,000 cap, archive, index lag."""

from __future__ import annotations

from typing import Any

from proxy.simulator.catalogue import ALWAYS_RETURNED, DEFAULT_PROPERTIES
from proxy.simulator.clock import iso_from_ms
from proxy.simulator.state import HubSpotSimulator, ManualClock

from .conftest import SEARCH, START_MS, Client


async def search(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(SEARCH, json=body)
    assert response.status == 200, await response.text()
    result: dict[str, Any] = await response.json()
    return result


def modified_window(low_ms: int, high_ms: int) -> list[dict[str, Any]]:
    return [
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(low_ms)},
        {"propertyName": "lastmodifieddate", "operator": "LTE", "value": str(high_ms)},
    ]


async def test_window_filters_in_both_syntaxes(
    client: Client, sim: HubSpotSimulator, clock: ManualClock
) -> None:
    ids = sim.create_contacts(10)
    for offset, contact_id in enumerate(ids):
        sim.update(contact_id, {}, timestamp_ms=START_MS + offset * 1000)
    clock.advance(60_000)
    window = modified_window(START_MS + 3000, START_MS + 5000)

    grouped = await search(client, {"filterGroups": [{"filters": window}]})
    top_level = await search(client, {"filters": window})

    assert [r["id"] for r in grouped["results"]] == ids[3:6]
    assert grouped == top_level
    assert grouped["total"] == 3
    assert "paging" not in grouped
    between = await search(
        client,
        {
            "filters": [
                {
                    "propertyName": "lastmodifieddate",
                    "operator": "BETWEEN",
                    "value": iso_from_ms(START_MS + 3000),
                    "highValue": str(START_MS + 5000),
                }
            ]
        },
    )
    assert [r["id"] for r in between["results"]] == ids[3:6]


async def test_object_id_filter_sort_and_offset_paging(
    client: Client, sim: HubSpotSimulator
) -> None:
    sim.create_contacts(450)
    body: dict[str, Any] = {
        "filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": "20"}],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "limit": 200,
    }
    seen: list[str] = []
    offsets: list[str] = []
    while True:
        page = await search(client, body)
        assert page["total"] == 430
        seen.extend(r["id"] for r in page["results"])
        if "paging" not in page:
            break
        body["after"] = page["paging"]["next"]["after"]
        offsets.append(body["after"])
    assert offsets == ["200", "400"]
    assert seen == [str(i) for i in range(21, 451)]


async def test_default_limit_and_properties(client: Client, sim: HubSpotSimulator) -> None:
    sim.create_contacts(15)
    page = await search(client, {})
    assert len(page["results"]) == 10
    assert page["paging"]["next"]["after"] == "10"
    assert set(page["results"][0]["properties"]) == set(DEFAULT_PROPERTIES)
    named = await search(client, {"properties": ["city", "nope"], "limit": 1})
    assert set(named["results"][0]["properties"]) == {"city", *ALWAYS_RETURNED}


async def test_search_responses_carry_no_rate_headers(client: Client) -> None:
    response = await client.post(SEARCH, json={})
    assert response.status == 200
    assert not [h for h in response.headers if h.lower().startswith("x-hubspot-ratelimit")]


async def test_invalid_requests_are_400_validation_errors(client: Client) -> None:
    for body in ({"limit": 201}, {"after": "abc"}):
        response = await client.post(SEARCH, json=body)
        assert response.status == 400
        error = await response.json()
        assert error["category"] == "VALIDATION_ERROR"
        assert error["status"] == "error"
        assert error["correlationId"]
    not_json = await client.post(SEARCH, data=b"{nope")
    assert not_json.status == 400


async def test_ten_thousand_result_cap(client: Client, sim: HubSpotSimulator) -> None:
    sim.create_contacts(10_050)
    body: dict[str, Any] = {"limit": 200, "properties": ["email"]}

    pages = 0
    seen = 0
    while True:
        response = await client.post(SEARCH, json=body)
        if response.status != 200:
            break
        page = await response.json()
        assert page["total"] == 10_050
        seen += len(page["results"])
        pages += 1
        body["after"] = page["paging"]["next"]["after"]

    # paging.next kept pointing onward until the cap, and following it there is a 400.
    assert (pages, seen, body["after"]) == (50, 10_000, "10000")
    assert response.status == 400
    error = await response.json()
    assert error["category"] == "VALIDATION_ERROR"
    assert "10000" in error["message"]

    # A page that would cross the cap is cut short at it.
    crossing = await search(client, {"after": "9950", "limit": 200})
    assert [r["id"] for r in crossing["results"]] == [str(i) for i in range(9951, 10_001)]
    assert crossing["paging"]["next"]["after"] == "10000"

    # Narrowing the filter (what a client must do) reaches the rest.
    rest = await search(
        client,
        {
            "filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": "10000"}],
            "limit": 200,
        },
    )
    assert [r["id"] for r in rest["results"]] == [str(i) for i in range(10_001, 10_051)]


async def test_archived_and_merged_records_never_appear(
    client: Client, sim: HubSpotSimulator
) -> None:
    ids = sim.create_contacts(5)
    sim.archive(ids[0])
    new_id = sim.merge(ids[1], ids[2])
    page = await search(client, {"limit": 100})
    assert [r["id"] for r in page["results"]] == [ids[3], ids[4], new_id]
    assert all(r["archived"] is False for r in page["results"])


async def test_search_lags_writes_but_list_does_not(
    client: Client, sim: HubSpotSimulator, clock: ManualClock
) -> None:
    sim.faults.search_lag_ms = 5000
    ids = sim.create_contacts(3)
    clock.advance(5000)
    assert len((await search(client, {}))["results"]) == 3

    sim.update(ids[1], {"city": "Bodø"})
    clock.advance(4999)
    assert [r["id"] for r in (await search(client, {}))["results"]] == [ids[0], ids[2]]
    listed = await (await client.get(f"/crm/v3/objects/contacts/{ids[1]}?properties=city")).json()
    assert listed["properties"]["city"] == "Bodø"

    clock.advance(1)
    assert [r["id"] for r in (await search(client, {}))["results"]] == ids
