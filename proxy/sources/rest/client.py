"""A declared REST source over HTTP: list its records page by page, ask about one item.

:class:`RestSource` is built from one :class:`DeclaredSource` and the process's aiohttp
session. Requests go through :class:`~proxy.sources.http.HttpClient` (pacing by ``rate``,
retries with backoff, ``Retry-After`` bounded, statuses classified). Every error that leaves
this module has the declaration's secrets, and any token this source obtained, scrubbed.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

import aiohttp
import msgspec
import orjson
import xxhash
from yarl import URL

from proxy.errors import (
    BadPage,
    DeclarationMismatch,
    ListingLoop,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
)
from proxy.sources.http import HttpClient, RawResponse, RequestStats, RetryPolicy
from proxy.sources.ratelimit import RollingWindowLimiter
from proxy.sources.rest.declaration import BasicAuth, DeclaredSource, OAuth2Auth, scrub
from proxy.sources.rest.paging import Page, Paginator, Request, paginator_for
from proxy.sources.rest.paths import MISSING, compile_path

# A token is fetched again this long before it expires (clocks differ, requests take time).
TOKEN_MARGIN_S = 30.0
UNLIMITED = 1_000_000_000


@dataclass(frozen=True)
class TokenStore:
    """Where a rotated refresh token is kept (the database, for the engine): ``load``
    gives the last one saved (None: use the declared one), ``save`` keeps a new one."""

    load: Callable[[], Awaitable[str | None]]
    save: Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class RestRecord:
    id: str  # the id as a string; a composite id's parts joined with ":"
    data: bytes  # the record's JSON
    deleted: bool  # marked deleted by the declaration's ``deleted`` rule


def _nothing() -> None:
    pass


@dataclass(frozen=True)
class RestPage:
    records: list[RestRecord]  # empty on a 304 page
    ids: list[str]  # every id on the page (a 304 page's are those it had before)
    after: dict[str, Any] | None  # resume token for the NEXT page; None at the end
    not_modified: bool  # a 304, or the same bytes: the same page as last time
    # Keeps the page's ETag / Last-Modified for the next scan's conditional request. The
    # caller calls it once the page is written: a 304 then means "the mirror holds this
    # page", so a page whose write failed is never skipped by a later 304.
    remember: Callable[[], None] = _nothing


@dataclass(frozen=True)
class ListingSummary:
    distinct: int  # distinct ids seen
    duplicates_seen: bool  # an id came twice (offset drift): infer no absences
    complete: bool  # False: fewer distinct ids than the API's total
    reason: str | None  # why it is incomplete
    pages: int


@dataclass
class _Cached:
    etag: str | None
    last_modified: str | None
    ids: list[str]
    next: Request | None
    total: int | None
    identity: bytes = b""  # of the body and the Link header (:func:`_identity`)

    def again(self) -> tuple[_ParsedPage, Request | None, int | None, Callable[[], None]]:
        """The page as last written (a 304, or the same bytes): its ids, nothing to parse,
        nothing more to remember."""
        return _ParsedPage([], self.ids, True), self.next, self.total, _nothing


def _identity(response: RawResponse) -> bytes:
    """What makes a page the same page: its body, and the Link header the next page may
    come from. A hash: the cache holds one per page of a listing."""
    # xxh3: a rescan hashes every byte it lists (100 MB for 100,000 1 KB records), on the
    # event loop; blake2b took 0.18 s of it, xxh3 a tenth of that. Not a defence against
    # an API crafting collisions: the page only ever collides with its own earlier bytes.
    digest = xxhash.xxh3_128(response.body)
    digest.update(response.headers.get("Link", "").encode("utf-8", "surrogateescape"))
    return digest.digest()


@dataclass
class ConditionalCache:
    """Per page request, what the page was when the caller last wrote it
    (:attr:`RestPage.remember`): its ETag / Last-Modified, ids, next request and a hash of
    its bytes. Kept by the caller across scans, in memory. A page answered 304, or whose
    bytes are the same again, is that page again and is not parsed. ``parsed``,
    ``not_modified`` and ``identical`` count pages (tests and benchmarks read them)."""

    pages: dict[str, _Cached] = field(default_factory=dict)
    parsed: int = 0
    not_modified: int = 0
    identical: int = 0


class _Token:
    def __init__(self) -> None:
        self.access: str | None = None
        self.expires_at = 0.0


class Listing:
    """One listing: iterate it for :class:`RestPage`; ``summary`` is set once it ends."""

    def __init__(
        self,
        source: RestSource,
        after: Mapping[str, Any] | None,
        params: Mapping[str, str] | None = None,
    ) -> None:
        self.source = source
        self.after = after
        # Extra query parameters (a change filter): such a listing is asked once, so its
        # pages are neither looked up in nor added to the conditional cache.
        self.spec = (
            msgspec.structs.replace(source.spec, params={**source.spec.params, **params})
            if params
            else source.spec
        )
        self.conditional = not params
        self.summary: ListingSummary | None = None

    def __aiter__(self) -> AsyncIterator[RestPage]:
        return self._pages()

    async def _pages(self) -> AsyncIterator[RestPage]:
        src = self.source
        paginator = paginator_for(self.spec)
        try:
            request: Request | None = (
                paginator.first() if self.after is None else paginator.resume(self.after)
            )
        except BadPage as exc:
            raise BadPage(f"source {src.name}: {exc}") from None
        asked: dict[str, int] = {}
        page_ids: dict[frozenset[str], int] = {}
        seen: set[str] = set()
        duplicates = False
        total: int | None = None
        number = 0
        while request is not None:
            number += 1
            key = request.key()
            if key in asked:
                raise ListingLoop(
                    src.scrub(
                        f"source {src.name}: page {number} would ask again for "
                        f"{_show(request)} (asked for page {asked[key]}): the API repeats "
                        "its next link or cursor; listing stopped"
                    )
                )
            asked[key] = number
            page, next_request, page_total, remember = await src.fetch_page(
                paginator,
                request,
                first=number == 1 and self.after is None,
                use_cache=self.conditional,
            )
            if page.ids:
                ids = frozenset(page.ids)
                if ids in page_ids:
                    raise ListingLoop(
                        src.scrub(
                            f"source {src.name}: page {number} ({_show(request)}) has exactly "
                            f"the ids of page {page_ids[ids]}: the API ignores the page "
                            "parameter; listing stopped"
                        )
                    )
                page_ids[ids] = number
            for record_id in page.ids:
                if record_id in seen:
                    duplicates = True
                seen.add(record_id)
            if page_total is not None:
                # The largest count announced: a record deleted mid-listing lowers it, and
                # the record it shifted past a page boundary must count as missed.
                total = max(total or 0, page_total)
            yield RestPage(
                records=page.records,
                ids=page.ids,
                after=paginator.state(next_request) if next_request else None,
                not_modified=page.not_modified,
                remember=remember,
            )
            request = next_request
        reason = None
        if total is not None and self.after is None and len(seen) < total:
            reason = f"the listing ended having seen {len(seen)} distinct ids of {total}"
        self.summary = ListingSummary(
            distinct=len(seen),
            duplicates_seen=duplicates,
            complete=reason is None,
            reason=reason,
            pages=number,
        )


def _show(request: Request) -> str:
    """A request's URL for a message (query included: scrubbed by the caller)."""
    if request.params:
        return f"{request.url}?{urlencode(request.params)}"
    return request.url


