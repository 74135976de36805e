"""``POST /crm/v3/objects/{type}/search`` as plain functions: parse, filter, sort, page.

Request body (HubSpot's shape; see ``reference/hubspot-api.md`` A2)::

    {"filterGroups": [{"filters": [{"propertyName": ..., "operator": ..., "value": ...}]}],
     "filters": [...],            # top-level form some clients send; one more OR group
     "sorts": [{"propertyName": ..., "direction": "ASCENDING" | "DESCENDING"}],
     "properties": [...], "limit": 10, "after": "0"}

Semantics:

* groups are OR-ed, filters inside a group AND-ed; no filters matches everything;
  at most 5 groups, 6 filters a group, 18 filters in all (HubSpot's current documented
  limits), otherwise 400;
* the type's modification property (``lastmodifieddate`` for contacts,
  ``hs_lastmodifieddate`` for the rest), ``createdate`` and ``hs_object_id`` (and any
  number/date property) compare numerically; date filter values are epoch-millisecond
  strings or ISO-8601; enumerations compare exactly, other strings case-insensitively;
* a record without a value fails EQ, LT, LTE, GT, GTE, BETWEEN and IN, and passes NEQ and
  NOT_IN; BETWEEN includes both ends;
* at most one sort; ties (and the default order) are by id ascending; records without a
  value for the sort property come last in either direction;
* ``limit`` is 1..200 (default 10), anything else 400; ``after`` is an integer offset;
* CONTAINS_TOKEN is simplified to "some word of the value matches the ``*`` pattern".

Not modelled: free-text ``query`` (answers 400 rather than being silently ignored),
``associations.*`` pseudo-properties, and the 3,000-character request limit.

The 10,000-result cap (``Faults.search_result_cap``), exactly:

* ``total`` is always the true number of matches, even above the cap;
* a request with ``after >= cap`` answers 400 VALIDATION_ERROR;
* otherwise the page is ``matches[after : min(after + limit, cap)]``, so a page that would
  cross the cap is cut short at it;
* ``paging.next.after`` is ``after + len(page)`` whenever more matches exist beyond the page,
  *even when that offset is the cap*. A client that blindly follows ``paging.next`` past the
  10,000th result therefore gets the 400, as clients of the real API report; it has to
  notice the cap itself and narrow its filter (e.g. ``hs_object_id`` GT the last id seen).
"""

from __future__ import annotations

import fnmatch
import operator
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from .catalogue import NUMERIC_TYPES
from .clock import ms_from_iso

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from .store import StoredRecord

DEFAULT_LIMIT: Final = 10
MAX_LIMIT: Final = 200
MAX_FILTER_GROUPS: Final = 5
MAX_FILTERS_PER_GROUP: Final = 6
MAX_FILTERS_TOTAL: Final = 18

OPERATORS: Final = frozenset(
    {
        "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN",
        "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN",
    }
)  # fmt: skip

# A comparable form of a property value: numbers for numeric types, normalised text otherwise.
Comparable: TypeAlias = int | float | str
Predicate: TypeAlias = "Callable[[StoredRecord], bool]"
ValueOf: TypeAlias = "Callable[[StoredRecord], Comparable | None]"
# Properties the record keeps as numbers that are never null, and the attribute holding each.
Attributes: TypeAlias = "Mapping[str, str]"


def numeric_attributes(modified_property: str) -> dict[str, str]:
    """The properties of a type whose records hold them as never-null numbers: read without
    parsing, and never missing."""
    return {"hs_object_id": "id", modified_property: "updated_ms", "createdate": "created_ms"}


_ORDERINGS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "LT": operator.lt,
    "LTE": operator.le,
    "GT": operator.gt,
    "GTE": operator.ge,
}


class SearchValidationError(ValueError):
    """The request is not acceptable; the API answers 400 VALIDATION_ERROR with this text."""


@dataclass(frozen=True)
class Filter:
    property_name: str
    operator: str
    value: Any = None
    high_value: Any = None
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Sort:
    property_name: str
    descending: bool = False


@dataclass(frozen=True)
class SearchRequest:
    filter_groups: tuple[tuple[Filter, ...], ...]
    sort: Sort | None
    properties: tuple[str, ...] | None
    limit: int
    after: int


@dataclass(frozen=True)
class SearchPage:
    total: int
    results: list[StoredRecord]
    next_after: int | None


# --------------------------------------------------------------------------- parsing


