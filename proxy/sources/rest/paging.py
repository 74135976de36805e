"""One paginator per ``pagination.style``: given a page, the next request or None.

A paginator knows nothing of HTTP or loops: :mod:`client` sends the requests, and refuses
one it has already sent in the listing. Each paginator also turns a request into a resume
token (``state``: JSON, small, without the declared params, which are re-applied) and back
(``resume``): ``{"url": ...}`` for the link styles, ``{"cursor": ...}``, ``{"page": n}``,
``{"offset": n}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin

import orjson

from proxy.errors import BadPage
from proxy.sources.rest.declaration import (
    CursorPaging,
    Declaration,
    LinkHeaderPaging,
    NextLinkPaging,
    OffsetPaging,
    PagePaging,
)
from proxy.sources.rest.paths import MISSING, Path, compile_path


@dataclass(frozen=True)
class Request:
    """One page request. ``params`` None: the URL is requested exactly as given (a next
    link is never rewritten)."""

    url: str
    params: Mapping[str, str] | None = None
    body: Mapping[str, Any] | None = None

    def key(self) -> str:
        """What makes two requests the same (loop detection, the conditional cache)."""
        query = urlencode(sorted(self.params.items())) if self.params is not None else ""
        body = orjson.dumps(self.body, option=orjson.OPT_SORT_KEYS).decode() if self.body else ""
        return f"{self.url}|{query}|{body}"


@dataclass(frozen=True)
class Page:
    """What a paginator may read of a response."""

    doc: Any  # the parsed body
    headers: Mapping[str, str]
    url: str  # the URL the request went to
    records: list[Any]


@dataclass
class Paginator:
    """The ``none`` style, and the base of the others: one response, no next request."""

    spec: Declaration
    total_path: Path | None = field(init=False)

    def __post_init__(self) -> None:
        total = self.spec.pagination.total
        self.total_path = compile_path(total) if total else None

    def first(self) -> Request:
        return Request(self.spec.url, self.spec.query, self.spec.body)

    def next(self, request: Request, page: Page) -> Request | None:
        return None

    def state(self, request: Request) -> dict[str, Any]:
        return {"url": request.url}

    def resume(self, state: Mapping[str, Any]) -> Request:
        return self.first()

    def _base(self, extra: Mapping[str, str]) -> Request:
        return Request(self.spec.url, {**self.spec.query, **extra}, self.spec.body)


def _no_more(value: Any) -> bool:
    """absent, null or "" end a listing."""
    return value is MISSING or value is None or value == ""


def _state_value(state: Mapping[str, Any], key: str, kind: type) -> Any:
    value = state.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadPage(f"a resume token without a usable {key!r}: {sorted(state)}")
    return value


class NextLink(Paginator):
    def __post_init__(self) -> None:
        super().__post_init__()
        paging = self.spec.pagination
        self.link_path = compile_path(paging.next) if isinstance(paging, NextLinkPaging) else None

    def next(self, request: Request, page: Page) -> Request | None:
        assert isinstance(self.spec.pagination, NextLinkPaging) and self.link_path is not None
        link = self.link_path.get(page.doc)
        if _no_more(link):
            return None
        if not isinstance(link, str):
            raise BadPage(f"the next link at {self.spec.pagination.next!r} is not a string")
        return Request(urljoin(page.url, link), None, self.spec.body)

    def resume(self, state: Mapping[str, Any]) -> Request:
        return Request(_state_value(state, "url", str), None, self.spec.body)


# One link of an RFC 8288 Link header: <uri>; params
_LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]+)*)")
_REL = re.compile(r"""rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))""", re.I)


def next_from_link_header(header: str | None) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header (rel may list several types)."""
    for match in _LINK.finditer(header or ""):
        rel = _REL.search(match.group(2))
        if rel and "next" in (rel.group(1) or rel.group(2) or "").lower().split():
            return match.group(1)
    return None


class LinkHeader(NextLink):
    def next(self, request: Request, page: Page) -> Request | None:
        assert isinstance(self.spec.pagination, LinkHeaderPaging)
        link = next_from_link_header(page.headers.get("Link"))
        return Request(urljoin(page.url, link), None, self.spec.body) if link else None


