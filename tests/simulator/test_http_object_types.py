"""Every standard object type through real HTTP: its own records, ids, properties and
modification property, on the same routes as contacts, under any of its names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from proxy.simulator.app import create_app
from proxy.simulator.clock import iso_from_ms
from proxy.simulator.state import HubSpotSimulator, ManualClock

from .conftest import AUTH, START_MS, TOKEN, Client

# (name, singular, type id, modification property, batch read's label, a typical property)
TYPES = [
    ("contacts", "contact", "0-1", "lastmodifieddate", "CONTACT", "email"),
    ("companies", "company", "0-2", "hs_lastmodifieddate", "COMPANY", "domain"),
    ("deals", "deal", "0-3", "hs_lastmodifieddate", "DEAL", "dealstage"),
    ("tickets", "ticket", "0-5", "hs_lastmodifieddate", "TICKET", "hs_pipeline_stage"),
    ("products", "product", "0-7", "hs_lastmodifieddate", "PRODUCT", "price"),
    ("line_items", "line_item", "0-8", "hs_lastmodifieddate", "LINE_ITEM", "quantity"),
]
NON_CONTACT = [t for t in TYPES if t[0] != "contacts"]


async def call(
    client: Client, method: str, path: str, *, status: int = 200, **kwargs: Any
) -> dict[str, Any]:
    response = await client.request(method, path, **kwargs)
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    return body


def search_since(modified: str, since_ms: int, **extra: Any) -> dict[str, Any]:
    return {
        "filterGroups": [
            {"filters": [{"propertyName": modified, "operator": "GTE", "value": str(since_ms)}]}
        ],
        "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
        **extra,
    }


@pytest.mark.parametrize(("name", "singular", "type_id", "modified", "label", "prop"), TYPES)
async def test_each_type_lists_gets_batch_reads_and_searches_on_its_own_modification_property(
    client: Client,
    sim: HubSpotSimulator,
    clock: ManualClock,
    name: str,
    singular: str,
    type_id: str,
    modified: str,
    label: str,
    prop: str,
) -> None:
    store = sim.objects(name)
    ids = store.create(3)
    assert ids == ["1", "2", "3"]  # each type counts its own ids
    clock.advance(5000)
    store.update(ids[1], {prop: "42"})

    for path_name in (name, singular, type_id, name.upper()):
        page = await call(client, "GET", f"/crm/v3/objects/{path_name}", params={"limit": 2})
        assert [r["id"] for r in page["results"]] == ids[:2]
        assert "paging" in page
    record = page["results"][1]
    assert set(record["properties"]) == set(store.object_type.default_properties)
    assert record["updatedAt"] == record["properties"][modified] == iso_from_ms(START_MS + 5000)
    assert record["createdAt"] == record["properties"]["createdate"] == iso_from_ms(START_MS)
    assert record["properties"]["hs_object_id"] == ids[1]

    got = await call(
        client, "GET", f"/crm/v3/objects/{singular}/{ids[1]}", params={"properties": prop}
    )
    assert got["properties"] == {
        prop: "42",
        "createdate": iso_from_ms(START_MS),
        "hs_object_id": ids[1],
        modified: iso_from_ms(START_MS + 5000),
    }

    inputs = [{"id": ids[2]}, {"id": "99"}]
    batch = await call(
        client, "POST", f"/crm/v3/objects/{type_id}/batch/read", json={"inputs": inputs}, status=207
    )
    assert [r["id"] for r in batch["results"]] == [ids[2]]
    assert batch["errors"][0]["message"].startswith(f"Could not get some {label} objects")
    assert batch["errors"][0]["context"] == {"ids": ["99"]}

    found = await call(
        client,
        "POST",
        f"/crm/v3/objects/{name}/search",
        json=search_since(modified, START_MS + 1, properties=[prop]),
    )
    assert found["total"] == 1
    assert [r["id"] for r in found["results"]] == [ids[1]]
    assert found["results"][0]["properties"][modified] == iso_from_ms(START_MS + 5000)

    definitions = await call(client, "GET", f"/crm/v3/properties/{singular}")
    names = [d["name"] for d in definitions["results"]]
    assert names == list(store.property_names())
    assert {"hs_object_id", "createdate", modified, prop} <= set(names)


@pytest.mark.parametrize(("name", "singular", "type_id", "modified", "label", "prop"), NON_CONTACT)
async def test_other_types_have_no_lastmodifieddate(
    client: Client,
    sim: HubSpotSimulator,
    clock: ManualClock,
    name: str,
    singular: str,
    type_id: str,
    modified: str,
    label: str,
    prop: str,
) -> None:
    sim.objects(name).create(2)
    assert "lastmodifieddate" not in sim.objects(name).property_types
    # Filtering on the contacts' property finds nothing: the type has no such property.
    found = await call(
        client, "POST", f"/crm/v3/objects/{name}/search", json=search_since("lastmodifieddate", 0)
    )
    assert found["total"] == 0


async def test_types_are_kept_apart(client: Client, sim: HubSpotSimulator) -> None:
    sim.create_contacts(5)
    sim.objects("deals").create(2)
    deals = await call(client, "GET", "/crm/v3/objects/deals", params={"limit": 100})
    assert [r["id"] for r in deals["results"]] == ["1", "2"]
    assert "dealname" in deals["results"][0]["properties"]
    assert (await client.get("/crm/v3/objects/deals/3")).status == 404
    assert (await client.get("/crm/v3/objects/contacts/3")).status == 200
    # Shared account-wide: the counters, by route, whatever the type.
    assert sim.requests["list"] == 1 and sim.requests["get"] == 1


async def test_values_look_like_each_type(sim: HubSpotSimulator) -> None:
    company = sim.objects("company").record(sim.objects("company").create(1)[0])["properties"]
    assert company["name"] and str(company["domain"]).endswith(".example")
    deal = sim.objects("0-3").record(sim.objects("0-3").create(1)[0])["properties"]
    assert float(str(deal["amount"])) > 0 and deal["pipeline"] == "default"
    line = sim.objects("line_items").record(sim.objects("line_items").create(1)[0])["properties"]
    assert int(str(line["amount"])) == int(str(line["quantity"])) * int(str(line["price"]))


@pytest.mark.parametrize(
    "path",
    [
        "/crm/v3/objects/widgets",
        "/crm/v3/objects/0-99/1",
        "/crm/v3/properties/widgets",
    ],
)
async def test_an_unknown_type_is_a_hubspot_400(client: Client, path: str) -> None:
    body = await call(client, "GET", path, status=400)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Unable to infer object type from: ")
    assert body["correlationId"]
    for route in ("search", "batch/read"):
        response = await client.post(f"/crm/v3/objects/widgets/{route}", json={"inputs": []})
        assert response.status == 400


async def test_archive_restore_gdpr_delete_per_type(
    client: Client, sim: HubSpotSimulator, clock: ManualClock
) -> None:
    deals = sim.objects("deals")
    ids = deals.create(3)
    clock.advance(1000)
    deals.archive(ids[0])
    deals.gdpr_delete(ids[1])

    live = await call(client, "GET", "/crm/v3/objects/deals")
    assert [r["id"] for r in live["results"]] == [ids[2]]
    archived = await call(client, "GET", "/crm/v3/objects/deals", params={"archived": "true"})
    (record,) = archived["results"]
    assert record["archived"] is True
    assert record["updatedAt"] == iso_from_ms(START_MS)  # archiving does not bump it
    assert record["archivedAt"] == iso_from_ms(START_MS + 1000)

    clock.advance(1000)
    deals.restore(ids[0])
    restored = await call(client, "GET", f"/crm/v3/objects/deals/{ids[0]}")
    assert restored["updatedAt"] == restored["properties"]["hs_lastmodifieddate"]
    assert restored["updatedAt"] == iso_from_ms(START_MS + 2000)
    assert (await client.get(f"/crm/v3/objects/deals/{ids[1]}")).status == 404


async def test_companies_merge_like_contacts_and_deals_do_not(
    client: Client, sim: HubSpotSimulator
) -> None:
    companies = sim.objects("companies")
    ids = companies.create(3)
    new_id = companies.merge(ids[0], ids[1])
    assert new_id == "4"
    got = await call(client, "GET", f"/crm/v3/objects/companies/{ids[1]}")
    assert got["id"] == new_id
    record = companies.record(new_id)
    assert record["properties"]["hs_merged_object_ids"] == f"{ids[0]};{ids[1]}"
    assert companies.live_ids() == [ids[2], new_id]

    deals = sim.objects("deals")
    deal_ids = deals.create(2)
    with pytest.raises(ValueError, match="cannot be merged"):
        deals.merge(*deal_ids)


async def test_a_property_added_to_one_type_stays_there(
    client: Client, sim: HubSpotSimulator
) -> None:
    sim.objects("tickets").add_property("escalated", "bool")
    ticket_props = await call(client, "GET", "/crm/v3/properties/tickets")
    contact_props = await call(client, "GET", "/crm/v3/properties/contacts")
    assert "escalated" in [d["name"] for d in ticket_props["results"]]
    assert "escalated" not in [d["name"] for d in contact_props["results"]]


async def test_six_hundred_contact_properties_work_for_list_batch_read_and_search(
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> None:
    """Benchmarks run contacts with 600 properties; every read path must carry them all."""
    sim = HubSpotSimulator(clock=ManualClock(START_MS), token=TOKEN, custom_properties=586)
    client = await aiohttp_client(create_app(sim), headers=AUTH)
    sim.faults.max_url_length = 100_000  # naming 600 properties in a URL takes ~22,000 chars
    every = list(sim.property_names())
    assert len(every) == 600
    ids = sim.create_contacts(150)

    page = await call(
        client,
        "GET",
        "/crm/v3/objects/contacts",
        params={"limit": 100, "properties": ",".join(every)},
    )
    assert len(page["results"]) == 100
    assert all(len(r["properties"]) == 600 for r in page["results"])
    batch = await call(
        client,
        "POST",
        "/crm/v3/objects/contacts/batch/read",
        json={"inputs": [{"id": i} for i in ids[:100]], "properties": every},
    )
    assert all(len(r["properties"]) == 600 for r in batch["results"])
    found = await call(
        client,
        "POST",
        "/crm/v3/objects/contacts/search",
        json=search_since("lastmodifieddate", START_MS, properties=every, limit=200),
    )
    assert found["total"] == 150
    assert all(len(r["properties"]) == 600 for r in found["results"])
    # Custom values vary across records even this far into the catalogue.
    assert len({r["properties"][every[-1]] for r in found["results"]}) > 2