def parse_search_request(body: object) -> SearchRequest:
    """Validate a decoded JSON body. Raises :class:`SearchValidationError`."""
    if not isinstance(body, dict):
        raise SearchValidationError("Request body must be a JSON object.")
    if body.get("query"):
        raise SearchValidationError("Free-text 'query' is not supported by the simulator.")
    groups = [_parse_group(g) for g in _list_field(body, "filterGroups")]
    if "filters" in body:
        groups.append(_parse_group({"filters": body["filters"]}))
    groups = [g for g in groups if g]
    if len(groups) > MAX_FILTER_GROUPS:
        raise SearchValidationError(f"At most {MAX_FILTER_GROUPS} filterGroups are allowed.")
    if any(len(g) > MAX_FILTERS_PER_GROUP for g in groups):
        raise SearchValidationError(f"At most {MAX_FILTERS_PER_GROUP} filters per group.")
    if sum(len(g) for g in groups) > MAX_FILTERS_TOTAL:
        raise SearchValidationError(f"At most {MAX_FILTERS_TOTAL} filters in all groups.")

    sorts = _list_field(body, "sorts")
    if len(sorts) > 1:
        raise SearchValidationError("Only one sort is allowed.")
    sort = _parse_sort(sorts[0]) if sorts else None

    properties = body.get("properties")
    if properties is not None and (
        not isinstance(properties, list) or not all(isinstance(p, str) for p in properties)
    ):
        raise SearchValidationError("properties must be a list of strings.")

    limit = _integer(body.get("limit", DEFAULT_LIMIT), "limit")
    if not 1 <= limit <= MAX_LIMIT:
        raise SearchValidationError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}.")
    after = _integer(body.get("after", 0), "after")
    if after < 0:
        raise SearchValidationError("after must not be negative.")
    return SearchRequest(
        filter_groups=tuple(groups),
        sort=sort,
        properties=None if properties is None else tuple(properties),
        limit=limit,
        after=after,
    )