class RestSource:
    def __init__(
        self,
        source: DeclaredSource,
        session: aiohttp.ClientSession,
        *,
        token_store: TokenStore | None = None,
        cache: ConditionalCache | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.declared = source
        self.spec = source.spec
        self.name = source.name
        self.token_store = token_store
        self.cache = cache if cache is not None else ConditionalCache()
        self.stats = RequestStats()
        self._secrets = set(source.secrets)
        self._clock = clock
        self._token = _Token()
        self._refresh_token: str | None = None
        rate = self.spec.rate
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        limiter = RollingWindowLimiter(
            rate.requests if rate else UNLIMITED,
            rate.per_seconds if rate else 1.0,
            margin=0.0,
            clock=clock,
            **extra,
        )
        self.http = HttpClient(
            session,
            limiter=limiter,
            policy=policy or RetryPolicy(),
            timeout_s=self.spec.timeout_seconds,
            auth_hint=f"check the credentials of source {self.name}",
            connect_hint=f"check the url of source {self.name} and this machine's network",
            **extra,
        )
        self.records_path = compile_path(self.spec.records)
        self.id_paths = [compile_path(p) for p in self.spec.id_paths]
        deleted = self.spec.deleted
        self.deleted_path = compile_path(deleted.path) if deleted else None

    # --- public ----------------------------------------------------------------------------

    def listing(
        self, after: Mapping[str, Any] | None = None, *, params: Mapping[str, str] | None = None
    ) -> Listing:
        """The pages of one listing, from the first or from a resume token a page gave;
        ``params`` are added to the declared ones (the ``incremental`` filter)."""
        return Listing(self, after, params)

    async def item_status(self, record_id: str) -> Literal["gone", "live"] | None:
        """What ``item_url`` says of one id: 404/410 gone, 2xx live; None without one."""
        if self.spec.item_url is None:
            return None
        url = self.spec.item_url.replace("{id}", quote(record_id, safe=""))
        response = await self._send("GET", url, self.spec.query, None, {}, (404, 410))
        return "gone" if response.status in (404, 410) else "live"

    def scrub(self, text: str) -> str:
        return scrub(text, frozenset(self._secrets))

    # --- one page --------------------------------------------------------------------------

    async def fetch_page(
        self,
        paginator: Paginator,
        request: Request,
        *,
        first: bool = False,
        use_cache: bool = True,
    ) -> tuple[_ParsedPage, Request | None, int | None, Callable[[], None]]:
        """One page, its next request, the total it announces (or the cached ones on a
        304), and what keeps its validators in the conditional cache once it is written
        (without ``use_cache``, the cache is neither asked nor filled)."""
        key = request.key()
        cached = self.cache.pages.get(key) if use_cache else None
        conditional: dict[str, str] = {}
        if cached is not None and cached.etag:
            conditional["If-None-Match"] = cached.etag
        elif cached is not None and cached.last_modified:
            conditional["If-Modified-Since"] = cached.last_modified
        url: str | URL = URL(request.url, encoded=True) if request.params is None else request.url
        body = orjson.dumps(request.body) if request.body is not None else None
        response = await self._send(
            self.spec.method, url, request.params, body, conditional, (304,) if cached else ()
        )
        if response.status == 304:
            assert cached is not None
            self.cache.not_modified += 1
            return cached.again()
        etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
        identity = _identity(response) if use_cache else b""
        if cached is not None and cached.identity == identity:
            # Byte for byte the page last written (an API without ETags, or one that sent
            # the body anyway): the same page, as after a 304. The mirror holds it, so its
            # validators, if it now sends any, are kept at once.
            self.cache.identical += 1
            cached.etag, cached.last_modified = etag, modified
            return cached.again()
        self.cache.parsed += 1
        doc, parsed, raw_records = self._parse(request, response.body, first=first)
        page = Page(doc=doc, headers=response.headers, url=request.url, records=raw_records)
        try:
            next_request = paginator.next(request, page)
        except BadPage as exc:
            raise self._bad(f"source {self.name}: {_show(request)}: {exc}; page rejected") from None
        total = paginator.total_path.get(doc) if paginator.total_path else MISSING
        page_total = total if isinstance(total, int) and not isinstance(total, bool) else None
        # What was cached for this request is stale now, whether or not the page is written.
        self.cache.pages.pop(key, None)
        if not use_cache:
            return parsed, next_request, page_total, _nothing
        entry = _Cached(etag, modified, parsed.ids, next_request, page_total, identity)

        def remember() -> None:
            self.cache.pages[key] = entry

        return parsed, next_request, page_total, remember

    def _parse(
        self, request: Request, raw: bytes, *, first: bool = False
    ) -> tuple[Any, _ParsedPage, list[Any]]:
        """A page's body: its records with ids, or BadPage saying what is missing. On the
        first page of a listing, a ``records`` or ``id`` path that finds nothing is a
        declaration that does not fit the API (:class:`DeclarationMismatch`): a setting to
        fix, said at once, never a silent empty feed."""
        where = f"source {self.name}: {_show(request)}"
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise self._bad(f"{where}: the page is not JSON; page rejected") from None
        found = self.records_path.get(doc)
        if found is MISSING or not isinstance(found, list):
            what = "finds nothing" if found is MISSING else "is not a list"
            if first:
                raise DeclarationMismatch(
                    self.scrub(
                        f"sources.{self.name}.records: {self.spec.records!r} {what} in the "
                        f"first page ({_show(request)}); fix the declaration"
                    )
                )
            raise self._bad(f"{where}: records = {self.spec.records!r} {what}; page rejected")
        records: list[RestRecord] = []
        for index, item in enumerate(found):
            parts = []
            for path in self.id_paths:
                value = path.get(item)
                if (
                    value is MISSING
                    or value is None
                    or value == ""
                    or isinstance(value, dict | list | bool)
                ):
                    if first and index == 0:
                        raise DeclarationMismatch(
                            self.scrub(
                                f"sources.{self.name}.id: {path.text!r} finds no id in the "
                                f"first record of the first page ({_show(request)}); fix "
                                "the declaration"
                            )
                        )
                    raise self._bad(
                        f"{where}: record {index} has no id at {path.text!r}; page rejected"
                    )
                parts.append(str(value))
            records.append(RestRecord(":".join(parts), orjson.dumps(item), self._deleted(item)))
        return doc, _ParsedPage(records, [r.id for r in records], False), found

    def _deleted(self, item: Any) -> bool:
        if self.deleted_path is None or self.spec.deleted is None:
            return False
        value, equals = self.deleted_path.get(item), self.spec.deleted.equals
        # True == 1 in Python; a JSON true is not the number 1.
        return bool(value == equals and isinstance(value, bool) == isinstance(equals, bool))

    def _bad(self, message: str) -> BadPage:
        return BadPage(self.scrub(message))

    # --- requests and auth ---------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: str | URL,
        params: Mapping[str, str] | None,
        body: bytes | None,
        extra_headers: Mapping[str, str],
        passthrough: tuple[int, ...],
    ) -> RawResponse:
        """One request with the declared headers and auth; under OAuth2 a 401 fetches a new
        token once and asks again. Errors leave with secrets scrubbed."""
        try:
            retried = False
            while True:
                headers = {**self.spec.headers, **extra_headers}
                if body is not None:
                    headers["Content-Type"] = "application/json"
                headers.update(await self._auth_headers())
                try:
                    return await self.http.request_raw(
                        method,
                        url,
                        params=params,
                        data=body,
                        headers=headers,
                        stats=self.stats,
                        passthrough=passthrough,
                    )
                except UpstreamAuthError:
                    if retried or not isinstance(self.spec.auth, OAuth2Auth):
                        raise
                    retried = True
                    self._token.access = None  # expired early, or revoked: fetch again
        except UpstreamRateLimited as exc:
            raise UpstreamRateLimited(self.scrub(str(exc)), exc.retry_after) from None
        except UpstreamError as exc:
            raise type(exc)(self.scrub(str(exc))) from None

    async def _auth_headers(self) -> dict[str, str]:
        auth = self.spec.auth
        if isinstance(auth, BasicAuth):
            pair = f"{auth.username}:{auth.password}".encode()
            return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
        if isinstance(auth, OAuth2Auth):
            if self._token.access is None or self._clock() >= self._token.expires_at:
                await self._fetch_token(auth)
            return {"Authorization": f"Bearer {self._token.access}"}
        return {}

    async def _fetch_token(self, auth: OAuth2Auth) -> None:
        form = {"grant_type": auth.grant, "client_id": auth.client_id}
        form["client_secret"] = auth.client_secret
        if auth.scope:
            form["scope"] = auth.scope
        if auth.grant == "refresh_token":
            if self._refresh_token is None:
                stored = await self.token_store.load() if self.token_store else None
                self._refresh_token = stored or auth.refresh_token
            assert self._refresh_token is not None
            form["refresh_token"] = self._refresh_token
        response = await self.http.request_raw(
            "POST",
            auth.token_url,
            data=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            stats=self.stats,
            passthrough=(400, 401, 403),  # OAuth errors: read their "error" below
        )
        try:
            answer = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            answer = None
        if response.status != 200 or not isinstance(answer, dict):
            error = answer.get("error") if isinstance(answer, dict) else None
            raise UpstreamAuthError(
                f"source {self.name}: the token endpoint refused the {auth.grant} grant"
                f" ({error or response.status}); check auth of source {self.name}"
            )
        access = answer.get("access_token")
        if not isinstance(access, str) or not access:
            raise UpstreamAuthError(f"source {self.name}: the token answer has no access_token")
        self._secrets.add(access)
        expires_in = answer.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        self._token.access = access
        self._token.expires_at = self._clock() + max(lifetime - TOKEN_MARGIN_S, lifetime / 2)
        rotated = answer.get("refresh_token")
        if auth.grant == "refresh_token" and isinstance(rotated, str) and rotated:
            self._secrets.add(rotated)
            if rotated != self._refresh_token:
                self._refresh_token = rotated
                if self.token_store is not None:
                    await self.token_store.save(rotated)


@dataclass(frozen=True)
class _ParsedPage:
    records: list[RestRecord]
    ids: list[str]
    not_modified: bool


__all__ = [
    "ConditionalCache",
    "Listing",
    "ListingSummary",
    "RestPage",
    "RestRecord",
    "RestSource",
    "TokenStore",
]
