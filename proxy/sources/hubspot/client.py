"""HubSpot CRM v3 endpoints: property discovery, the listing of ids and modification times,
the search paginator that pages by key (past the 10,000-result cap, and through edits
made while it pages), and batch read.

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
EXCLUDED_IDS_MAX = 50  # ids a search leaves out by NOT_IN; more are read by id instead
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
            spec, [filters], spec.modified_property, [spec.modified_property], stats, limit=1
        )
        return total

    async def _search(
        self,
        spec: ObjectSpec,
        groups: list[list[dict[str, Any]]],
        sort_by: str,
        properties: Sequence[str],
        stats: RequestStats,
        *,
        limit: int = SEARCH_PAGE_SIZE,
    ) -> tuple[list[dict[str, Any]], bool, int | None]:
        """The first page of one query (filter ``groups`` OR-ed, each one's filters
        AND-ed): its records, whether more match, and the total. Every page this client
        reads is a first page: a query from offset 0 for what comes after the records
        already read, so a record that leaves the results meanwhile shifts nothing past a
        page boundary, and the 10,000-result cap is never reached. A next-page offset that
        does not move forward is a server bug: the run fails rather than trust its
        answers."""
        body = {
            "filterGroups": [{"filters": filters} for filters in groups],
            "sorts": [{"propertyName": sort_by, "direction": "ASCENDING"}],
            "properties": list(properties),
            "limit": limit,
            "after": "0",
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
        if raw is not None:
            if not raw.isascii() or not raw.isdigit():
                raise UpstreamFatal(f"POST {path}: paging cursor {raw[:40]!r} is not an offset")
            if int(raw) <= 0:
                raise UpstreamFatal(
                    f"POST {path}: paging cursor went from 0 to {int(raw)} "
                    "(repeated or backwards); the run stops rather than loop"
                )
        return results, raw is not None, total if isinstance(total, int) else None

    async def search_modified(
        self,
        spec: ObjectSpec,
        since_ms: int,
        until_ms: int,
        properties: Sequence[str],
        stats: RequestStats,
    ) -> AsyncIterator[Page]:
        """Every record modified in ``[since_ms, until_ms]``, oldest first.

        Paged by key, not offset: each page is a new query for what was modified after the
        last page's last modification time, or at that time and not read yet. An edit
        during the run moves a record past ``until_ms``; paged by offset, the records
        after it would shift one place and one would never be read. HubSpot does not say
        how it orders records of one millisecond, so those read are left out by id
        (``hs_object_id`` NOT_IN), not by "id greater than". When more than
        ``EXCLUDED_IDS_MAX`` of one millisecond have been read (HubSpot's bulk jobs stamp
        thousands alike), that millisecond is read by ``hs_object_id`` instead, then the
        window moves past it. With one record a millisecond this costs what offset paging
        did: one request per 200 records."""
        modified = spec.modified_property
        floor, read_at_floor = since_ms, set[str]()  # all before floor, these at it: read
        done, estimate = 0, None
        while True:
            groups = _window_after(modified, floor, read_at_floor, until_ms)
            results, more, total = await self._search(spec, groups, modified, properties, stats)
            estimate = None if total is None else done + total
            if results:
                yield Page(results, estimate)
                done += len(results)
            if not more:
                return
            key = _last_stamp_in(results, modified, floor, until_ms)
            if key is None:
                raise UpstreamFatal(
                    f"search: a page of {len(results)} records without one modified between "
                    f"{floor} and {until_ms}; the run stops rather than guess where to go on"
                )
            at_key = {r["id"] for r in results if modified_ms(r, modified) == key}
            if key == floor:
                if at_key <= read_at_floor:
                    raise UpstreamFatal("search: a page brought no record not read before")
                at_key |= read_at_floor
            floor, read_at_floor = key, at_key
            if len(read_at_floor) > EXCLUDED_IDS_MAX:
                async for page in self._drain_millisecond(
                    spec, floor, read_at_floor, properties, stats
                ):
                    done += len(page.records)
                    yield replace(page, total=estimate)
                floor, read_at_floor = floor + 1, set()

    async def _drain_millisecond(
        self,
        spec: ObjectSpec,
        stamp_ms: int,
        already: set[str],
        properties: Sequence[str],
        stats: RequestStats,
    ) -> AsyncIterator[Page]:
        """Every record modified exactly at ``stamp_ms`` but those in ``already``, by
        ascending id, each page a new query for the ids after the last one read."""
        log.info(
            "more than %d records share one modification time; reading them by id",
            EXCLUDED_IDS_MAX,
        )
        last_id = 0
        while True:
            filters = [
                {"propertyName": spec.modified_property, "operator": "EQ", "value": str(stamp_ms)},
                {"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)},
            ]
            results, more, _ = await self._search(
                spec, [filters], "hs_object_id", properties, stats
            )
            fresh = [r for r in results if r["id"] not in already]
            if fresh:
                yield Page(fresh)
            if not more:
                return
            top = max(int(r["id"]) for r in results) if results else last_id
            if top <= last_id:
                raise UpstreamFatal("search: paging by hs_object_id made no progress")
            last_id = top

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


def _window_after(
    modified: str, floor: int, read_at_floor: set[str], until_ms: int
) -> list[list[dict[str, Any]]]:
    """Filter groups for the records modified in ``[floor, until_ms]`` but those of
    ``read_at_floor`` (read already, all modified at ``floor``)."""
    until = {"propertyName": modified, "operator": "LTE", "value": str(until_ms)}
    if not read_at_floor:
        return [[{"propertyName": modified, "operator": "GTE", "value": str(floor)}, until]]
    return [
        [{"propertyName": modified, "operator": "GT", "value": str(floor)}, until],
        [
            {"propertyName": modified, "operator": "EQ", "value": str(floor)},
            {"propertyName": "hs_object_id", "operator": "NOT_IN", "values": sorted(read_at_floor)},
        ],
    ]


def _last_stamp_in(
    records: list[dict[str, Any]], modified: str, floor: int, until_ms: int
) -> int | None:
    """The modification time of the last record (in search's order) modified in
    ``[floor, until_ms]``. Search may show a record edited since it was indexed with its
    new time, past the window (or out of order): such a time says nothing of where the
    page ended, so the next page starts from the last one that fits."""
    for record in reversed(records):
        stamp = modified_ms(record, modified)
        if stamp is not None and floor <= stamp <= until_ms:
            return stamp
    return None
