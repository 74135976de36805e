"""The batch read parser: the few fields the sync decides on, and each record's text."""

from __future__ import annotations

import orjson
import pytest

from proxy.errors import BadPage
from proxy.sources.hubspot.batch_read import BatchReadDecoder, parse_batch_read

decode = BatchReadDecoder("lastmodifieddate", "hs_merged_object_ids")


def answer(*records: object, errors: object = None) -> bytes:
    body: dict[str, object] = {"status": "COMPLETE", "results": list(records)}
    if errors is not None:
        body["errors"] = errors
    return orjson.dumps(body)


def test_records_keep_their_text_and_the_fields_the_sync_decides_on() -> None:
    record = {
        "id": 7,  # a number, as some endpoints send
        "properties": {
            "email": "a@b.example",
            "lastmodifieddate": "2024-02-01T10:00:00.123Z",
            "hs_merged_object_ids": "3;7; 5;",
        },
        "updatedAt": "2024-02-02T00:00:00Z",
        "archived": False,
    }
    [fetched] = decode(answer(record)).records
    assert (fetched.id, fetched.archived, fetched.modified_ms) == ("7", False, 1706781600123)
    assert fetched.merged_ids == ["3", "5"]  # not its own id
    assert fetched.json == orjson.dumps(record).decode()  # as sent, byte for byte
    fetched.associations = {"companies": {"results": [{"id": "9", "type": "primary"}]}}
    assert orjson.loads(fetched.data()) == {**record, "associations": fetched.associations}


def test_the_modification_time_falls_back_to_updated_at() -> None:
    [fetched] = decode(answer({"id": "1", "properties": {}, "updatedAt": "1700000000000"})).records
    assert fetched.modified_ms == 1700000000000


@pytest.mark.parametrize(
    ("body", "wording"),
    [
        (b'{"status":"COMPLETE"}', "missing required field `results`"),
        (answer([1]), "result 0: Expected `object`"),
        (answer({"properties": {}}), "result 0: Object missing required field `id`"),
        (answer({"id": "", "properties": {}}), "result 0 has no id"),
        (answer({"id": True, "properties": {}}), "Expected `int | str`, got `bool`"),
        (answer({"id": "1", "properties": None}), "at `$.properties`"),
        (answer({"id": "1", "properties": {}, "associations": {}}), "came with associations"),
    ],
)
def test_a_wrong_shape_rejects_the_answer(body: bytes, wording: str) -> None:
    with pytest.raises(BadPage, match="page rejected") as caught:
        decode(body)
    assert wording in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>",
        b'{"results":[{"id":"1","properties":{}}',
        b'{"results":[{"id":"1","properties":{"x":"\xff"}}]}',
    ],
)
def test_a_body_that_is_not_json_is_a_value_error(body: bytes) -> None:
    """Not JSON (cut short, or not UTF-8): the HTTP client retries it, as any unreadable
    body; a BadPage would fail the run at once."""
    with pytest.raises(ValueError, match=r"malformed|truncated|utf-8") as caught:
        decode(body)
    assert not isinstance(caught.value, BadPage)


def test_ids_are_sorted_into_live_merged_missing_and_unresolved() -> None:
    survivor = {"id": "30", "properties": {"hs_merged_object_ids": "10"}}
    errors = [{"category": "OBJECT_NOT_FOUND", "context": {"ids": ["40", "10"]}}]
    body = decode(answer({"id": "20", "properties": {}}, survivor, errors=errors))
    read = parse_batch_read(body, ["10", "20", "40", "50"], "POST batch/read")
    assert set(read.live) == {"20"}
    assert read.merged == {"10": "30"}  # reported missing too: the merge wins
    assert (read.missing, read.unresolved) == ({"40"}, {"50"})
    assert [r.id for r in read.survivors] == ["30"]


def test_an_error_of_another_kind_rejects_the_answer() -> None:
    body = decode(answer(errors=[{"category": "VALIDATION_ERROR"}]))
    with pytest.raises(BadPage, match="unexpected error"):
        parse_batch_read(body, ["1"], "POST batch/read")
