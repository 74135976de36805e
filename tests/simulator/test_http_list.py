"""List, get-by-id and property definitions through real HTTP."""

from __future__ import annotations

from typing import Any

from proxy.simulator.catalogue import ALWAYS_RETURNED, DEFAULT_PROPERTIES
from proxy.simulator.state import HubSpotSimulator

from .conftest import CONTACTS, Client


async def get_json(client: Client, path: str, **params: Any) -> dict[str, Any]:
    response = await client.get(path, params=params)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def read_all(client: Client, **params: Any) -> list[dict[str, Any]]:
    """Follow ``paging.next.after`` to the end, the way a client does."""
    records: list[dict[str, Any]] = []
    after = None
    while True:
        page = await get_json(client, CONTACTS, **params, **({"after": after} if after else {}))
        records.extend(page["results"])
        if "paging" not in page:
            return records
        after = page["paging"]["next"]["after"]


async def test_missing_or_wrong_token_is_401(client: Client) -> None:
    for headers in ({"Authorization": "Bearer wrong"}, {"Authorization": ""}):
        response = await client.get(CONTACTS, headers=headers)
        assert response.status == 401
        body = await response.json()
        assert body["status"] == "error"
        assert body["category"] == "INVALID_AUTHENTICATION"
        assert body["message"].startswith("Authentication credentials not found.")
        assert len(body["correlationId"]) == 36


async def test_error_bodies_carry_fresh_correlation_ids(client: Client) -> None:
    ids = set()
    for _ in range(3):
        response = await client.get(CONTACTS, headers={"Authorization": "Bearer nope"})
        ids.add((await response.json())["correlationId"])
    assert len(ids) == 3


async def test_paging_visits_every_live_contact_once_in_id_order(
    client: Client, sim: HubSpotSimulator
) -> None:
    ids = sim.create_contacts(253)
    sim.archive(ids[10])
    sim.gdpr_delete(ids[20])

    records = await read_all(client, limit=100)

    expected = [i for i in ids if i not in (ids[10], ids[20])]
    assert [r["id"] for r in records] == expected
    # Numeric, not lexicographic, order across digit-count boundaries (9 → 10, 99 → 100).
    assert [int(r["id"]) for r in records] == sorted(int(i) for i in expected)


async def test_page_shape_and_next_link(client: Client, sim: HubSpotSimulator) -> None:
    sim.create_contacts(25)
    first = await get_json(client, CONTACTS)
    assert len(first["results"]) == 10  # the default limit
    cursor = first["paging"]["next"]["after"]
    link = first["paging"]["next"]["link"]
    assert link.startswith("http://")
    assert "after=" in link

    via_link = await client.session.get(link)
    assert via_link.status == 200
    via_after = await get_json(client, CONTACTS, after=cursor)
    assert (await via_link.json())["results"] == via_after["results"]
    assert via_after["results"][0]["id"] == "11"

    last = await get_json(client, CONTACTS, after=cursor, limit=100)
    assert [r["id"] for r in last["results"]] == [str(i) for i in range(11, 26)]
    assert "paging" not in last


async def test_plain_integer_cursor_is_accepted_and_garbage_is_400(
    client: Client, sim: HubSpotSimulator
) -> None:
    sim.create_contacts(5)
    page = await get_json(client, CONTACTS, after="3")
    assert [r["id"] for r in page["results"]] == ["4", "5"]
    response = await client.get(CONTACTS, params={"after": "%%%"})
    assert response.status == 400
    assert (await response.json())["category"] == "VALIDATION_ERROR"


async def test_limit_above_100_is_clamped(client: Client, sim: HubSpotSimulator) -> None:
    sim.create_contacts(150)
    page = await get_json(client, CONTACTS, limit=500)
    assert len(page["results"]) == 100
    assert "paging" in page
    response = await client.get(CONTACTS, params={"limit": "ten"})
    assert response.status == 400


async def test_default_and_named_properties(client: Client, sim: HubSpotSimulator) -> None:
    sim.create_contacts(2)
    default = await get_json(client, CONTACTS)
    assert set(default["results"][0]["properties"]) == set(DEFAULT_PROPERTIES)

    named = await get_json(client, CONTACTS, properties="city,jobtitle,no_such_property")
    assert set(named["results"][0]["properties"]) == {"city", "jobtitle", *ALWAYS_RETURNED}

    # Repeated parameters work like a comma list.
    response = await client.get(
        CONTACTS, params=[("properties", "city"), ("properties", "phone,company")]
    )
    repeated = await response.json()
    assert set(repeated["results"][0]["properties"]) == {
        "city",
        "phone",
        "company",
        *ALWAYS_RETURNED,
    }

    everything = await get_json(client, CONTACTS, properties=",".join(sim.property_names()))
    assert everything["results"][0] == sim.contact("1")


