"""Listings cut short (``list_cut_after``/``list_cut_mode``) and broken search cursors
(``search_cursor_fault``), as a client following ``paging.next`` sees them over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

from proxy.simulator.state import HubSpotSimulator

from .conftest import CONTACTS, SEARCH, Client


async def page(client: Client, **params: Any) -> dict[str, Any]:
    response = await client.get(CONTACTS, params=params)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def listing(client: Client, *, limit: int = 5, **params: Any) -> list[list[str]]:
    """Follow ``paging.next.after`` until it is absent (or blank); the ids page by page."""
    pages: list[list[str]] = []
    after: str | None = None
    while True:
        body = await page(client, limit=limit, **params, **({"after": after} if after else {}))
        pages.append([r["id"] for r in body["results"]])
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            return pages


def ids(first: int, last: int) -> list[str]:
    return [str(i) for i in range(first, last + 1)]


async def set_faults(client: Client, **fields: Any) -> None:
    response = await client.post("/_sim/faults", json=fields)
    assert response.status == 200, await response.text()


async def test_no_paging_cut_ends_the_listing_at_the_same_point_every_time(
    client: Client, sim: HubSpotSimulator
) -> None:
    sim.create_contacts(25)
    await set_faults(client, list_cut_after=2)

    first = await listing(client)
    # Two pages served normally, the third is the real page without paging: the listing
    # looks complete at 15 of 25 records.
    assert first == [ids(1, 5), ids(6, 10), ids(11, 15)]
    assert await listing(client) == first  # started over: cut at the same point

    # A page starting before the point is served normally, even across it...
    across = await page(client, after="5", limit=8)
    assert [r["id"] for r in across["results"]] == ids(6, 13)
    assert "paging" in across
    # ...and one starting at or beyond it is cut, whatever the cursor.
    beyond = await page(client, after="15", limit=5)
    assert [r["id"] for r in beyond["results"]] == ids(16, 20)
    assert "paging" not in beyond

    await set_faults(client, list_cut_after=None)
    assert await listing(client) == [ids(1, 5), ids(6, 10), ids(11, 15), ids(16, 20), ids(21, 25)]


async def test_empty_cut_serves_an_empty_page_without_paging(
    client: Client, sim: HubSpotSimulator
) -> None:
    sim.create_contacts(25)
    await set_faults(client, list_cut_after=1, list_cut_mode="empty")

    assert await page(client, limit=5) != {"results": []}
    cut = await page(client, limit=5, after="5")
    assert cut == {"results": []}
    assert await listing(client) == [ids(1, 5), []]


async def test_blank_after_cut_gives_a_blank_cursor_that_starts_over(
    client: Client, sim: HubSpotSimulator
) -> None:
    sim.create_contacts(25)
    sim.faults.list_cut_mode = "blank_after"
    sim.faults.list_cut_after = 2

    assert await listing(client) == [ids(1, 5), ids(6, 10), ids(11, 15)]
    cut = await page(client, limit=5, after="10")
    assert [r["id"] for r in cut["results"]] == ids(11, 15)
    assert cut["paging"]["next"]["after"] == ""
    assert URL(cut["paging"]["next"]["link"]).query["after"] == ""
    # A client that follows the blank cursor is back at the first page.
    restarted = await page(client, limit=5, after="")
    assert [r["id"] for r in restarted["results"]] == ids(1, 5)
    assert restarted["paging"]["next"]["after"]

    # The last page gets a blank cursor too once it is past the point.
    last = await page(client, limit=5, after="20")
    assert [r["id"] for r in last["results"]] == ids(21, 25)
    assert last["paging"]["next"]["after"] == ""


async def test_pages_are_counted_across_listings_and_setting_again_resets(
    client: Client, sim: HubSpotSimulator
) -> None:
    sim.create_contacts(12)
    sim.faults.list_cut_after = 4

    assert await listing(client) == [ids(1, 5), ids(6, 10), ids(11, 12)]  # pages 1-3
    assert await listing(client) == [ids(1, 5), ids(6, 10)]  # page 4 normal, then cut

    sim.faults.list_cut_after = 4  # assigning again forgets the count and the point
    assert await listing(client) == [ids(1, 5), ids(6, 10), ids(11, 12)]

    await set_faults(client, list_cut_after=1)  # so does setting it over HTTP
    assert await listing(client) == [ids(1, 5), ids(6, 10)]
    assert await listing(client) == [ids(1, 5), ids(6, 10)]


async def test_archived_listings_are_cut_too(client: Client, sim: HubSpotSimulator) -> None:
    contact_ids = sim.create_contacts(30)
    for contact_id in contact_ids[:12]:
        sim.archive(contact_id)
    sim.faults.list_cut_after = 1

    # The live listing takes the one normal page and is cut at its second; the archived
    # one, counted with it, is cut at its first page. Each stays cut where it was cut.
    assert await listing(client) == [ids(13, 17), ids(18, 22)]
    assert await listing(client, archived="true") == [ids(1, 5)]
    assert await listing(client, archived="true") == [ids(1, 5)]
    assert await listing(client) == [ids(13, 17), ids(18, 22)]


@pytest.mark.parametrize(
    ("fault", "expected_afters"),
    [(None, ["10", "20"]), ("repeat", ["0", "10"]), ("backwards", ["0", "0"])],
)
async def test_search_cursor_faults(
    client: Client, sim: HubSpotSimulator, fault: str | None, expected_afters: list[str]
) -> None:
    sim.create_contacts(25)
    await set_faults(client, search_cursor_fault=fault)

    afters = []
    for offset in (0, 10):
        response = await client.post(SEARCH, json={"limit": 10, "after": offset})
        body = await response.json()
        assert [r["id"] for r in body["results"]] == ids(offset + 1, offset + 10)
        afters.append(body["paging"]["next"]["after"])
    assert afters == expected_afters

    last = await (await client.post(SEARCH, json={"limit": 10, "after": 20})).json()
    assert [r["id"] for r in last["results"]] == ids(21, 25)
    assert "paging" not in last  # only pages that have a next page are affected
