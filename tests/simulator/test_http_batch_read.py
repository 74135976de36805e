"""Batch read through real HTTP: found and missing ids, merges, archived, properties, limits."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.simulator.catalogue import ALWAYS_RETURNED, DEFAULT_PROPERTIES
from proxy.simulator.clock import iso_from_ms
from proxy.simulator.state import HubSpotSimulator, ManualClock

from .conftest import CONTACTS, START_MS, Client, FakeMonotonic

BATCH_READ = "/crm/v3/objects/contacts/batch/read"
NOT_FOUND = (
    "Could not get some CONTACT objects, they may be deleted or not exist. "
    "Check that ids are valid."
)


def inputs(*ids: str) -> list[dict[str, str]]:
    return [{"id": contact_id} for contact_id in ids]


async def batch_read(
    client: Client, body: dict[str, Any], *, status: int, **params: str
) -> dict[str, Any]:
    response = await client.post(BATCH_READ, json=body, params=params)
    assert response.status == status, await response.text()
    result: dict[str, Any] = await response.json()
    return result


async def test_all_found_is_200_complete_in_input_order(
    client: Client, sim: HubSpotSimulator, clock: ManualClock
) -> None:
    ids = sim.create_contacts(5)
    clock.advance(2500)

    body = await batch_read(client, {"inputs": inputs(ids[3], ids[0], ids[4])}, status=200)

    assert set(body) == {"status", "results", "startedAt", "completedAt"}
    assert body["status"] == "COMPLETE"
    assert body["startedAt"] == body["completedAt"] == iso_from_ms(START_MS + 2500)
    assert [r["id"] for r in body["results"]] == [ids[3], ids[0], ids[4]]
    record = body["results"][0]
    assert set(record["properties"]) == set(DEFAULT_PROPERTIES)
    assert record["archived"] is False
    assert record["updatedAt"] == record["properties"]["lastmodifieddate"]


async def test_missing_ids_make_a_207_with_one_grouped_error(
    client: Client, sim: HubSpotSimulator
) -> None:
    ids = sim.create_contacts(4)
    sim.gdpr_delete(ids[1])
    sim.archive(ids[2])
    asked = [ids[0], ids[1], "987654", ids[2], "not-a-number", ids[3], ids[1]]

    body = await batch_read(client, {"inputs": inputs(*asked)}, status=207)

    assert body["status"] == "COMPLETE"
    assert [r["id"] for r in body["results"]] == [ids[0], ids[3]]
    # HubSpot puts every missing id into one error entry, so numErrors counts entries.
    assert body["numErrors"] == 1
    assert body["errors"] == [
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": NOT_FOUND,
            "context": {"ids": [ids[1], "987654", ids[2], "not-a-number"]},
        }
    ]
    assert body["startedAt"] and body["completedAt"]


async def test_nothing_found_is_207_with_empty_results(client: Client) -> None:
    body = await batch_read(client, {"inputs": inputs("1", "2")}, status=207)
    assert body["results"] == []
    assert body["errors"][0]["context"]["ids"] == ["1", "2"]


async def test_merged_away_ids_answer_with_the_survivor_once(
    client: Client, sim: HubSpotSimulator
) -> None:
    ids = sim.create_contacts(3)
    new_id = sim.merge(ids[0], ids[1])

    body = await batch_read(
        client,
        {"inputs": inputs(ids[0], ids[2], ids[1], new_id), "properties": ["hs_merged_object_ids"]},
        status=200,
    )

    assert [r["id"] for r in body["results"]] == [new_id, ids[2]]
    survivor = body["results"][0]
    assert survivor["properties"]["hs_object_id"] == new_id
    assert survivor["properties"]["hs_merged_object_ids"] == f"{ids[0]};{ids[1]}"


async def test_archived_true_finds_only_archived_records(
    client: Client, sim: HubSpotSimulator
) -> None:
    ids = sim.create_contacts(3)
    sim.archive(ids[1])

    body = await batch_read(client, {"inputs": inputs(ids[1], ids[2])}, status=207, archived="true")
    assert [r["id"] for r in body["results"]] == [ids[1]]
    assert body["results"][0]["archived"] is True
    assert "archivedAt" in body["results"][0]
    assert body["errors"][0]["context"]["ids"] == [ids[2]]

    live = await batch_read(client, {"inputs": inputs(ids[2])}, status=200, archived="false")
    assert [r["id"] for r in live["results"]] == [ids[2]]


async def test_properties_travel_in_the_body_without_a_url_limit(
    client: Client, sim: HubSpotSimulator
) -> None:
    (contact_id,) = sim.create_contacts(1)
    sim.faults.max_url_length = 100  # a GET naming every property would be a 414

    named = await batch_read(
        client, {"inputs": inputs(contact_id), "properties": ["city", "bogus"]}, status=200
    )
    assert set(named["results"][0]["properties"]) == {"city", *ALWAYS_RETURNED}

    everything = await batch_read(
        client,
        {"inputs": inputs(contact_id), "properties": list(sim.property_names())},
        status=200,
    )
    assert everything["results"][0] == sim.contact(contact_id)

    for no_names in ({}, {"properties": []}):
        default = await batch_read(client, {"inputs": inputs(contact_id), **no_names}, status=200)
        assert set(default["results"][0]["properties"]) == set(DEFAULT_PROPERTIES)


async def test_hundred_inputs_are_fine_and_more_are_400(
    client: Client, sim: HubSpotSimulator
) -> None:
    ids = sim.create_contacts(101)
    body = await batch_read(client, {"inputs": inputs(*ids[:100])}, status=200)
    assert len(body["results"]) == 100

    too_many = await client.post(BATCH_READ, json={"inputs": inputs(*ids)})
    assert too_many.status == 400
    error = await too_many.json()
    assert error["status"] == "error"
    assert error["category"] == "VALIDATION_ERROR"
    assert "101" in error["message"]
    assert error["correlationId"]


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"inputs": {"id": "1"}}',
        b'{"inputs": [{"identifier": "1"}]}',
        b'{"inputs": ["1"]}',
        b'{"inputs": [{"id": "1"}], "properties": "email"}',
        b'{"inputs": [{"id": "1"}], "idProperty": "email"}',
    ],
)
async def test_bad_bodies_are_400_validation_errors(
    client: Client, sim: HubSpotSimulator, raw: bytes
) -> None:
    sim.create_contacts(1)
    response = await client.post(BATCH_READ, data=raw, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["category"] == "VALIDATION_ERROR"


async def test_numeric_ids_and_id_property_hs_object_id_are_accepted(
    client: Client, sim: HubSpotSimulator
) -> None:
    sim.create_contacts(2)
    body = await batch_read(
        client, {"inputs": [{"id": 2}], "idProperty": "hs_object_id"}, status=200
    )
    assert [r["id"] for r in body["results"]] == ["2"]


async def test_batch_read_passes_the_gate_like_list_and_get(
    client: Client, sim: HubSpotSimulator, monotonic: FakeMonotonic
) -> None:
    ids = sim.create_contacts(2)
    body = {"inputs": inputs(*ids)}

    unauthorized = await client.post(BATCH_READ, json=body, headers={"Authorization": "x"})
    assert unauthorized.status == 401

    sim.faults.rate_limit_per_10s = 3
    first = await client.post(BATCH_READ, json=body)
    assert first.status == 200
    assert first.headers["X-HubSpot-RateLimit-Max"] == "3"
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "2"
    assert (await client.get(CONTACTS)).status == 200  # the same 10-second budget
    assert (await client.post(BATCH_READ, json=body)).status == 200
    limited = await client.post(BATCH_READ, json=body)
    assert limited.status == 429
    assert (await limited.json())["policyName"] == "TEN_SECONDLY_ROLLING"
    monotonic.advance(10)

    sim.faults.rate_limit_next = 1
    assert (await client.post(BATCH_READ, json=body)).status == 429
    sim.faults.fail_next = 1
    failed = await client.post(BATCH_READ, json=body)
    assert failed.status == 502
    assert failed.content_type == "text/html"
    assert (await client.post(BATCH_READ, json=body)).status == 200
    assert sim.requests["batch_read"] == 3