async def test_archived_true_lists_only_archived(client: Client, sim: HubSpotSimulator) -> None:
    ids = sim.create_contacts(12)
    for contact_id in (ids[7], ids[2], ids[11]):
        sim.archive(contact_id)

    records = await read_all(client, archived="true", limit=2)

    assert [r["id"] for r in records] == [ids[2], ids[7], ids[11]]
    assert all(r["archived"] is True and "archivedAt" in r for r in records)
    live = await read_all(client, limit=100)
    assert len(live) == 9
    assert all(r["archived"] is False for r in live)


async def test_get_by_id_follows_merges_and_404s(client: Client, sim: HubSpotSimulator) -> None:
    ids = sim.create_contacts(3)
    new_id = sim.merge(ids[0], ids[1])

    for old in ids[:2]:
        record = await get_json(client, f"{CONTACTS}/{old}", properties="hs_merged_object_ids")
        assert record["id"] == new_id
        assert record["properties"]["hs_merged_object_ids"] == f"{ids[0]};{ids[1]}"

    listed = await read_all(client, limit=100)
    assert [r["id"] for r in listed] == [ids[2], new_id]
    assert await read_all(client, archived="true") == []

    missing = await client.get(f"{CONTACTS}/987654")
    assert missing.status == 404
    body = await missing.json()
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert body["correlationId"]


async def test_get_archived_needs_archived_true(client: Client, sim: HubSpotSimulator) -> None:
    ids = sim.create_contacts(2)
    sim.archive(ids[0])
    assert (await client.get(f"{CONTACTS}/{ids[0]}")).status == 404
    record = await get_json(client, f"{CONTACTS}/{ids[0]}", archived="true")
    assert record["archived"] is True
    assert (await client.get(f"{CONTACTS}/{ids[1]}", params={"archived": "true"})).status == 404


async def test_property_definitions_cover_every_record_property(
    client: Client, sim: HubSpotSimulator
) -> None:
    sim.create_contacts(1)
    body = await get_json(client, "/crm/v3/properties/contacts")
    definitions = {d["name"]: d for d in body["results"]}
    assert set(definitions) == set(sim.contact("1")["properties"])
    assert definitions["lastmodifieddate"]["type"] == "datetime"
    assert definitions["hs_object_id"]["hasUniqueValue"] is True
    assert definitions["lifecyclestage"]["type"] == "enumeration"
    assert definitions["lifecyclestage"]["options"]
    for definition in definitions.values():
        assert {"label", "type", "fieldType", "calculated", "hidden"} <= set(definition)
        assert definition["hidden"] is False


async def test_property_definitions_follow_added_properties(
    client: Client, sim: HubSpotSimulator
) -> None:
    (contact_id,) = sim.create_contacts(1)
    before = await get_json(client, "/crm/v3/properties/contacts")

    sim.add_property("favourite_colour")
    sim.add_property("renewal_date", "date")

    after = await get_json(client, "/crm/v3/properties/contacts")
    assert after["results"][: len(before["results"])] == before["results"]
    added = {d["name"]: d for d in after["results"][len(before["results"]) :]}
    assert set(added) == {"favourite_colour", "renewal_date"}
    assert added["favourite_colour"]["type"] == "string"
    assert added["favourite_colour"]["fieldType"] == "text"
    assert added["renewal_date"]["type"] == "date"
    assert added["renewal_date"]["hubspotDefined"] is False
    assert added["renewal_date"]["groupName"] == "custom_properties"
    record = await get_json(client, f"{CONTACTS}/{contact_id}", properties="favourite_colour")
    assert record["properties"]["favourite_colour"] is None


async def test_rate_headers_on_non_search_responses(client: Client, sim: HubSpotSimulator) -> None:
    sim.create_contacts(1)
    first = await client.get(CONTACTS)
    second = await client.get("/crm/v3/properties/contacts")
    assert first.headers["X-HubSpot-RateLimit-Max"] == "100000"
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "99999"
    assert second.headers["X-HubSpot-RateLimit-Remaining"] == "99998"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"


async def test_request_counters_and_stats(client: Client, sim: HubSpotSimulator) -> None:
    sim.create_contacts(1)
    await client.get(CONTACTS)
    await client.get(f"{CONTACTS}/1")
    await client.get(f"{CONTACTS}/2")  # 404
    await client.get("/crm/v3/properties/contacts")
    await client.post(f"{CONTACTS}/search", json={})
    assert sim.requests == {"list": 1, "get": 1, "properties": 1, "search": 1, "error": 1}

    # No token needed for the simulator's own routes.
    stats = await (await client.get("/_sim/stats", headers={"Authorization": ""})).json()
    assert stats["requests"] == dict(sim.requests)
    assert stats["live"] == 1
