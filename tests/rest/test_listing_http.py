"""Every pagination style lists exactly the collection over HTTP; resume tokens; conditional
rescans; records and ids rejected whole."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.errors import BadPage, DeclarationMismatch
from proxy.sources.http import RawResponse
from proxy.sources.rest.client import ConditionalCache, _identity

from .conftest import N_RECORDS, SIZE, STYLES, Upstream, collect, ids_of


@pytest.mark.parametrize("style", sorted(STYLES))
async def test_every_style_lists_exactly_the_collection(upstream: Upstream, style: str) -> None:
    upstream.sim.conditional = False
    source = upstream.source(STYLES[style])
    pages, summary = await collect(source)
    assert ids_of(pages) == [str(i) for i in range(1, N_RECORDS + 1)]
    records = {r.id: orjson.loads(r.data) for page in pages for r in page.records}
    assert records == {str(k): v for k, v in upstream.sim.records.items()}
    assert summary.complete and not summary.duplicates_seen and summary.distinct == N_RECORDS
    assert pages[-1].after is None
    if style != "none":
        assert len(pages) >= -(-N_RECORDS // SIZE)
    assert all(page.after is not None for page in pages[:-1])
    assert orjson.loads(orjson.dumps([p.after for p in pages]))  # JSON-serialisable


@pytest.mark.parametrize(
    "style", ["next_link", "link_header", "cursor", "cursor_body", "page", "offset"]
)
async def test_resume_from_a_token_lists_the_rest(upstream: Upstream, style: str) -> None:
    upstream.sim.conditional = False
    source = upstream.source(STYLES[style])
    first, _ = await collect(source)
    token: Any = orjson.loads(orjson.dumps(first[0].after))  # as stored in a database
    rest, summary = await collect(source, token)
    assert ids_of(rest) == ids_of(first)[SIZE:]
    assert summary.complete


async def test_composite_ids_and_soft_deletion(upstream: Upstream) -> None:
    upstream.sim.conditional = False
    upstream.sim.soft_delete(3)
    table = {**STYLES["cursor"], "id": ["status", "id"]}
    table["deleted"] = {"path": "status", "equals": "cancelled"}
    pages, _ = await collect(upstream.source(table))
    records = {r.id: r for page in pages for r in page.records}
    assert records["cancelled:3"].deleted
    assert not records["active:4"].deleted
    assert sum(r.deleted for r in records.values()) == 1


async def test_no_change_rescan_is_all_304_and_parses_nothing(upstream: Upstream) -> None:
    cache = ConditionalCache()
    source = upstream.source(STYLES["cursor"], cache=cache)
    first, _ = await collect(source)
    parsed_first = cache.parsed
    assert parsed_first == len(first) and cache.not_modified == 0
    # A rescan with the same cache (a new RestSource: the caller keeps the cache).
    again, summary = await collect(upstream.source(STYLES["cursor"], cache=cache))
    assert cache.parsed == parsed_first  # 0 pages parsed on the rescan
    assert cache.not_modified == len(first) == upstream.sim.counters.not_modified
    assert all(p.not_modified and p.records == [] for p in again)
    assert ids_of(again) == ids_of(first) and summary.complete
    assert [p.after for p in again] == [p.after for p in first]
    # A change makes its pages (here: every page, by Last-Modified and ETag of the body)
    # parsed again; the ids come from the new bodies.
    upstream.sim.update(5, name="changed")
    third, _ = await collect(upstream.source(STYLES["cursor"], cache=cache))
    changed = [p for p in third if not p.not_modified]
    assert any(orjson.loads(r.data)["name"] == "changed" for p in changed for r in p.records)


@pytest.mark.parametrize("style", ["next_link", "link_header", "cursor", "page", "offset"])
async def test_a_page_with_the_same_bytes_is_not_parsed_again(
    upstream: Upstream, style: str
) -> None:
    """Without ETags (most APIs), a no-change rescan still parses no page: a body byte for
    byte the page last written is that page again, as after a 304. A changed record makes
    its page parsed, and the ids come from the new body."""
    upstream.sim.conditional = False
    cache = ConditionalCache()
    first, _ = await collect(upstream.source(STYLES[style], cache=cache))
    parsed = cache.parsed
    again, summary = await collect(upstream.source(STYLES[style], cache=cache))
    assert (cache.parsed, cache.identical) == (parsed, len(first))
    assert ids_of(again) == ids_of(first) and summary.complete
    assert [p.after for p in again] == [p.after for p in first]
    upstream.sim.update(9, name="changed")  # on page 2
    third, _ = await collect(upstream.source(STYLES[style], cache=cache))
    changed = [p for p in third if not p.not_modified]
    assert [r.id for p in changed for r in p.records if b'"changed"' in r.data] == ["9"]
    assert ids_of(third) == ids_of(first)


def test_the_same_body_with_another_next_link_is_another_page() -> None:
    """The Link header a next page may come from is part of what makes a page the same."""
    body = b'[{"id": 1}]'
    one = RawResponse(200, {"Link": '<https://api.example.com/o?page=2>; rel="next"'}, body)
    other = RawResponse(200, {"Link": '<https://api.example.com/o?page=3>; rel="next"'}, body)
    assert _identity(one) == _identity(RawResponse(200, dict(one.headers), body))
    assert _identity(one) != _identity(other)
    assert _identity(one) != _identity(RawResponse(200, one.headers, b'[{"id": 2}]'))


async def test_last_modified_alone_gives_304(upstream: Upstream) -> None:
    cache = ConditionalCache()
    await collect(upstream.source(STYLES["offset"], cache=cache))
    for entry in cache.pages.values():
        entry.etag = None  # as from an API that sends only Last-Modified
    pages, _ = await collect(upstream.source(STYLES["offset"], cache=cache))
    assert all(p.not_modified for p in pages) and len(ids_of(pages)) == N_RECORDS


@pytest.mark.parametrize(
    ("table", "missing"),
    [
        ({**STYLES["cursor"], "records": "items"}, "sources.orders.records: 'items' finds nothing"),
        ({**STYLES["cursor"], "id": "uid"}, "sources.orders.id: 'uid' finds no id"),
        ({**STYLES["cursor"], "records": "has_more"}, "sources.orders.records: 'has_more' is not"),
    ],
)
async def test_a_declaration_that_finds_nothing_in_the_first_page_names_the_key(
    upstream: Upstream, table: dict[str, Any], missing: str
) -> None:
    """Not a silent empty feed: a setting to fix, named by source and key."""
    with pytest.raises(DeclarationMismatch) as info:
        await collect(upstream.source(table))
    message = str(info.value)
    assert message.startswith(missing) and "first page" in message
    assert "/cursor/orders" in message
    assert isinstance(info.value, BadPage)  # the page is rejected whole, too


async def test_a_page_that_is_not_json_is_rejected(upstream: Upstream) -> None:
    upstream.sim.faults.html_on_page = 2
    with pytest.raises(BadPage) as info:
        await collect(upstream.source(STYLES["offset"]))
    assert str(info.value) == (
        "source orders: " + upstream.base + "/offset/orders?offset=7&limit=7: "
        "the page is not JSON; page rejected"
    )