class Cursor(Paginator):
    def __post_init__(self) -> None:
        super().__post_init__()
        paging = self.spec.pagination
        assert isinstance(paging, CursorPaging)
        self.paging = paging
        self.next_path = compile_path(paging.next) if paging.next else None
        self.from_record = compile_path(paging.from_record) if paging.from_record else None
        self.has_more = compile_path(paging.has_more) if paging.has_more else None

    def next(self, request: Request, page: Page) -> Request | None:
        more = self.has_more.get(page.doc) if self.has_more else MISSING
        if self.has_more and not isinstance(more, bool):
            raise BadPage(f"has_more at {self.paging.has_more!r} is not true or false")
        if more is False:
            return None
        if self.next_path is not None:
            cursor = self.next_path.get(page.doc)
            where = f"next cursor at {self.paging.next!r}"
        elif page.records:
            assert self.from_record is not None
            cursor = self.from_record.get(page.records[-1])
            where = f"cursor at {self.paging.from_record!r} in the page's last record"
        else:
            cursor = MISSING  # an empty page: nothing to continue from
            where = "cursor (the page is empty)"
        if _no_more(cursor):
            if more is True:
                raise BadPage(f"has_more is true but the {where} is missing")
            return None
        if isinstance(cursor, dict | list):
            raise BadPage(f"the {where} is not a string or number")
        return self.request_for(cursor)

    def request_for(self, cursor: Any) -> Request:
        if self.paging.in_ == "body":
            return Request(
                self.spec.url,
                self.spec.query,
                {**(self.spec.body or {}), self.paging.param: cursor},
            )
        return self._base({self.paging.param: str(cursor)})

    def state(self, request: Request) -> dict[str, Any]:
        if self.paging.in_ == "body":
            assert request.body is not None
            return {"cursor": request.body[self.paging.param]}
        assert request.params is not None
        return {"cursor": request.params[self.paging.param]}

    def resume(self, state: Mapping[str, Any]) -> Request:
        if "cursor" not in state or isinstance(state["cursor"], dict | list):
            raise BadPage(f"a resume token without a usable 'cursor': {sorted(state)}")
        return self.request_for(state["cursor"])


class PageNumber(Paginator):
    def __post_init__(self) -> None:
        super().__post_init__()
        paging = self.spec.pagination
        assert isinstance(paging, PagePaging)
        self.paging = paging
        self.total_pages = compile_path(paging.total_pages) if paging.total_pages else None
        self.known_pages: int | None = None

    def first(self) -> Request:
        return self.request_for(self.paging.start)

    def request_for(self, number: int) -> Request:
        extra = {self.paging.param: str(number)}
        if self.paging.size_param and self.paging.size:
            extra[self.paging.size_param] = str(self.paging.size)
        return self._base(extra)

    def number(self, request: Request) -> int:
        assert request.params is not None
        return int(request.params[self.paging.param])

    def next(self, request: Request, page: Page) -> Request | None:
        if not page.records:
            return None
        if self.paging.size and len(page.records) < self.paging.size:
            return None
        if self.total_pages is not None:
            pages = self.total_pages.get(page.doc)
            if isinstance(pages, int) and not isinstance(pages, bool):
                self.known_pages = pages  # later pages may leave it out
        number = self.number(request)
        # Pages are numbered from start: the last is start + total_pages - 1.
        if self.known_pages is not None and number + 1 >= self.paging.start + self.known_pages:
            return None
        return self.request_for(number + 1)

    def state(self, request: Request) -> dict[str, Any]:
        return {"page": self.number(request)}

    def resume(self, state: Mapping[str, Any]) -> Request:
        return self.request_for(_state_value(state, "page", int))


class Offset(Paginator):
    def __post_init__(self) -> None:
        super().__post_init__()
        paging = self.spec.pagination
        assert isinstance(paging, OffsetPaging)
        self.paging = paging

    def first(self) -> Request:
        return self.request_for(0)

    def request_for(self, offset: int) -> Request:
        return self._base(
            {self.paging.param: str(offset), self.paging.size_param: str(self.paging.size)}
        )

    def next(self, request: Request, page: Page) -> Request | None:
        if len(page.records) < self.paging.size:
            return None
        assert request.params is not None
        offset = int(request.params[self.paging.param]) + self.paging.size
        total = self.total_path.get(page.doc) if self.total_path else MISSING
        if isinstance(total, int) and not isinstance(total, bool) and offset >= total:
            return None
        return self.request_for(offset)

    def state(self, request: Request) -> dict[str, Any]:
        assert request.params is not None
        return {"offset": int(request.params[self.paging.param])}

    def resume(self, state: Mapping[str, Any]) -> Request:
        return self.request_for(_state_value(state, "offset", int))


_BY_STYLE: dict[str, type[Paginator]] = {
    "none": Paginator,
    "next_link": NextLink,
    "link_header": LinkHeader,
    "cursor": Cursor,
    "page": PageNumber,
    "offset": Offset,
}


def paginator_for(spec: Declaration) -> Paginator:
    """A fresh paginator for one listing (``page`` remembers total_pages)."""
    style = type(spec.pagination).__struct_config__.tag
    assert isinstance(style, str)
    return _BY_STYLE[style](spec)


__all__ = ["Page", "Paginator", "Request", "next_from_link_header", "paginator_for"]
