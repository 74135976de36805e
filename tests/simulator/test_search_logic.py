"""search.py as plain functions: parsing, operators, sorting, paging arithmetic."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.simulator.search import (
    SearchValidationError,
    parse_search_request,
    run_search,
)
from proxy.simulator.state import HubSpotSimulator, ManualClock

START_MS = 1_700_000_000_000


def make_sim(n: int = 20) -> HubSpotSimulator:
    """Contact i (1-based) was last modified at START_MS + i * 1000."""
    sim = HubSpotSimulator(clock=ManualClock(START_MS + 10_000_000))
    for contact_id in sim.create_contacts(n):
        sim.update(contact_id, {}, timestamp_ms=START_MS + int(contact_id) * 1000)
    return sim


def ids_for(sim: HubSpotSimulator, body: dict[str, Any], cap: int = 10_000) -> list[int]:
    request = parse_search_request({"limit": 200, **body})
    page = run_search(sim.searchable(), request, property_types=sim.property_types, result_cap=cap)
    return [c.id for c in page.results]


def lm(operator: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    return {"propertyName": "lastmodifieddate", "operator": operator, "value": value, **extra}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([lm("GTE", str(START_MS + 18_000))], [18, 19, 20]),
        ([lm("GT", str(START_MS + 18_000))], [19, 20]),
        ([lm("LTE", str(START_MS + 2000))], [1, 2]),
        ([lm("LT", str(START_MS + 2000))], [1]),
        ([lm("EQ", str(START_MS + 5000))], [5]),
        ([lm("BETWEEN", str(START_MS + 4000), highValue=str(START_MS + 6000))], [4, 5, 6]),
        # ISO-8601 values are accepted for dates, with or without milliseconds.
        ([lm("GTE", "2023-11-14T22:13:39.000Z")], [19, 20]),
        ([lm("LTE", "2023-11-14T22:13:22Z")], [1, 2]),
        ([{"propertyName": "hs_object_id", "operator": "GT", "value": "17"}], [18, 19, 20]),
        ([{"propertyName": "hs_object_id", "operator": "IN", "values": ["3", "12"]}], [3, 12]),
        (
            [
                {"propertyName": "hs_object_id", "operator": "NOT_IN", "values": ["1", "2"]},
                {"propertyName": "hs_object_id", "operator": "LTE", "value": "4"},
            ],
            [3, 4],
        ),
        ([{"propertyName": "hs_object_id", "operator": "NEQ", "value": "1"}], list(range(2, 21))),
    ],
)
def test_operators(filters: list[dict[str, Any]], expected: list[int]) -> None:
    sim = make_sim()
    assert ids_for(sim, {"filterGroups": [{"filters": filters}]}) == expected
    assert ids_for(sim, {"filters": filters}) == expected  # the top-level form


def test_numeric_not_lexicographic_ids() -> None:
    sim = make_sim(120)
    body = {"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": "99"}]}
    assert ids_for(sim, body) == list(range(100, 121))


def test_groups_are_or_and_filters_are_and() -> None:
    sim = make_sim()
    body = {
        "filterGroups": [
            {"filters": [lm("LTE", str(START_MS + 2000))]},
            {
                "filters": [
                    lm("GTE", str(START_MS + 10_000)),
                    {"propertyName": "hs_object_id", "operator": "LT", "value": "12"},
                ]
            },
        ]
    }
    assert ids_for(sim, body) == [1, 2, 10, 11]


def test_string_and_presence_operators() -> None:
    sim = make_sim(5)
    sim.update("2", {"city": "Tromsø", "phone": None})
    sim.update("4", {"city": "tromsø", "phone": ""})
    eq = {"filters": [{"propertyName": "city", "operator": "EQ", "value": "TROMSØ"}]}
    assert ids_for(sim, eq) == [2, 4]  # strings compare case-insensitively
    no_phone = {"filters": [{"propertyName": "phone", "operator": "NOT_HAS_PROPERTY"}]}
    assert ids_for(sim, no_phone) == [2, 4]
    has_phone = {"filters": [{"propertyName": "phone", "operator": "HAS_PROPERTY"}]}
    assert ids_for(sim, has_phone) == [1, 3, 5]
    token = {"filters": [{"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "4"}]}
    assert ids_for(sim, token) == [4]


def test_sort_descending_and_nulls_last() -> None:
    sim = make_sim(6)
    sim.update("3", {"city": None}, timestamp_ms=START_MS + 3000)
    descending = {"sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}]}
    assert ids_for(sim, descending) == [6, 5, 4, 3, 2, 1]
    sim.touch_many(["1", "2", "4", "5", "6"], {"city": "Oslo"}, timestamp_ms=START_MS)
    by_city = {"sorts": [{"propertyName": "city", "direction": "DESCENDING"}]}
    assert ids_for(sim, by_city) == [1, 2, 4, 5, 6, 3]  # ties keep id order, null last


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"limit": 201}, "limit"),
        ({"limit": 0}, "limit"),
        ({"after": "x"}, "after"),
        ({"after": -1}, "after"),
        ({"sorts": [{"propertyName": "a"}, {"propertyName": "b"}]}, "one sort"),
        ({"filters": [{"propertyName": "a", "operator": "LIKE", "value": "1"}]}, "operator"),
        ({"filters": [{"propertyName": "a", "operator": "IN", "values": []}]}, "values"),
        ({"filters": [{"propertyName": "a", "operator": "BETWEEN", "value": "1"}]}, "highValue"),
        ({"filters": [{"propertyName": "a", "operator": "EQ"}]}, "value"),
        ({"filterGroups": [{"filters": [lm("HAS_PROPERTY")]}] * 6}, "filterGroups"),
        ({"filters": [lm("HAS_PROPERTY")] * 7}, "per group"),
        ({"filterGroups": [{"filters": [lm("HAS_PROPERTY")] * 5}] * 4}, "in all"),
        ({"properties": "email"}, "properties"),
        ({"query": "ada"}, "query"),
        ([], "object"),
    ],
)
def test_invalid_requests(body: Any, message: str) -> None:
    with pytest.raises(SearchValidationError, match=message):
        parse_search_request(body)


def test_invalid_date_value_is_rejected() -> None:
    sim = make_sim(1)
    with pytest.raises(SearchValidationError, match="not a valid datetime"):
        ids_for(sim, {"filters": [lm("GTE", "yesterday")]})


def test_cap_arithmetic() -> None:
    sim = make_sim(30)

    def page(after: int, limit: int) -> tuple[list[int], int | None, int]:
        request = parse_search_request({"after": str(after), "limit": limit})
        result = run_search(
            sim.searchable(), request, property_types=sim.property_types, result_cap=20
        )
        return [c.id for c in result.results], result.next_after, result.total

    assert page(0, 15) == (list(range(1, 16)), 15, 30)
    # Crossing the cap: cut short at it, and next still points at the cap.
    assert page(15, 15) == (list(range(16, 21)), 20, 30)
    with pytest.raises(SearchValidationError, match="beyond 20"):
        page(20, 5)


@settings(max_examples=60, deadline=None)
@given(
    low=st.integers(min_value=-2, max_value=25),
    high=st.integers(min_value=-2, max_value=25),
    min_id=st.integers(min_value=0, max_value=22),
)
def test_window_filters_match_brute_force(low: int, high: int, min_id: int) -> None:
    sim = make_sim(20)
    body = {
        "filters": [
            lm("GTE", str(START_MS + low * 1000)),
            lm("LTE", str(START_MS + high * 1000)),
            {"propertyName": "hs_object_id", "operator": "GTE", "value": str(min_id)},
        ],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
    }
    expected = [i for i in range(1, 21) if low <= i <= high and i >= min_id]
    assert ids_for(sim, body) == expected
