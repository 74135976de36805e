"""Fault switches a test flips between requests to make the simulator misbehave.

What they break: whole requests (``fail_*``, ``delay_seconds``, ``max_url_length``), rate
limits and their headers (``rate_limit_*``, ``search_per_second``, ``retry_after_*``,
``rate_interval_raw``), response shapes (``malformed_next``), listings (``list_cut_*``) and
search (``search_lag_ms``, ``search_result_cap``, ``search_cursor_fault``,
``search_edit_property``) and associations
(``associations_bump_modified``, ``association_ids_as_strings``: not faults, HubSpot's two
possible behaviours). Each field says exactly what it does; all are off by default.

A test in the same process assigns fields (``sim.faults.fail_next = 2``); a test driving a
simulator process posts the same names to ``/_sim/faults``, where :func:`fault_value`
checks each JSON value against the field's type.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin, get_type_hints

ListCutMode = Literal["no_paging", "empty", "blank_after"]
SearchCursorFault = Literal["repeat", "backwards"]


class ListCut:
    """Bookkeeping of ``Faults.list_cut_after``: pages let through and where each listing
    (live, archived) was cut. A fresh one starts whenever the fault is set."""

    def __init__(self) -> None:
        self.pages_served = 0
        self.cut_at: dict[bool, int] = {}
        """archived flag -> the id the first cut page started after (0: the start)."""


@dataclass
class Faults:
    """Everything defaults to "off": a fresh ``Faults()`` is a well-behaved HubSpot.

    Counters named ``*_next`` are consumed by the requests they affect, so setting
    ``fail_next = 2`` breaks exactly the next two API requests.
    """

    fail_next: int = 0
    """The next N API requests (not ``/_sim``) answer ``fail_status``."""
    fail_after: int = 0
    """``fail_next`` waits until this many more API requests have been answered normally
    (to break HubSpot in the middle of a run)."""
    fail_status: int = 502
    fail_html: bool = True
    """Injected failures carry an HTML page (like HubSpot's edge) instead of a JSON error."""
    rate_limit_next: int = 0
    """The next N API requests answer 429 with the ten_secondly_rolling body."""
    retry_after_seconds: float | None = None
    """When set, every 429 carries ``Retry-After`` with this value."""
    retry_after_raw: str | None = None
    """When set, every 429 carries exactly this ``Retry-After`` text instead (``"inf"``,
    ``"1e999"``, ``"-5"``, ``"abc"``, ``"86400"``: what a client must not trust blindly);
    it wins over ``retry_after_seconds``."""
    rate_interval_raw: str | None = None
    """When set, ``X-HubSpot-RateLimit-Interval-Milliseconds`` carries exactly this text
    (``"0"``, ``"-100"``, ``"abc"``) on every response that has the rate headers."""
    delay_seconds: float = 0.0
    """Every API request sleeps this long before answering (to provoke client timeouts)."""
    malformed_next: int = 0
    """The next N list/search responses have a wrong shape: the first drops ``results``, the
    second returns a record without ``id``, alternating (counted over the simulator's life)."""
    malformed_batch_read_next: int = 0
    """The next N batch read answers have a wrong shape: the first record's properties are
    a list, then the first record has no ``id``, alternating (counted over the simulator's
    life)."""
    search_lag_ms: int = 0
    """A record written at clock time T is invisible to search until T + lag."""
    max_url_length: int = 8000
    """A request whose path + query is longer answers 414 with an HTML body."""
    rate_limit_per_10s: int | None = None
    """Rolling 10 s budget for non-search requests; None means unlimited."""
    search_per_second: int | None = None
    """Rolling 1 s budget for search requests; None means unlimited."""
    search_result_cap: int = 10_000
    """Search offsets at or beyond this answer 400 (see ``search.py``)."""
    search_cursor_fault: SearchCursorFault | None = None
    """A search page that has a next page points ``paging.next.after`` at the offset that
    was just requested (``"repeat"``: a client that trusts it loops) or at ``"0"``
    (``"backwards"``: it starts over) instead of the true next offset."""
    search_edit_property: str | None = None
    """When set, every search page that has a next page is followed at once by an edit of
    the page's first record: this property (one of the searched type's, writable) becomes
    ``edited after search page N`` and the record's modification time moves to the clock's
    now, as if a user edited a record a client had just read. The edited ids are kept in
    ``HubSpotSimulator.search_edits``, in order. A client that pages a modification-time
    window by offset then misses a record at each page boundary: the edited record leaves
    the window and the rest shift one place towards the start."""
    list_cut_after: int | None = None
    """After this many list pages (live and archived list requests together, counted from
    when the field was last set) were served normally, the list endpoint ends the listing
    early, the way ``list_cut_mode`` says: a HubSpot listing cut short, as clients report.
    The cut sticks to where it happened: from then on every list request of that kind
    (live or archived) whose page starts at or after the same id is cut too, so a client
    that starts the listing over is cut at the same point; pages before it are served
    normally. Setting this field again (or None, which switches it off) starts afresh."""
    list_cut_mode: ListCutMode = "no_paging"
    """How a cut list page looks: ``"no_paging"`` the real page without ``paging`` (the
    listing looks complete); ``"empty"`` ``{"results": []}`` without ``paging``;
    ``"blank_after"`` the real page with ``paging.next.after`` ``""`` (always, even where
    no page follows; followed, a blank cursor starts the listing over)."""

    associations_bump_modified: bool = False
    """Associating or dissociating two records sets both records' modification time to now
    (and so shows the change to a client reading by modification time). Off by default:
    whether HubSpot does this is unconfirmed (``reference/hubspot-api.md`` Part C), so a
    client must not count on it."""
    association_ids_as_strings: bool = False
    """The v4 associations API sends ``toObjectId`` as a string (``"123"``, as HubSpot's
    newer pages document) instead of a number (``123``, as its older examples show)."""

    if not TYPE_CHECKING:
        # Hidden from type checkers so that a misspelt fault name still fails mypy.
        def __setattr__(self, name: str, value: object) -> None:
            super().__setattr__(name, value)
            if name == "list_cut_after":
                # Set anew, by a test or through /_sim/faults: count pages from here on.
                super().__setattr__("_list_cut", ListCut())

    def __post_init__(self) -> None:
        # __setattr__ made one already while __init__ set list_cut_after; this one is where
        # type checkers learn the attribute.
        self._list_cut = ListCut()

    def list_cut(self, *, after: int | None, archived: bool) -> ListCutMode | None:
        """How to cut the list page that starts after id ``after`` (None: the first page),
        or None to serve it normally, which counts it as served."""
        if self.list_cut_after is None:
            return None
        cut = self._list_cut
        start = after or 0
        cut_at = cut.cut_at.get(archived)
        if cut_at is None and cut.pages_served >= self.list_cut_after:
            cut_at = cut.cut_at[archived] = start
        if cut_at is not None and start >= cut_at:
            return self.list_cut_mode
        cut.pages_served += 1
        return None

    def search_next_after(self, *, requested: int, honest: int) -> str:
        """``paging.next.after`` of a search page asked for at offset ``requested`` whose
        true next offset is ``honest``."""
        if self.search_cursor_fault == "repeat":
            return str(requested)
        if self.search_cursor_fault == "backwards":
            return "0"
        return str(honest)


def fault_value(name: str, value: object) -> Any:
    """A decoded JSON ``value`` as the ``Faults`` field ``name`` holds it (JSON numbers for
    float fields become floats). Raises ``ValueError`` when it does not fit the field's
    type, so a remote test gets a 400 instead of a broken simulator."""
    hint = _FIELD_TYPES[name]
    options = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
    for option in options:
        if option is type(None):
            if value is None:
                return None
        elif get_origin(option) is Literal:
            if isinstance(value, str) and value in get_args(option):
                return value
        elif option is bool or isinstance(value, bool):
            # JSON true is no number, and 1 is no boolean.
            if option is bool and isinstance(value, bool):
                return value
        elif option is float and isinstance(value, int | float):
            return float(value)
        elif isinstance(value, option):
            return value
    raise ValueError(f"{name} cannot be {value!r}: the field takes {hint}")


def corrupt_page(payload: dict[str, Any], served_before: int) -> dict[str, Any]:
    """Break a list/search payload the way ``Faults.malformed_next`` promises.

    ``served_before`` counts malformed responses already served: even numbers drop
    ``results``, odd numbers strip ``id`` from the first record (or drop ``results`` when the
    page is empty, since there is no record to break).
    """
    results = payload.get("results") or []
    if served_before % 2 == 0 or not results:
        return {key: value for key, value in payload.items() if key != "results"}
    broken = {key: value for key, value in results[0].items() if key != "id"}
    return {**payload, "results": [broken, *results[1:]]}


def corrupt_batch_read(payload: dict[str, Any], served_before: int) -> dict[str, Any]:
    """Break a batch read answer the way ``Faults.malformed_batch_read_next`` promises (an
    answer without records is left whole: there is nothing to break)."""
    results = payload.get("results") or []
    if not results:
        return payload
    first = dict(results[0])
    if served_before % 2 == 0:
        first["properties"] = list(first.get("properties") or {})
    else:
        del first["id"]
    return {**payload, "results": [first, *results[1:]]}


_FIELD_TYPES: dict[str, Any] = get_type_hints(Faults)
