"""HubSpot CRM v3 endpoints: property discovery, the listing of ids and modification times,
the search paginator that works around the 10,000-result cap, and batch read.

All HTTP goes through :class:`proxy.sources.http.HttpClient`. Each call takes the run's
:class:`RequestStats`, so one client serves every run and each run counts its own requests.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from proxy.config import STANDARD_OBJECT_TYPES, Settings
from proxy.errors import BadPage, ConfigError, UnknownObjectType, UpstreamFatal
from proxy.sources.http import HttpClient, RequestStats, RetryPolicy
from proxy.sources.hubspot.batch_read import BatchRead, decoder_for, parse_batch_read
from proxy.sources.hubspot.objects import ObjectSpec
from proxy.sources.hubspot.pages import (
    Schemas,
    modified_ms,
    next_after,
    parse_associations,
    parse_schemas,
    validate_page,
)
from proxy.sources.ratelimit import RollingWindowLimiter

log = logging.getLogger(__name__)

LIST_PAGE_SIZE = 100  # HubSpot's maximum for list pages
SEARCH_PAGE_SIZE = 200  # HubSpot's maximum for search pages
SEARCH_RESULT_CAP = 10_000  # search refuses to page past this offset
BATCH_READ_SIZE = 100  # HubSpot's maximum inputs per batch read
ASSOCIATIONS_BATCH_SIZE = 1000  # the v4 associations batch read's maximum inputs
SCHEMAS_PATH = "/crm-object-schemas/v3/schemas"  # custom objects: their names and type ids

# Singular names, for the v3-style name of an association type without a label: the
# aliases of the settings' table that are neither the plural name nor a type id.
_SINGULAR = {
    plural: alias
    for alias, plural in STANDARD_OBJECT_TYPES.items()
    if alias != plural and not alias[:1].isdigit()
}


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    total: int | None = None  # search tells how many records match; list does not
    after: str | None = None  # list: the cursor of the page after this one (None: the last)


def singular(object_type: str) -> str:
    return _SINGULAR.get(object_type, object_type)


class HubSpotClient:
    def __init__(
        self,
        http: HttpClient,
        *,
        base_url: str,
        token: str,
        search_limiter: RollingWindowLimiter,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.search_limiter = search_limiter
        self._custom_paths: dict[str, str] = {}  # any name of a custom object -> its type id

    async def _get(self, path: str, params: dict[str, str], stats: RequestStats) -> Any:
        return await self.http.request_json(
            "GET", self.base_url + path, params=params, headers=self._headers, stats=stats
        )

    # --- properties -------------------------------------------------------------------------

    async def property_names(self, spec: ObjectSpec, stats: RequestStats) -> list[str]:
        """Every property HubSpot defines for the object type (so every one is mirrored,
        not only the defaults)."""
        body = await self._get(f"/crm/v3/properties/{spec.api_name}", {}, stats)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise BadPage(f"properties of {spec.name}: response has no 'results' list")
        names = [p["name"] for p in results if isinstance(p, dict) and p.get("name")]
        if not names:
            raise BadPage(f"properties of {spec.name}: HubSpot listed no properties")
        return sorted(set(names))

    # --- object types -------------------------------------------------------------------------

    async def custom_object_names(self, stats: RequestStats) -> dict[str, str]:
        """Each custom object's objectTypeId mapped to its name, from the schemas API."""
        return (await self._schemas(stats)).names

    async def _schemas(self, stats: RequestStats) -> Schemas:
        """The account's custom objects, from the schemas API; every name they go by is
        remembered for :meth:`resolve`."""
        body = await self._get(SCHEMAS_PATH, {}, stats)
        schemas = parse_schemas(body, f"GET {SCHEMAS_PATH}")
        self._custom_paths.update(schemas.type_ids)
        return schemas

    async def resolve(self, spec: ObjectSpec, stats: RequestStats) -> ObjectSpec:
        """``spec`` with the path segment HubSpot's object APIs take for it: a standard
        type's own name; a custom object's ``objectTypeId`` (``2-…``), looked up by its
        name, id or fully qualified name in the schemas API (once per process: a custom
        object's type id never changes)."""
        if spec.name in STANDARD_OBJECT_TYPES or spec.api_path:
            return spec
        if spec.name not in self._custom_paths:
            await self._schemas(stats)
        path = self._custom_paths.get(spec.name)
        if path is None:
            known = sorted({k for k in self._custom_paths if not k[:1].isdigit()})
            raise UnknownObjectType(
                f"HubSpot has no object type {spec.name!r} (custom objects of this account: "
                f"{', '.join(known) or 'none'}); check OBJECT_TYPES and ASSOCIATIONS"
            )
        return replace(spec, api_path=path)

    # --- list -------------------------------------------------------------------------------

    async def list_stamps(
        self,
        spec: ObjectSpec,
        stats: RequestStats,
        *,
        archived: bool = False,
        after: str | None = None,
    ) -> AsyncIterator[Page]:
        """Every record (or every archived one), page by page from cursor ``after`` (the
        start when None), with only its id and modification time: a listing costs one
        request per 100 records however many properties the portal defines. What is new or
        changed is then fetched whole with :meth:`batch_read`, whose properties travel in
        the body. Each page carries the cursor of the next one."""
        path = f"/crm/v3/objects/{spec.api_name}"
        seen_cursors: set[str] = set()
        while True:
            params = {
                "limit": str(LIST_PAGE_SIZE),
                "archived": "true" if archived else "false",
                "properties": spec.modified_property,
            }
            if after is not None:
                params["after"] = after
            body = await self._get(path, params, stats)
            records = validate_page(body, f"GET {path}")
            nxt = next_after(body)
            yield Page(records, after=nxt)
            if nxt is None:
                return
            if nxt in seen_cursors:  # a server bug would otherwise loop for ever
                raise UpstreamFatal(f"{path}: paging cursor {nxt!r} repeated")
            seen_cursors.add(nxt)
            after = nxt

    # --- search -----------------------------------------------------------------------------

    async def live_count(self, spec: ObjectSpec, stats: RequestStats) -> int | None:
        """How many live records HubSpot's search counts (one request; None when the
        answer carries no total). Search lags writes by seconds, so the newest records
        may be missing from the count."""
        filters = [{"propertyName": spec.modified_property, "operator": "GTE", "value": "0"}]
        _, _, total = await self._search(
            spec, filters, spec.modified_property, 0, [spec.modified_property], stats, limit=1
        )
        return total

    async def _search(
        self,
        spec: ObjectSpec,
        filters: list[dict[str, str]],
        sort_by: str,
        after: int,
        properties: Sequence[str],
        stats: RequestStats,
        *,
        limit: int = SEARCH_PAGE_SIZE,
    ) -> tuple[list[dict[str, Any]], int | None, int | None]:
        """One search page: its records, the next offset (None on the last page) and the
        total. An offset that does not move forward is a server bug that would loop for
        ever: the run fails instead."""
        body = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": sort_by, "direction": "ASCENDING"}],
            "properties": list(properties),
            "limit": limit,
            "after": str(after),
        }
        path = f"/crm/v3/objects/{spec.api_name}/search"
        response = await self.http.request_json(
            "POST",
            self.base_url + path,
            json=body,
            headers=self._headers,
            extra_limiter=self.search_limiter,
            stats=stats,
        )
        results = validate_page(response, f"POST {path}")
        total = response.get("total")
        raw = next_after(response)
        nxt: int | None = None
        if raw is not None:
            if not raw.isascii() or not raw.isdigit():
                raise UpstreamFatal(f"POST {path}: paging cursor {raw[:40]!r} is not an offset")
            nxt = int(raw)
            if nxt <= after:
                raise UpstreamFatal(
                    f"POST {path}: paging cursor went from {after} to {nxt} "
                    "(repeated or backwards); the run stops rather than loop"
                )
        return results, nxt, total if isinstance(total, int) else None

    async def search_modified(
        self,
        spec: ObjectSpec,
        since_ms: int,
        until_ms: int,
        properties: Sequence[str],
        stats: RequestStats,
    ) -> AsyncIterator[Page]:
        """Every record modified in ``[since_ms, until_ms]``, oldest first.

        Search cannot page past 10,000 results, so a window that reaches the cap restarts
        from the last modification time it saw (re-reading that millisecond: harmless, the
        fingerprint makes repeats no-ops). When a whole window is one millisecond (HubSpot's
        bulk jobs stamp more than 10,000 records alike), that millisecond is read by
        ``hs_object_id`` instead, then the window moves past it."""
        lower = since_ms
        modified = spec.modified_property
        while True:
            after, last_ms = 0, None
            while True:
                filters = [
                    {"propertyName": modified, "operator": "GTE", "value": str(lower)},
                    {"propertyName": modified, "operator": "LTE", "value": str(until_ms)},
                ]
                results, nxt, total = await self._search(
                    spec, filters, modified, after, properties, stats
                )
                if results:
                    yield Page(results, total)
                    stamps = [modified_ms(r, modified) for r in results]
                    last_ms = max((s for s in stamps if s is not None), default=last_ms)
                if nxt is None:
                    return
                after = nxt
                if after >= SEARCH_RESULT_CAP:
                    break
            if last_ms is None:
                raise BadPage("search: reached the result cap without readable timestamps")
            if last_ms <= lower:
                async for page in self._drain_millisecond(spec, lower, properties, stats):
                    yield page
                lower += 1
            else:
                lower = last_ms

    async def _drain_millisecond(
        self, spec: ObjectSpec, stamp_ms: int, properties: Sequence[str], stats: RequestStats
    ) -> AsyncIterator[Page]:
        """Every record modified exactly at ``stamp_ms``, by ascending id."""
        log.info(
            "more than %d records share one modification time; reading them by id",
            SEARCH_RESULT_CAP,
        )
        last_id = "0"
        while True:
            # The filters stay fixed while paging a window: offsets only mean something
            # against the same query. The next window starts after the last id seen.
            filters = [
                {"propertyName": spec.modified_property, "operator": "EQ", "value": str(stamp_ms)},
                {"propertyName": "hs_object_id", "operator": "GT", "value": last_id},
            ]
            after, progressed = 0, False
            while True:
                results, nxt, total = await self._search(
                    spec, filters, "hs_object_id", after, properties, stats
                )
                if results:
                    yield Page(results, total)
                    last_id = str(max(int(r["id"]) for r in results))
                    progressed = True
                if nxt is None:
                    return
                after = nxt
                if after >= SEARCH_RESULT_CAP:
                    break
            if not progressed:
                raise UpstreamFatal("search: paging by hs_object_id made no progress")

    # --- batch read ---------------------------------------------------------------------------

    async def batch_read(
        self,
        spec: ObjectSpec,
        ids: Sequence[str],
        properties: Sequence[str],
        stats: RequestStats,
        *,
        archived: bool = False,
    ) -> BatchRead:
        """Ask HubSpot about ``ids`` (at most BATCH_READ_SIZE) among live records (or among
        archived ones): which it answers with themselves, which with another record (merged
        into it), and which it reports not found. Properties travel in the body, so any
        number of them fits."""
        if len(ids) > BATCH_READ_SIZE:
            raise ValueError(f"batch read takes at most {BATCH_READ_SIZE} ids")
        path = f"/crm/v3/objects/{spec.api_name}/batch/read"
        body = {
            "inputs": [{"id": i} for i in ids],
            "properties": list(properties),
            "propertiesWithHistory": [],
        }
        response = await self.http.request_json(
            "POST",
            self.base_url + path,
            params={"archived": "true" if archived else "false"},
            json=body,
            headers=self._headers,
            stats=stats,
            decode=decoder_for(spec.modified_property, spec.merged_ids_property),
        )
        return parse_batch_read(response, ids, f"POST {path}")

    # --- associations ---------------------------------------------------------------------------

    async def associations(
        self, spec: ObjectSpec, to_spec: ObjectSpec, ids: Sequence[str], stats: RequestStats
    ) -> dict[str, list[dict[str, str]]]:
        """Every association of each of ``ids`` to records of ``to_spec``'s type, in v3's
        shape (``[{"id", "type"}]``, sorted, so equal links compare equal), following each
        record's own cursor past HubSpot's per-record page."""
        path = f"/crm/v4/associations/{spec.api_name}/{to_spec.api_name}/batch/read"
        default = f"{singular(spec.name)}_to_{singular(to_spec.name)}"
        links: dict[str, set[tuple[str, str]]] = {i: set() for i in ids}
        pending: list[dict[str, str]] = [{"id": i} for i in ids]
        while pending:
            batch, pending = pending[:ASSOCIATIONS_BATCH_SIZE], pending[ASSOCIATIONS_BATCH_SIZE:]
            response = await self.http.request_json(
                "POST",
                self.base_url + path,
                json={"inputs": batch},
                headers=self._headers,
                stats=stats,
            )
            page = parse_associations(response, default, f"POST {path}")
            for from_id, found in page.links.items():
                links.setdefault(from_id, set()).update(found)
            asked = {item["id"]: item.get("after") for item in batch}
            for from_id, cursor in page.more.items():
                if cursor == asked.get(from_id):  # a server bug would otherwise loop for ever
                    raise UpstreamFatal(f"{path}: cursor {cursor!r} of {from_id} repeated")
                pending.append({"id": from_id, "after": cursor})
        return {
            # Ids sort as numbers (shorter first), so the order is HubSpot's ascending one.
            i: [
                {"id": to_id, "type": kind}
                for to_id, kind in sorted(found, key=lambda link: (len(link[0]), link))
            ]
            for i, found in links.items()
        }


def client_from_settings(session: aiohttp.ClientSession, settings: Settings) -> HubSpotClient:
    """The HubSpot client the settings describe: one per process, sharing ``session``."""
    if not settings.hubspot_access_token:
        raise ConfigError("missing required setting: HUBSPOT_ACCESS_TOKEN")
    limiter = RollingWindowLimiter(settings.hubspot_requests_per_10s, 10.0)
    # Search has no rate headers to learn from: pace it at the configured rate exactly.
    search = RollingWindowLimiter(settings.hubspot_search_per_second, 1.0, margin=0.0)
    http = HttpClient(
        session,
        limiter=limiter,
        policy=RetryPolicy(settings.hubspot_max_tries, settings.hubspot_backoff_seconds),
        timeout_s=settings.hubspot_timeout_seconds,
    )
    return HubSpotClient(
        http,
        base_url=settings.hubspot_base_url,
        token=settings.hubspot_access_token,
        search_limiter=search,
    )
