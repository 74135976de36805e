"""Associations: the Python API that links records, and the v4 batch read over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.simulator.associations import FIRST_ALLOCATED_TYPE_ID
from proxy.simulator.clock import iso_from_ms
from proxy.simulator.state import HubSpotSimulator, ManualClock

from .conftest import START_MS, Client

UNLABELED_CONTACT_TO_COMPANY = {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}
UNLABELED_COMPANY_TO_CONTACT = {"category": "HUBSPOT_DEFINED", "typeId": 280, "label": None}


def route(from_type: str, to_type: str) -> str:
    return f"/crm/v4/associations/{from_type}/{to_type}/batch/read"


async def read(
    client: Client, from_type: str, to_type: str, inputs: list[Any], *, status: int = 200
) -> dict[str, Any]:
    response = await client.post(route(from_type, to_type), json={"inputs": inputs})
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    return body


def linked(body: dict[str, Any]) -> dict[str, list[Any]]:
    return {r["from"]["id"]: [t["toObjectId"] for t in r["to"]] for r in body["results"]}


async def test_links_are_read_both_ways_with_hubspots_type_ids(
    client: Client, sim: HubSpotSimulator, clock: ManualClock
) -> None:
    contacts = sim.create_contacts(3)
    companies = sim.objects("companies").create(2)
    deals = sim.objects("deals").create(1)
    clock.advance(1000)
    sim.associate("contacts", contacts[0], "companies", companies[0])
    sim.associate("contact", contacts[1], "0-2", companies[0], primary=True)
    sim.associate("deals", deals[0], "contacts", contacts[0])
    sim.associate("deals", deals[0], "companies", companies[1], label="Reseller")

    body = await read(client, "contacts", "companies", [{"id": contacts[0]}, {"id": contacts[1]}])
    assert set(body) == {"status", "results", "startedAt", "completedAt"}
    assert body["status"] == "COMPLETE"
    assert body["results"] == [
        {
            "from": {"id": contacts[0]},
            "to": [{"toObjectId": 1, "associationTypes": [UNLABELED_CONTACT_TO_COMPANY]}],
        },
        {
            "from": {"id": contacts[1]},
            "to": [
                {
                    "toObjectId": 1,
                    "associationTypes": [
                        UNLABELED_CONTACT_TO_COMPANY,
                        {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"},
                    ],
                }
            ],
        },
    ]
    back = await read(client, "company", "contact", [{"id": companies[0]}])
    (result,) = back["results"]
    assert [t["toObjectId"] for t in result["to"]] == [1, 2]
    assert result["to"][0]["associationTypes"] == [UNLABELED_COMPANY_TO_CONTACT]
    assert result["to"][1]["associationTypes"][1] == {
        "category": "HUBSPOT_DEFINED",
        "typeId": 2,
        "label": "Primary",
    }

    deal_contacts = await read(client, "0-3", "0-1", [{"id": deals[0]}])
    assert deal_contacts["results"][0]["to"][0]["associationTypes"] == [
        {"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}
    ]
    contact_deals = await read(client, "contacts", "deals", [{"id": contacts[0]}])
    assert contact_deals["results"][0]["to"][0]["associationTypes"][0]["typeId"] == 4
    deal_companies = await read(client, "deals", "companies", [{"id": deals[0]}])
    types = deal_companies["results"][0]["to"][0]["associationTypes"]
    assert types[0] == {"category": "HUBSPOT_DEFINED", "typeId": 341, "label": None}
    assert types[1]["category"] == "USER_DEFINED"
    assert types[1]["label"] == "Reseller"
    assert types[1]["typeId"] >= FIRST_ALLOCATED_TYPE_ID
    company_deals = await read(client, "companies", "deals", [{"id": companies[1]}])
    inverse = company_deals["results"][0]["to"][0]["associationTypes"]
    assert inverse[0]["typeId"] == 342
    assert inverse[1]["label"] == "Reseller"
    assert inverse[1]["typeId"] not in (types[1]["typeId"], 342)

    # Associating moved neither record (the default; see the bump test below).
    assert sim.contact(contacts[0])["updatedAt"] == iso_from_ms(START_MS)
    assert sim.requests["associations"] == 6


async def test_a_contact_has_one_primary_company(sim: HubSpotSimulator) -> None:
    (contact,) = sim.create_contacts(1)
    first, second = sim.objects("companies").create(2)
    sim.associate("contacts", contact, "companies", first, primary=True)
    sim.associate("contacts", contact, "companies", second, primary=True)
    labels = {
        to_id: [t.label for t in types]
        for to_id, types in sim.associations("contacts", contact, "companies")
    }
    assert labels == {1: [None], 2: [None, "Primary"]}
    sim.dissociate("contacts", contact, "companies", second, label="Primary")
    assert [len(types) for _, types in sim.associations("contacts", contact, "companies")] == [
        1,
        1,
    ]


async def test_ids_without_links_are_207_errors_one_per_id(
    client: Client, sim: HubSpotSimulator
) -> None:
    contacts = sim.create_contacts(3)
    (company,) = sim.objects("companies").create(1)
    sim.associate("contacts", contacts[1], "companies", company)

    body = await read(
        client,
        "contacts",
        "companies",
        [{"id": contacts[0]}, {"id": contacts[1]}, {"id": "999"}, {"id": "x"}],
        status=207,
    )

    assert linked(body) == {contacts[1]: [1]}
    assert body["numErrors"] == 3
    assert body["errors"][0] == {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
        "message": f"No company is associated with contact {contacts[0]}.",
        "context": {"fromObjectId": [contacts[0]]},
    }
    assert [e["context"]["fromObjectId"] for e in body["errors"][1:]] == [["999"], ["x"]]


async def test_more_than_500_links_are_paged_per_record(
    client: Client, sim: HubSpotSimulator
) -> None:
    (company, small) = sim.objects("companies").create(2)
    contacts = sim.create_contacts(1203)
    for contact in contacts:
        sim.associate("companies", company, "contacts", contact)
    sim.associate("companies", small, "contacts", contacts[0])

    seen: list[int] = []
    after = None
    pages = 0
    while True:
        request = {"id": company, **({"after": after} if after else {})}
        body = await read(client, "companies", "contacts", [request, {"id": small}])
        big, other = body["results"]
        assert other == {
            "from": {"id": small},
            "to": [{"toObjectId": 1, "associationTypes": [UNLABELED_COMPANY_TO_CONTACT]}],
        }  # never paged: it has few
        seen.extend(t["toObjectId"] for t in big["to"])
        pages += 1
        if "paging" not in big:
            break
        assert len(big["to"]) == 500
        after = big["paging"]["next"]["after"]
        assert isinstance(after, str)
    assert pages == 3
    assert seen == [int(c) for c in contacts]


async def test_input_limits_and_bad_requests_are_400(client: Client, sim: HubSpotSimulator) -> None:
    too_many = [{"id": str(i)} for i in range(1001)]
    response = await client.post(route("contacts", "companies"), json={"inputs": too_many})
    assert response.status == 400
    assert (await response.json())["category"] == "VALIDATION_ERROR"
    exactly = await client.post(route("contacts", "companies"), json={"inputs": too_many[:1000]})
    assert exactly.status == 207
    for bad in ({"inputs": "1"}, {"inputs": [{"id": "1", "after": 5}]}, {"inputs": [1]}):
        assert (await client.post(route("contacts", "companies"), json=bad)).status == 400
    unknown = await client.post(route("widgets", "companies"), json={"inputs": []})
    assert unknown.status == 400
    assert (await unknown.json())["message"] == "Unable to infer object type from: widgets"


async def test_to_object_id_as_string_switch(client: Client, sim: HubSpotSimulator) -> None:
    (contact,) = sim.create_contacts(1)
    (company,) = sim.objects("companies").create(1)
    sim.associate("contacts", contact, "companies", company)
    sim.faults.association_ids_as_strings = True
    body = await read(client, "contacts", "companies", [{"id": contact}])
    assert body["results"][0]["to"][0]["toObjectId"] == company
    sim.faults.association_ids_as_strings = False
    body = await read(client, "contacts", "companies", [{"id": contact}])
    assert body["results"][0]["to"][0]["toObjectId"] == int(company)


async def test_archived_records_are_hidden_from_links_until_restored(
    client: Client, sim: HubSpotSimulator
) -> None:
    contacts = sim.create_contacts(2)
    (company,) = sim.objects("companies").create(1)
    for contact in contacts:
        sim.associate("contacts", contact, "companies", company)

    sim.archive(contacts[0])
    body = await read(client, "companies", "contacts", [{"id": company}])
    assert linked(body) == {company: [int(contacts[1])]}
    archived_from = await read(client, "contacts", "companies", [{"id": contacts[0]}], status=207)
    assert archived_from["results"] == []

    sim.restore(contacts[0])
    body = await read(client, "companies", "contacts", [{"id": company}])
    assert linked(body) == {company: [int(c) for c in contacts]}


async def test_gdpr_delete_removes_links_for_good(client: Client, sim: HubSpotSimulator) -> None:
    (contact,) = sim.create_contacts(1)
    (company,) = sim.objects("companies").create(1)
    sim.associate("contacts", contact, "companies", company)
    sim.objects("companies").gdpr_delete(company)
    assert sim.links.targets("contacts", int(contact), "companies") == {}
    await read(client, "contacts", "companies", [{"id": contact}], status=207)


async def test_a_merge_moves_both_records_links_to_the_new_record(
    client: Client, sim: HubSpotSimulator
) -> None:
    contacts = sim.create_contacts(3)
    companies = sim.objects("companies").create(3)
    (deal,) = sim.objects("deals").create(1)
    sim.associate("contacts", contacts[0], "companies", companies[0], primary=True)
    sim.associate("contacts", contacts[1], "companies", companies[1], label="Billing")
    sim.associate("contacts", contacts[1], "companies", companies[0])
    sim.associate("deals", deal, "contacts", contacts[1])

    new_id = sim.merge(contacts[0], contacts[1])

    body = await read(client, "contacts", "companies", [{"id": new_id}])
    (result,) = body["results"]
    types = {t["toObjectId"]: [a["label"] for a in t["associationTypes"]] for t in result["to"]}
    assert types == {1: [None, "Primary"], 2: [None, "Billing"]}
    old = await read(
        client, "contacts", "companies", [{"id": contacts[0]}, {"id": contacts[1]}], status=207
    )
    assert old["numErrors"] == 2
    from_deal = await read(client, "deals", "contacts", [{"id": deal}])
    assert linked(from_deal) == {deal: [int(new_id)]}
    from_company = await read(client, "companies", "contacts", [{"id": companies[0]}])
    assert linked(from_company) == {companies[0]: [int(new_id)]}

    # Companies merge too, and take their links along.
    merged_company = sim.objects("companies").merge(companies[0], companies[1])
    body = await read(client, "companies", "contacts", [{"id": merged_company}])
    assert linked(body) == {merged_company: [int(new_id)]}


async def test_custom_objects_associate_with_user_defined_types(
    client: Client, sim: HubSpotSimulator
) -> None:
    schema = sim.define_custom_object("pets", ["pet_name"])
    (pet,) = sim.objects("pets").create(1)
    (contact,) = sim.create_contacts(1)
    sim.associate(schema.object_type_id, pet, "contacts", contact)
    body = await read(client, schema.fully_qualified_name, "contacts", [{"id": pet}])
    (association_type,) = body["results"][0]["to"][0]["associationTypes"]
    assert association_type["category"] == "USER_DEFINED"
    back = await read(client, "contacts", "pets", [{"id": contact}])
    assert (
        back["results"][0]["to"][0]["associationTypes"][0]["typeId"] != association_type["typeId"]
    )


async def test_dissociate_removes_both_directions(sim: HubSpotSimulator) -> None:
    (contact,) = sim.create_contacts(1)
    (company,) = sim.objects("companies").create(1)
    sim.associate("contacts", contact, "companies", company, label="Owner")
    sim.dissociate("companies", company, "contacts", contact, label="Owner")
    [(_, types)] = sim.associations("contacts", contact, "companies")
    assert [t.label for t in types] == [None]
    sim.dissociate("companies", company, "contacts", contact)
    assert sim.associations("contacts", contact, "companies") == []
    with pytest.raises(KeyError, match="no association"):
        sim.dissociate("companies", company, "contacts", contact)
    with pytest.raises(KeyError, match="no live company 9"):
        sim.associate("contacts", contact, "companies", "9")
    with pytest.raises(ValueError, match="itself"):
        sim.associate("contacts", contact, "contacts", contact)
    with pytest.raises(ValueError, match="no primary"):
        sim.associate("contacts", contact, "deals", sim.objects("deals").create(1)[0], primary=True)


async def test_associating_can_bump_modification_times(
    sim: HubSpotSimulator, clock: ManualClock
) -> None:
    (contact,) = sim.create_contacts(1)
    (deal,) = sim.objects("deals").create(1)
    clock.advance(1000)
    sim.associate("deals", deal, "contacts", contact)
    assert sim.objects("deals").record(deal)["updatedAt"] == iso_from_ms(START_MS)

    sim.faults.associations_bump_modified = True
    clock.advance(1000)
    sim.dissociate("deals", deal, "contacts", contact)
    assert sim.objects("deals").record(deal)["updatedAt"] == iso_from_ms(START_MS + 2000)
    assert sim.contact(contact)["properties"]["lastmodifieddate"] == iso_from_ms(START_MS + 2000)


async def test_association_reads_share_the_accounts_limits_and_log(
    client: Client, sim: HubSpotSimulator
) -> None:
    (contact,) = sim.create_contacts(1)
    sim.faults.rate_limit_per_10s = 2
    assert (await client.get("/crm/v3/objects/companies")).status == 200
    await read(client, "contacts", "companies", [{"id": contact}], status=207)
    limited = await client.post(route("contacts", "companies"), json={"inputs": []})
    assert limited.status == 429
    assert limited.headers["X-HubSpot-RateLimit-Max"] == "2"
    log = [(e.route, e.status) for e in sim.request_log.after(0)]
    assert log == [("list", 200), ("associations", 207), ("associations", 429)]
