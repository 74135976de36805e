"""Custom objects through real HTTP: listed by the schema routes, reached on the objects
routes by objectTypeId, fullyQualifiedName or plain name."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.simulator.clock import iso_from_ms
from proxy.simulator.state import HubSpotSimulator, ManualClock

from .conftest import START_MS, Client


async def call(
    client: Client, method: str, path: str, *, status: int = 200, **kwargs: Any
) -> dict[str, Any]:
    response = await client.request(method, path, **kwargs)
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_schemas_list_custom_objects_on_both_paths(
    client: Client, sim: HubSpotSimulator
) -> None:
    assert await call(client, "GET", "/crm-object-schemas/v3/schemas") == {"results": []}
    sim.define_custom_object("pets", ["pet_name", "species"])
    sim.define_custom_object(
        "machines", {"serial": "string", "weight_kg": "number"}, singular_label="Machine"
    )

    listed = await call(client, "GET", "/crm-object-schemas/v3/schemas")
    assert listed == await call(client, "GET", "/crm/v3/schemas")
    pets, machines = listed["results"]
    assert pets["name"] == "pets"
    assert pets["objectTypeId"] == "2-1000001"
    assert machines["objectTypeId"] == "2-1000002"
    assert pets["fullyQualifiedName"] == f"p{sim.portal_id}_pets"
    assert pets["labels"] == {"singular": "Pet", "plural": "Pets"}
    assert machines["labels"] == {"singular": "Machine", "plural": "Machines"}
    assert pets["primaryDisplayProperty"] == "pet_name"
    assert pets["archived"] is False
    assert pets["createdAt"] == pets["updatedAt"] == iso_from_ms(START_MS)
    names = [p["name"] for p in pets["properties"]]
    assert names == ["hs_object_id", "createdate", "hs_lastmodifieddate", "pet_name", "species"]
    types = {p["name"]: p["type"] for p in machines["properties"]}
    assert types["weight_kg"] == "number"
    # Counted as one route, whichever path was used.
    assert sim.requests["schemas"] == 3

    one = await call(client, "GET", "/crm/v3/schemas/2-1000001")
    assert one == pets
    missing = await call(client, "GET", "/crm/v3/schemas/contacts", status=404)
    assert missing["category"] == "OBJECT_NOT_FOUND"


@pytest.mark.parametrize("alias", ["2-1000001", "p7878787_pets", "pets", "P7878787_PETS"])
async def test_objects_routes_take_any_name_of_a_custom_object(
    client: Client, sim: HubSpotSimulator, clock: ManualClock, alias: str
) -> None:
    sim.define_custom_object("pets", ["pet_name", "species"])
    store = sim.objects("pets")
    ids = store.create(3)
    clock.advance(1000)
    store.update(ids[2], {"species": "cat"})

    page = await call(client, "GET", f"/crm/v3/objects/{alias}", params={"limit": 100})
    assert [r["id"] for r in page["results"]] == ids
    assert page["results"][0]["properties"]["pet_name"] == "Pet 1"
    assert set(page["results"][0]["properties"]) == {
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pet_name",
    }

    got = await call(
        client, "GET", f"/crm/v3/objects/{alias}/{ids[2]}", params={"properties": "species"}
    )
    assert got["properties"]["species"] == "cat"
    assert got["updatedAt"] == iso_from_ms(START_MS + 1000)

    batch = await call(
        client,
        "POST",
        f"/crm/v3/objects/{alias}/batch/read",
        json={"inputs": [{"id": ids[0]}, {"id": "77"}]},
        status=207,
    )
    assert batch["errors"][0]["message"].startswith("Could not get some P7878787_PETS objects")

    search = {
        "filters": [
            {"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": str(START_MS)}
        ]
    }
    found = await call(client, "POST", f"/crm/v3/objects/{alias}/search", json=search)
    assert [r["id"] for r in found["results"]] == [ids[2]]

    props = await call(client, "GET", f"/crm/v3/properties/{alias}")
    assert [p["name"] for p in props["results"]][-2:] == ["pet_name", "species"]


def test_defining_custom_objects_checks_names_and_properties(sim: HubSpotSimulator) -> None:
    sim.define_custom_object("pets", ["pet_name"])
    with pytest.raises(ValueError, match="taken already"):
        sim.define_custom_object("pets", ["x"])
    with pytest.raises(ValueError, match="taken already"):
        sim.define_custom_object("company", ["x"])
    with pytest.raises(ValueError, match="invalid object name"):
        sim.define_custom_object("Bad-Name", ["x"])
    with pytest.raises(ValueError, match="at least one property"):
        sim.define_custom_object("empty", [])
    with pytest.raises(ValueError, match="set by the simulator"):
        sim.define_custom_object("clash", ["hs_object_id"])
    with pytest.raises(ValueError, match="primaryDisplayProperty"):
        sim.define_custom_object("odd", ["a"], primary_display_property="b")
    with pytest.raises(ValueError, match="unknown property type"):
        sim.define_custom_object("typed", {"a": "phone"})
    assert list(sim.custom_objects) == ["pets"]


def test_custom_objects_do_not_merge_and_keep_their_own_ids(sim: HubSpotSimulator) -> None:
    sim.define_custom_object("pets", ["pet_name", "species", "age"])
    pets = sim.objects("pets")
    ids = pets.create(4)
    assert ids == ["1", "2", "3", "4"]
    with pytest.raises(ValueError, match="cannot be merged"):
        pets.merge(ids[0], ids[1])
    # Non-primary properties get generated values, not the same one everywhere.
    assert len({pets.record(i)["properties"]["species"] for i in ids}) > 1
