"""Changing HubSpot over HTTP (``POST /_sim/mutate``) and reading it all back
(``GET /_sim/snapshot``), as a test driving a simulator process does."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.simulator.clock import iso_from_ms
from proxy.simulator.state import HubSpotSimulator, ManualClock

from .conftest import CONTACTS, START_MS, Client

NO_AUTH = {"Authorization": ""}
OK = {"ok": True}


async def mutate(client: Client, body: dict[str, Any]) -> Any:
    response = await client.post("/_sim/mutate", json=body, headers=NO_AUTH)
    assert response.status == 200, await response.text()
    return await response.json()


async def get_record(client: Client, contact_id: str, **params: str) -> dict[str, Any]:
    response = await client.get(f"{CONTACTS}/{contact_id}", params=params)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def snapshot(client: Client, **params: str) -> dict[str, Any]:
    response = await client.get("/_sim/snapshot", headers=NO_AUTH, params=params)
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def test_create_and_update(client: Client, sim: HubSpotSimulator, clock: ManualClock) -> None:
    assert await mutate(client, {"op": "create", "n": 3}) == {"ids": ["1", "2", "3"]}
    clock.advance(1000)

    assert await mutate(
        client, {"op": "update", "id": "2", "properties": {"firstname": "X", "phone": None}}
    ) == {"ok": True}
    record = await get_record(client, "2", properties="firstname,phone")
    assert (record["properties"]["firstname"], record["properties"]["phone"]) == ("X", None)
    assert record["updatedAt"] == iso_from_ms(START_MS + 1000)

    # Many at once, with one stamp for all, like HubSpot's bulk jobs.
    stamp = START_MS + 5
    body = {"op": "update", "ids": ["1", 3], "properties": {"city": "Oslo"}, "timestamp_ms": stamp}
    assert await mutate(client, body) == {"ok": True}
    for contact_id in ("1", "3"):
        record = await get_record(client, contact_id, properties="city")
        assert record["properties"]["city"] == "Oslo"
        assert record["updatedAt"] == iso_from_ms(stamp)

    created = await mutate(client, {"op": "create", "n": 1, "timestamp_ms": START_MS - 60_000})
    assert created == {"ids": ["4"]}
    assert (await get_record(client, "4"))["createdAt"] == iso_from_ms(START_MS - 60_000)


async def test_archive_restore_gdpr_delete_and_merge(client: Client, sim: HubSpotSimulator) -> None:
    await mutate(client, {"op": "create", "n": 5})

    assert await mutate(client, {"op": "archive", "id": "1"}) == {"ok": True}
    assert (await client.get(f"{CONTACTS}/1")).status == 404
    assert (await get_record(client, "1", archived="true"))["archived"] is True

    assert await mutate(client, {"op": "restore", "id": "1"}) == {"ok": True}
    assert (await get_record(client, "1"))["archived"] is False

    assert await mutate(client, {"op": "gdpr_delete", "id": "2"}) == {"ok": True}
    assert (await client.get(f"{CONTACTS}/2")).status == 404
    assert (await client.get(f"{CONTACTS}/2", params={"archived": "true"})).status == 404

    merged = await mutate(client, {"op": "merge", "primary": "3", "other": "4"})
    assert merged == {"id": "6"}
    assert (await get_record(client, "4"))["id"] == "6"

    state = await snapshot(client)
    assert list(state["live"]) == ["1", "5", "6"]
    assert state["archived"] == []


async def test_add_property_shows_in_definitions_and_records(
    client: Client, sim: HubSpotSimulator
) -> None:
    await mutate(client, {"op": "create", "n": 1})
    assert await mutate(client, {"op": "add_property", "name": "new_field"}) == {"ok": True}
    assert await mutate(client, {"op": "add_property", "name": "score", "type": "number"}) == {
        "ok": True
    }

    definitions = await (await client.get("/crm/v3/properties/contacts")).json()
    types = {d["name"]: d["type"] for d in definitions["results"]}
    assert (types["new_field"], types["score"]) == ("string", "number")
    assert (await snapshot(client))["live"]["1"]["properties"]["new_field"] is None

    await mutate(client, {"op": "update", "id": "1", "properties": {"score": "42"}})
    found = await client.post(
        f"{CONTACTS}/search",
        json={"filters": [{"propertyName": "score", "operator": "GT", "value": "9"}]},
    )
    assert [r["id"] for r in (await found.json())["results"]] == ["1"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"op": "explode"}, "unknown op"),
        ({"n": 1}, "unknown op"),
        ({"op": ["create"]}, "unknown op"),
        ({"op": "create"}, "'n'"),
        ({"op": "create", "n": "5"}, "'n'"),
        ({"op": "create", "n": True}, "'n'"),
        ({"op": "create", "n": 0}, "at least 1"),
        ({"op": "update", "id": "1"}, "properties"),
        ({"op": "update", "id": "1", "properties": {"city": 5}}, "properties"),
        ({"op": "update", "properties": {"city": "Oslo"}}, "'id' or 'ids'"),
        ({"op": "update", "id": "1", "ids": ["2"], "properties": {}}, "'id' or 'ids'"),
        ({"op": "update", "ids": [], "properties": {}}, "non-empty"),
        ({"op": "update", "id": "999", "properties": {}}, "no live contact 999"),
        ({"op": "update", "ids": ["1", "999"], "properties": {}}, "no live contact 999"),
        ({"op": "update", "id": "1", "properties": {"bogus": "x"}}, "do not exist"),
        ({"op": "update", "id": "1", "properties": {"hs_object_id": "9"}}, "set by the simulator"),
        ({"op": "archive"}, "'id'"),
        ({"op": "archive", "id": "999"}, "no live contact 999"),
        ({"op": "archive", "id": "abc"}, "contact ids"),
        ({"op": "restore", "id": "1"}, "no archived contact 1"),
        ({"op": "gdpr_delete", "id": "999"}, "no contact 999"),
        ({"op": "merge", "primary": "1"}, "'other'"),
        ({"op": "merge", "primary": "1", "other": "1"}, "itself"),
        ({"op": "merge", "primary": "1", "other": "999"}, "no live contact 999"),
        ({"op": "add_property"}, "name"),
        ({"op": "add_property", "name": "email"}, "exists already"),
        ({"op": "add_property", "name": "x_y", "type": "phone"}, "unknown property type"),
    ],
)
async def test_bad_mutations_are_400_and_change_nothing(
    client: Client, sim: HubSpotSimulator, body: dict[str, Any], message: str
) -> None:
    sim.create_contacts(2)
    before = await snapshot(client)

    response = await client.post("/_sim/mutate", json=body, headers=NO_AUTH)

    assert response.status == 400
    error = (await response.json())["error"]
    assert message in error
    assert await snapshot(client) == before


async def test_mutate_body_must_be_a_json_object(client: Client) -> None:
    for raw in (b"not json", b"[1]"):
        response = await client.post("/_sim/mutate", data=raw, headers=NO_AUTH)
        assert response.status == 400
        assert (await response.json())["error"]


async def test_snapshot_is_what_get_returns_for_every_live_record(
    client: Client, sim: HubSpotSimulator
) -> None:
    ids = sim.create_contacts(6)
    sim.archive(ids[4])
    sim.archive(ids[1])
    new_id = sim.merge(ids[2], ids[3])
    sim.gdpr_delete(ids[0])

    state = await snapshot(client)

    assert list(state["live"]) == [ids[5], new_id]
    assert state["archived"] == [ids[1], ids[4]]
    every = ",".join(sim.property_names())
    for contact_id, record in state["live"].items():
        assert record == await get_record(client, contact_id, properties=every)


async def test_control_routes_are_not_logged(client: Client, sim: HubSpotSimulator) -> None:
    await mutate(client, {"op": "create", "n": 1})
    await snapshot(client)
    await client.get(CONTACTS)
    log = await (await client.get("/_sim/log")).json()
    assert [e["route"] for e in log["entries"]] == ["list"]
    assert sim.requests == {"list": 1}


async def test_every_operation_takes_an_object_type(
    client: Client, sim: HubSpotSimulator, clock: ManualClock
) -> None:
    assert await mutate(client, {"op": "create", "n": 3, "object_type": "companies"}) == {
        "ids": ["1", "2", "3"]
    }
    clock.advance(1000)
    body = {"op": "update", "object_type": "0-2", "id": "2", "properties": {"industry": "RETAIL"}}
    assert await mutate(client, body) == {"ok": True}
    record = sim.objects("companies").record("2")
    assert record["properties"]["industry"] == "RETAIL"
    assert record["updatedAt"] == record["properties"]["hs_lastmodifieddate"]
    assert record["updatedAt"] == iso_from_ms(START_MS + 1000)

    assert await mutate(client, {"op": "archive", "object_type": "company", "id": "1"}) == OK
    assert await mutate(
        client, {"op": "merge", "object_type": "companies", "primary": "2", "other": "3"}
    ) == {"id": "4"}
    assert await mutate(client, {"op": "add_property", "object_type": "deals", "name": "x"}) == OK
    assert "x" in sim.objects("deals").property_types
    assert "x" not in sim.property_types

    state = await snapshot(client, object_type="companies")
    assert list(state["live"]) == ["4"]
    assert state["archived"] == ["1"]
    assert state["associations"] == {}
    stats = await (await client.get("/_sim/stats", params={"object_type": "company"})).json()
    assert (stats["object_type"], stats["live"], stats["archived"]) == ("companies", 1, 1)
    assert stats["types"]["contacts"] == {"live": 0, "archived": 0}
    assert stats["types"]["companies"] == {"live": 1, "archived": 1}
    assert (await client.get("/_sim/stats", params={"object_type": "nope"})).status == 400


async def test_associations_and_custom_objects_over_http(
    client: Client, sim: HubSpotSimulator
) -> None:
    schema = await mutate(
        client, {"op": "define_custom_object", "name": "pets", "properties": ["pet_name"]}
    )
    assert schema["objectTypeId"] == "2-1000001"
    assert schema["fullyQualifiedName"] == f"p{sim.portal_id}_pets"
    await mutate(client, {"op": "create", "n": 2, "object_type": schema["objectTypeId"]})
    await mutate(client, {"op": "create", "n": 2})
    link = {"from_type": "contacts", "from_id": "1", "to_type": "pets", "to_id": "2"}
    assert await mutate(client, {"op": "associate", **link, "label": "Owner"}) == OK
    assert await mutate(client, {"op": "associate", **link, "to_id": "1"}) == OK

    state = await snapshot(client)
    links = state["associations"]["pets"]["1"]
    assert [(a["toObjectId"], [t["label"] for t in a["associationTypes"]]) for a in links] == [
        ("1", [None]),
        ("2", [None, "Owner"]),
    ]
    pets = await snapshot(client, object_type="p7878787_pets")
    assert list(pets["associations"]["contacts"]) == ["1", "2"]

    assert await mutate(client, {"op": "dissociate", **link, "label": "Owner"}) == OK
    assert await mutate(client, {"op": "dissociate", **link, "to_id": "1"}) == OK
    assert await mutate(client, {"op": "archive", "object_type": "pets", "id": "2"}) == OK
    assert (await snapshot(client))["associations"] == {}  # the archived pet's link is hidden


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"op": "create", "n": 1, "object_type": "widgets"}, "Unable to infer object type"),
        ({"op": "create", "n": 1, "object_type": 5}, "object_type must be"),
        ({"op": "merge", "object_type": "deals", "primary": "1", "other": "2"}, "cannot be merged"),
        ({"op": "archive", "object_type": "deals", "id": "x"}, "deal ids"),
        (
            {"op": "associate", "from_type": "contacts", "from_id": "1", "to_type": "deals"},
            "'to_id'",
        ),
        (
            {"op": "associate", "from_type": "contacts", "from_id": "1", "to_type": "deals",
             "to_id": "9"},
            "no live deal 9",
        ),
        (
            {"op": "associate", "from_type": "contacts", "from_id": "1", "to_type": "deals",
             "to_id": "1", "primary": "yes"},
            "primary must be",
        ),
        (
            {"op": "dissociate", "from_type": "contacts", "from_id": "1", "to_type": "deals",
             "to_id": "1"},
            "no association",
        ),
        ({"op": "define_custom_object", "name": "pets"}, "properties must be"),
        ({"op": "define_custom_object", "name": "deals", "properties": ["a"]}, "taken already"),
    ],
)  # fmt: skip
async def test_bad_typed_mutations_are_400(
    client: Client, sim: HubSpotSimulator, body: dict[str, Any], message: str
) -> None:
    sim.create_contacts(1)
    sim.objects("deals").create(2)
    response = await client.post("/_sim/mutate", json=body, headers=NO_AUTH)
    assert response.status == 400
    assert message in (await response.json())["error"]
