"""Fixtures: the filterless REST simulator served over HTTP, and sources declared on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from proxy.simulator.rest import RestSimulator, create_rest_app
from proxy.sources.http import RetryPolicy
from proxy.sources.rest.client import ListingSummary, RestPage, RestSource, TokenStore
from proxy.sources.rest.declaration import parse_one

N_RECORDS = 23  # not a multiple of the page size 7: the last page is short
SIZE = 7


@dataclass
class Upstream:
    sim: RestSimulator
    base: str
    session: aiohttp.ClientSession

    def source(
        self,
        table: dict[str, Any],
        env: dict[str, str] | None = None,
        token_store: TokenStore | None = None,
        **kwargs: Any,
    ) -> RestSource:
        table = {**table, "url": self.base + table["url"]}
        if "auth" in table and "token_url" in table["auth"]:
            table["auth"] = {**table["auth"], "token_url": self.base + table["auth"]["token_url"]}
        if "item_url" in table:
            table["item_url"] = self.base + table["item_url"]
        declared = parse_one("orders", table, env or {})
        kwargs.setdefault("policy", RetryPolicy(max_tries=3, backoff_s=0.01))
        return RestSource(declared, self.session, token_store=token_store, **kwargs)


@pytest.fixture
async def upstream(
    aiohttp_server: Callable[..., Any],
) -> AsyncIterator[Upstream]:
    sim = RestSimulator(N_RECORDS)
    server: TestServer = await aiohttp_server(create_rest_app(sim))
    async with aiohttp.ClientSession() as session:
        yield Upstream(sim, str(server.make_url("")).rstrip("/"), session)


STYLES: dict[str, dict[str, Any]] = {
    "none": {"url": "/none/orders", "records": "orders"},
    "next_link": {
        "url": "/next_link/orders",
        "params": {"limit": SIZE},
        "records": "data",
        "pagination": {"style": "next_link", "next": "links.next", "total": "meta.total"},
    },
    "next_link_jsonpath": {
        "url": "/next_link/orders",
        "params": {"limit": SIZE},
        "records": "$.data",
        "pagination": {"style": "next_link", "next": "$['@odata.nextLink']"},
    },
    "link_header": {
        "url": "/link_header/orders",
        "params": {"per_page": SIZE},
        "pagination": {"style": "link_header"},
    },
    "cursor": {
        "url": "/cursor/orders",
        "params": {"limit": SIZE},
        "records": "data",
        "pagination": {
            "style": "cursor",
            "param": "starting_after",
            "from_record": "id",
            "has_more": "has_more",
        },
    },
    "cursor_body": {
        "url": "/cursor_body/orders",
        "method": "POST",
        "body": {"page_size": SIZE},
        "records": "results",
        "pagination": {
            "style": "cursor",
            "param": "start_cursor",
            "next": "next_cursor",
            "has_more": "has_more",
            "in": "body",
        },
    },
    "page": {
        "url": "/page/orders",
        "params": {"per_page": SIZE},
        "records": "items",
        "pagination": {
            "style": "page",
            "param": "page",
            "total_pages": "total_pages",
            "total": "total",
        },
    },
    "page_by_size": {
        "url": "/page/orders",
        "records": "items",
        "pagination": {"style": "page", "param": "page", "size_param": "per_page", "size": SIZE},
    },
    "offset": {
        "url": "/offset/orders",
        "records": "results",
        "pagination": {
            "style": "offset",
            "param": "offset",
            "size_param": "limit",
            "size": SIZE,
            "total": "total",
        },
    },
}


async def collect(
    source: RestSource, after: dict[str, Any] | None = None
) -> tuple[list[RestPage], ListingSummary]:
    listing = source.listing(after)
    pages = [page async for page in listing]
    for page in pages:
        page.remember()  # as the engine does once a page is written
    assert listing.summary is not None
    return pages, listing.summary


def ids_of(pages: list[RestPage]) -> list[str]:
    return [i for page in pages for i in page.ids]