def _list_field(body: Mapping[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise SearchValidationError(f"{key} must be a list.")
    return value


def _parse_group(group: object) -> tuple[Filter, ...]:
    if not isinstance(group, dict):
        raise SearchValidationError("Each filter group must be an object with 'filters'.")
    return tuple(_parse_filter(f) for f in _list_field(group, "filters"))


def _parse_filter(raw: object) -> Filter:
    if not isinstance(raw, dict):
        raise SearchValidationError("Each filter must be an object.")
    name, operator = raw.get("propertyName"), raw.get("operator")
    if not isinstance(name, str) or not name:
        raise SearchValidationError("A filter needs a propertyName.")
    if operator not in OPERATORS:
        raise SearchValidationError(f"Unknown filter operator {operator!r}.")
    values = raw.get("values")
    if operator in ("IN", "NOT_IN"):
        if not isinstance(values, list) or not values:
            raise SearchValidationError(f"{operator} needs a non-empty 'values' list.")
    elif operator == "BETWEEN":
        if raw.get("value") is None or raw.get("highValue") is None:
            raise SearchValidationError("BETWEEN needs 'value' and 'highValue'.")
    elif operator not in ("HAS_PROPERTY", "NOT_HAS_PROPERTY") and raw.get("value") is None:
        raise SearchValidationError(f"{operator} needs a 'value'.")
    return Filter(name, operator, raw.get("value"), raw.get("highValue"), tuple(values or ()))


def _parse_sort(raw: object) -> Sort:
    if not isinstance(raw, dict) or not isinstance(raw.get("propertyName"), str):
        raise SearchValidationError("A sort must be an object with a propertyName.")
    direction = raw.get("direction", "ASCENDING")
    if direction not in ("ASCENDING", "DESCENDING"):
        raise SearchValidationError(f"Unknown sort direction {direction!r}.")
    return Sort(raw["propertyName"], descending=direction == "DESCENDING")


def _integer(value: object, field: str) -> int:
    # JSON booleans are ints in Python; HubSpot would not take them as numbers.
    if isinstance(value, bool):
        raise SearchValidationError(f"{field} must be an integer.")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise SearchValidationError(f"{field} must be an integer, got {value!r}.")


# --------------------------------------------------------------------------- running


def run_search(
    candidates: Sequence[StoredRecord],
    request: SearchRequest,
    *,
    property_types: Mapping[str, str],
    result_cap: int,
    modified_property: str = "lastmodifieddate",
) -> SearchPage:
    """Filter ``candidates`` (already in id order, archived and unindexed ones removed),
    sort and cut out the requested page. ``modified_property`` is the type's modification
    property. Raises :class:`SearchValidationError`."""
    attributes = numeric_attributes(modified_property)
    if request.after >= result_cap:
        raise SearchValidationError(
            f"Paging beyond {result_cap} results is not supported; narrow the filters."
        )
    groups = [
        [
            _compile_filter(f, property_types.get(f.property_name, "string"), attributes)
            for f in group
        ]
        for group in request.filter_groups
    ]
    matches = _matching(candidates, groups) if groups else list(candidates)
    if request.sort is not None:
        matches = _sorted(matches, request.sort, property_types, attributes)

    end = min(request.after + request.limit, result_cap)
    page = matches[request.after : end]
    consumed = request.after + len(page)
    return SearchPage(
        total=len(matches),
        results=page,
        next_after=consumed if consumed < len(matches) else None,
    )


def _matching(
    candidates: Sequence[StoredRecord], groups: list[list[Predicate]]
) -> list[StoredRecord]:
    """Candidates passing every filter of at least one group, still in id order."""

    # Narrowing with one filter at a time keeps the per-record loop in C (filter/list),
    # which matters when a benchmark searches 100,000 records.
    def all_of(predicates: list[Predicate]) -> list[StoredRecord]:
        matches = list(candidates)
        for predicate in predicates:
            matches = list(filter(predicate, matches))
        return matches

    if len(groups) == 1:
        return all_of(groups[0])
    wanted = {contact.id for group in groups for contact in all_of(group)}
    return [contact for contact in candidates if contact.id in wanted]


def _sorted(
    matches: list[StoredRecord],
    sort: Sort,
    property_types: Mapping[str, str],
    attributes: Attributes,
) -> list[StoredRecord]:
    attribute = attributes.get(sort.property_name)
    if sort.property_name == "hs_object_id":
        return matches[::-1] if sort.descending else matches  # already in id order
    if attribute is not None:  # never null
        # Python's sort is stable with reverse=True too, so equal values keep id order.
        return sorted(matches, key=operator.attrgetter(attribute), reverse=sort.descending)
    value_of = _value_getter(
        sort.property_name, property_types.get(sort.property_name, "string"), attributes
    )
    present: list[tuple[Comparable, StoredRecord]] = []
    missing: list[StoredRecord] = []
    for contact in matches:
        value = value_of(contact)
        if value is None:
            missing.append(contact)
        else:
            present.append((value, contact))
    present.sort(key=operator.itemgetter(0), reverse=sort.descending)
    return [contact for _, contact in present] + missing


def _value_getter(name: str, type_: str, attributes: Attributes) -> ValueOf:
    """How to read a property of a stored record in comparable form."""
    attribute = attributes.get(name)
    if attribute is not None:
        getter: ValueOf = operator.attrgetter(attribute)
        return getter

    def read(contact: StoredRecord) -> Comparable | None:
        raw = contact.properties.get(name)
        if raw is None or raw == "":
            return None
        try:
            return _comparable(raw, type_)
        except SearchValidationError:
            return None  # a stored value search cannot interpret matches nothing

    return read


def _comparable(raw: object, type_: str) -> Comparable:
    """A filter or record value in the form search compares for a property of ``type_``."""
    text = str(raw).strip()
    if type_ in NUMERIC_TYPES:
        try:
            return float(text)
        except ValueError:
            pass
        if type_ != "number":
            try:
                return float(ms_from_iso(text))
            except ValueError:
                pass
        raise SearchValidationError(f"{raw!r} is not a valid {type_} value.")
    if type_ == "enumeration":
        return text
    return text.casefold()


def _compile_filter(f: Filter, type_: str, attributes: Attributes) -> Predicate:
    value_of = _value_getter(f.property_name, type_, attributes)
    op = f.operator
    if op == "HAS_PROPERTY":
        return lambda c: value_of(c) is not None
    if op == "NOT_HAS_PROPERTY":
        return lambda c: value_of(c) is None
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        return _token_predicate(f, value_of, negate=op == "NOT_CONTAINS_TOKEN")
    if op in ("IN", "NOT_IN"):
        wanted = {_comparable(v, type_) for v in f.values}
        if op == "IN":
            return lambda c: value_of(c) in wanted
        return lambda c: value_of(c) not in wanted
    low = _comparable(f.value, type_)
    if op == "BETWEEN":
        high = _comparable(f.high_value, type_)
        return lambda c: _between(value_of(c), low, high)
    return _comparison(op, value_of, low, nullable=f.property_name not in attributes)


def _between(value: Comparable | None, low: Comparable, high: Comparable) -> bool:
    # One property's values always share one comparable type, so mixed compares can't happen.
    return value is not None and low <= value <= high  # type: ignore[operator]


def _comparison(op: str, value_of: ValueOf, target: Comparable, *, nullable: bool) -> Predicate:
    if op == "EQ":
        return lambda c: value_of(c) == target
    if op == "NEQ":
        return lambda c: value_of(c) != target
    ordering = _ORDERINGS[op]
    if not nullable:  # the hot path of incremental syncs: a window on lastmodifieddate
        return lambda c: ordering(value_of(c), target)

    def compare(contact: StoredRecord) -> bool:
        value = value_of(contact)
        return value is not None and ordering(value, target)

    return compare


def _token_predicate(f: Filter, value_of: ValueOf, *, negate: bool) -> Predicate:
    """Simplified CONTAINS_TOKEN: some word of the value matches the (``*``-wildcard) token."""
    pattern = str(f.value).casefold()

    def contains(contact: StoredRecord) -> bool:
        value = value_of(contact)
        words = re.split(r"[\s@.,;]+", str(value).casefold()) if value is not None else []
        return any(fnmatch.fnmatchcase(word, pattern) for word in words) != negate

    return contains
