"""The filterless REST simulator's state: a collection of orders, its auth, its faults.

No HTTP here (``app.py`` serves it). Tests and the demo change the collection through the
methods (``create``, ``update``, ``delete``, ``soft_delete``) or ``POST /_sim/mutate``.
"""

from __future__ import annotations

import secrets
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class RestFaults:
    """What goes wrong, by API request number (1-based, counted over list and item
    requests) or by page number within a listing (1-based, per route)."""

    fail_on_request: set[int] = field(default_factory=set)  # answer 500
    rate_limit_on_request: dict[int, str] = field(default_factory=dict)  # 429 + Retry-After
    unavailable_on_request: dict[int, str] = field(default_factory=dict)  # 503 + Retry-After
    drop_next_on_page: int | None = None  # that page lacks its next link / cursor / has_more
    repeat_cursor: bool = False  # a cursor or next link never advances
    ignore_page_param: bool = False  # page and offset routes serve the first page always
    after_page: dict[int, str] = field(default_factory=dict)  # "delete_first" | "insert_front"
    html_on_page: int | None = None  # that page is an HTML error page with a 200
    delay_s: float = 0.0


@dataclass
class RestAuth:
    """``mode``: none, bearer, basic or oauth2 (tokens from ``/oauth/token``)."""

    mode: str = "none"
    bearer: str = "sim-bearer-token"
    username: str = "sim-user"
    password: str = "sim-password"
    client_id: str = "sim-client"
    client_secret: str = "sim-client-secret"
    token_ttl_s: float = 3600.0
    refresh_token: str = "sim-refresh-0"  # the one refresh token that works now
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry
    token_requests: list[str] = field(default_factory=list)  # grant types, in order


@dataclass
class Counters:
    requests: int = 0  # API requests (list and item routes)
    pages: int = 0  # list responses with a body
    not_modified: int = 0  # 304 answers
    token_requests: int = 0


class RestSimulator:
    def __init__(
        self,
        n: int = 0,
        *,
        clock: Callable[[], float] = time.time,
        conditional: bool = True,
        padding: int = 0,
    ) -> None:
        self.clock = clock
        self.records: dict[int, dict[str, Any]] = {}
        # Ids in order and their records, rebuilt after a create or delete: a listing asks
        # for one page at a time, and sorting 100,000 ids per page would make the simulator
        # the bottleneck of what it serves (bench.rest).
        self._order: tuple[list[int], list[dict[str, Any]]] | None = None
        self.padding = padding  # characters of filler text per record (``notes``)
        self._filler = _filler(padding)
        self.gone: set[int] = set()  # hard-deleted ids: the item route answers 410
        self.next_id = 1
        self.faults = RestFaults()
        self.auth = RestAuth()
        self.counters = Counters()
        self.conditional = conditional  # ETag / Last-Modified / 304
        self.changed_at = clock()
        self.page_counts: dict[str, int] = {}  # pages served per route in this listing
        for _ in range(n):
            self.create()

    # --- the collection ------------------------------------------------------------------

    def _now_iso(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).isoformat().replace("+00:00", "Z")

    def _touch(self) -> None:
        self.changed_at = self.clock()

    def create(self, name: str | None = None, *, record_id: int | None = None) -> dict[str, Any]:
        rid = record_id if record_id is not None else self.next_id
        self.next_id = max(self.next_id, rid + 1)
        record = {
            "id": rid,
            "name": name or f"order {rid}",
            "status": "active",
            "updated_at": self._now_iso(),
        }
        if self.padding:
            start = (rid * 7) % len(FILLER_WORDS)  # records differ, deterministically
            record["notes"] = self._filler[start : start + self.padding]
        self.records[rid] = record
        self._order = None
        self.gone.discard(rid)
        self._touch()
        return record

    def insert_front(self) -> dict[str, Any]:
        """A record that sorts before every other (the id below the smallest)."""
        smallest = min(self.records, default=1)
        return self.create(record_id=smallest - 1)

    def update(self, rid: int, **changes: Any) -> dict[str, Any]:
        record = self.records[rid]
        record.update(changes)
        record["updated_at"] = self._now_iso()
        self._touch()
        return record

    def delete(self, rid: int) -> None:
        del self.records[rid]
        self._order = None
        self.gone.add(rid)
        self._touch()

    def soft_delete(self, rid: int) -> dict[str, Any]:
        return self.update(rid, status="cancelled")

    def _ordered(self) -> tuple[list[int], list[dict[str, Any]]]:
        if self._order is None:
            ids = sorted(self.records)
            self._order = (ids, [self.records[k] for k in ids])
        return self._order

    def ordered(self) -> list[dict[str, Any]]:
        return list(self._ordered()[1])

    def after(self, after: int | None, limit: int | None = None) -> list[dict[str, Any]]:
        """Up to ``limit`` records with ids above ``after`` (all from the first when None),
        in id order."""
        ids, rows = self._ordered()
        start = 0 if after is None else bisect_right(ids, after)
        return rows[start : None if limit is None else start + limit]

    def ids(self) -> set[str]:
        return {str(k) for k in self.records}

    def mutate(self, op: str, rid: int | None = None, name: str | None = None) -> Any:
        """One change by name (``POST /_sim/mutate``)."""
        if op == "create":
            return self.create(name)
        if rid is None or rid not in self.records:
            raise KeyError(rid)
        if op == "update":
            return self.update(rid, name=name or f"{self.records[rid]['name']}*")
        if op == "delete":
            self.delete(rid)
            return {"id": rid}
        if op == "soft_delete":
            return self.soft_delete(rid)
        raise ValueError(op)

    # --- listing hooks ---------------------------------------------------------------------

    def served_page(self, route: str, first: bool) -> int:
        """Count a page served on ``route`` (the first page of a listing restarts the count);
        return its number in the listing."""
        number = 1 if first else self.page_counts.get(route, 0) + 1
        self.page_counts[route] = number
        return number

    def after_page(self, number: int) -> None:
        """A mutation a fault asks for once page ``number`` has been served."""
        action = self.faults.after_page.pop(number, None)
        if action == "delete_first":
            self.delete(min(self.records))
        elif action == "insert_front":
            self.insert_front()

    # --- auth ------------------------------------------------------------------------------

    def issue_token(self) -> dict[str, Any]:
        token = f"sim-access-{secrets.token_hex(8)}"
        self.auth.access_tokens[token] = self.clock() + self.auth.token_ttl_s
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.auth.token_ttl_s}

    def rotate_refresh_token(self) -> str:
        number = int(self.auth.refresh_token.rsplit("-", 1)[1]) + 1
        self.auth.refresh_token = f"sim-refresh-{number}"
        return self.auth.refresh_token

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (the server's clock moved on)."""
        self.auth.access_tokens.clear()

    def token_valid(self, token: str) -> bool:
        expiry = self.auth.access_tokens.get(token)
        return expiry is not None and expiry > self.clock()


FILLER_WORDS = (
    "Delivery to the loading dock at the rear entrance, weekdays between eight and four; "
    "call ahead if the pallet is wider than the door. Invoice to accounts payable, quoting "
    "the purchase order number and the cost centre. Partial shipments accepted. "
)


def _filler(padding: int) -> str:
    """Text to cut a record's ``notes`` of ``padding`` characters from, at any offset
    within the first ``len(FILLER_WORDS)``."""
    if padding <= 0:
        return ""
    return FILLER_WORDS * (padding // len(FILLER_WORDS) + 2)
