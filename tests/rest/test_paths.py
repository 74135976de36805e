"""Paths: dotted with list indexes, the whole page, JSONPath with odd keys, removal."""

from __future__ import annotations

import pytest

from proxy.errors import ConfigError
from proxy.sources.rest.paths import MISSING, compile_path

PAGE = {
    "data": {"items": [{"id": 1, "tags": ["a", "b"]}, {"id": 2}]},
    "meta": {"next_cursor": None, "total": 2},
    "@odata.nextLink": "https://x.test/next",
    "a.b": {"c d": 5},
    "0": "key zero",
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("data.items.0.id", 1),
        ("data.items.1.id", 2),
        ("data.items.0.tags.1", "b"),
        ("meta.next_cursor", None),
        ("meta.total", 2),
        ("0", "key zero"),
        ("$['@odata.nextLink']", "https://x.test/next"),
        ("$['a.b']['c d']", 5),
        ("$.data.items[1].id", 2),
        ("$.meta.total", 2),
    ],
)
def test_get(path: str, value: object) -> None:
    assert compile_path(path).get(PAGE) == value


@pytest.mark.parametrize(
    "path",
    ["nope", "data.items.5.id", "data.items.x", "meta.total.x", "$.nope", "$['a.b'].x"],
)
def test_missing_is_not_null(path: str) -> None:
    found = compile_path(path).get(PAGE)
    assert found is MISSING and found is not None and not found


def test_empty_path_is_the_whole_document() -> None:
    assert compile_path("").get([1, 2]) == [1, 2]


def test_bad_paths_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^sources\.x\.records: not a JSONPath"):
        compile_path("$[[", "sources.x.records")
    with pytest.raises(ConfigError, match=r"^sources\.x\.id: 'a\.' has an empty segment"):
        compile_path("a.", "sources.x.id")


def test_remove_leaves_the_original_alone() -> None:
    record = {"id": 1, "stats": {"views": 3, "likes": 1}, "@odata.etag": "W/1", "l": [1, 2]}
    assert compile_path("stats.views").remove(record) == {
        "id": 1,
        "stats": {"likes": 1},
        "@odata.etag": "W/1",
        "l": [1, 2],
    }
    assert compile_path("$['@odata.etag']").remove(record) == {
        "id": 1,
        "stats": {"views": 3, "likes": 1},
        "l": [1, 2],
    }
    assert compile_path("l.0").remove(record)["l"] == [2]
    assert compile_path("nope.x").remove(record) is record
    assert record["stats"] == {"views": 3, "likes": 1} and "@odata.etag" in record
