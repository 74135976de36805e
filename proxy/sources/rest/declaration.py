"""A declared REST source: the ``[sources.NAME]`` table a user writes, parsed and checked.

The keys are issue 17's contract (the README's "Any JSON API" section). Declarations come
from TOML (``SOURCES_FILE``: one ``[sources.NAME]`` table each) or JSON (``SOURCES``:
``{"NAME": {...}}``); both give the same :class:`DeclaredSource`. The shape is checked by
msgspec (unknown keys refused, ``pagination`` told apart by ``style`` and ``auth`` by
``type``); what msgspec cannot say (a cursor needs ``next`` or ``from_record``, a cursor in
the body needs POST) is checked after it. Every error is one :class:`ConfigError` whose
message starts with the key (``sources.orders.pagination.style: ...``) and never holds a
value that came from the environment.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
import orjson

from proxy.errors import ConfigError
from proxy.sources.rest.paths import compile_path

NAME_RE = re.compile(r"^[a-z0-9_-]+$")
VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

Positive = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
Scalar = str | int | float | bool


class _Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Every table: unknown keys are errors (a typo must not be a silent default)."""


class _Paging(_Strict, tag_field="style", frozen=True, kw_only=True):
    total: str | None = None  # path to the API's count of all records


class NonePaging(_Paging, tag="none", kw_only=True, frozen=True):
    """One response holds every record."""


class NextLinkPaging(_Paging, tag="next_link", kw_only=True, frozen=True):
    next: str  # path to the next page's URL in the body


class LinkHeaderPaging(_Paging, tag="link_header", kw_only=True, frozen=True):
    """The RFC 8288 ``Link`` header's ``rel="next"``."""


class CursorPaging(_Paging, tag="cursor", kw_only=True, frozen=True):
    param: str
    next: str | None = None  # path to the next cursor in the body
    from_record: str | None = None  # or: path in the page's last record
    has_more: str | None = None  # path to a boolean; false ends the listing
    in_: Literal["query", "body"] = msgspec.field(default="query", name="in")


class PagePaging(_Paging, tag="page", kw_only=True, frozen=True):
    param: str
    start: NonNegativeInt = 1
    size_param: str | None = None
    size: PositiveInt | None = None
    total_pages: str | None = None


class OffsetPaging(_Paging, tag="offset", kw_only=True, frozen=True):
    param: str
    size_param: str
    size: PositiveInt


Pagination = (
    NonePaging | NextLinkPaging | LinkHeaderPaging | CursorPaging | PagePaging | OffsetPaging
)


class BasicAuth(_Strict, tag_field="type", tag="basic", frozen=True):
    username: str
    password: str


class OAuth2Auth(_Strict, tag_field="type", tag="oauth2", frozen=True):
    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None
    grant: Literal["client_credentials", "refresh_token"] = "client_credentials"
    refresh_token: str | None = None


Auth = BasicAuth | OAuth2Auth


class Deleted(_Strict, frozen=True):
    """A listed record whose ``path`` equals ``equals`` is a tombstone (soft deletion)."""

    path: str
    equals: Scalar


class Rate(_Strict, frozen=True):
    requests: PositiveInt
    per_seconds: Positive


class Incremental(_Strict, frozen=True):
    param: str
    field: str | None = None
    format: Literal["iso8601", "unix", "unix_ms"] = "iso8601"
    overlap_seconds: NonNegative = 60
    interval_seconds: NonNegative = 60


class Declaration(_Strict, frozen=True):
    """One ``[sources.NAME]`` table, as written (after ``${VAR}`` expansion)."""

    url: str
    method: Literal["GET", "POST"] = "GET"
    body: dict[str, Any] | None = None
    params: dict[str, Scalar] = msgspec.field(default_factory=dict)
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    records: str = ""
    id: str | list[str] = "id"
    ignore: list[str] = msgspec.field(default_factory=list)
    interval_seconds: NonNegative = 300
    pagination: Pagination = NonePaging()
    auth: Auth | None = None
    deletions: Literal["absence", "never"] = "absence"
    item_url: str | None = None
    deleted: Deleted | None = None
    rate: Rate | None = None
    timeout_seconds: Positive = 60
    incremental: Incremental | None = None

    @property
    def id_paths(self) -> tuple[str, ...]:
        return (self.id,) if isinstance(self.id, str) else tuple(self.id)

    @property
    def query(self) -> dict[str, str]:
        """``params`` as query text (TOML lets a user write ``per_page = 100``)."""
        return {k: _query_text(v) for k, v in self.params.items()}


def _query_text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class DeclaredSource:
    """A checked declaration, its name (the feed path) and the values it took from the
    environment (``secrets``: callers scrub them from anything they log or show)."""

    name: str
    spec: Declaration
    secrets: frozenset[str]

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets)


def scrub(text: str, secrets: frozenset[str]) -> str:
    """``text`` with every secret replaced by ``***`` (longest first, so a secret that
    contains another is hidden whole)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


# The keys with a fixed set of values, and the word an error uses for them.
_CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "pagination.style": (
        "style",
        ("none", "next_link", "link_header", "cursor", "page", "offset"),
    ),
    "auth.type": ("type", ("basic", "oauth2")),
    "auth.grant": ("grant", ("client_credentials", "refresh_token")),
    "method": ("method", ("GET", "POST")),
    "deletions": ("value", ("absence", "never")),
    "pagination.in": ("value", ("query", "body")),
    "incremental.format": ("format", ("iso8601", "unix", "unix_ms")),
}
_MSGSPEC_ERROR = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_FIELD = re.compile(r"`([^`]+)`")


def _expand(value: Any, env: Mapping[str, str], where: str, secrets: set[str]) -> Any:
    """``value`` with ``${VAR}`` replaced in every string, at any depth; each value taken
    from ``env`` is remembered as a secret."""
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            var = match.group(1)
            if var not in env:
                raise ConfigError(f"{where}: environment variable {var} is not set")
            if env[var]:
                secrets.add(env[var])
            return env[var]

        return VAR_RE.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v, env, f"{where}.{k}", secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, f"{where}[{i}]", secrets) for i, v in enumerate(value)]
    return value


def _translate(exc: msgspec.ValidationError, where: str) -> str:
    """msgspec's ``Expected `int`, got `str` - at `$.rate.requests``` in our words:
    ``sources.x.rate.requests: expected `int`, got `str```."""
    match = _MSGSPEC_ERROR.match(str(exc))
    assert match is not None  # the pattern matches any text
    what, path = match.group("what"), match.group("path") or ""
    # A dict's values are at `[...]`: the key that holds the dict is name enough.
    path = path.replace("[...]", "")
    key = f"{where}{path}"
    field = _FIELD.search(what)
    if what.startswith("Object contains unknown field") and field:
        return f"{key}.{field.group(1)}: unknown key"
    if what.startswith("Object missing required field") and field:
        return f"{key}.{field.group(1)}: required"
    choice = _CHOICES.get(path.lstrip("."))
    if choice and what.startswith(("Invalid value", "Invalid enum value")):
        word, allowed = choice
        given = what.split(" ", 3)[-1] if what.startswith("Invalid enum") else what[14:]
        return f"{key}: unknown {word} {given} ({', '.join(allowed)})"
    return f"{key}: {what[:1].lower()}{what[1:]}"


def path_keys(spec: Declaration) -> dict[str, str]:
    """Every key that holds a path, by its name in errors (``id[1]``, ``pagination.next``)."""
    keys: dict[str, str] = {"records": spec.records}
    if isinstance(spec.id, str):
        keys["id"] = spec.id
    else:
        keys.update({f"id[{i}]": p for i, p in enumerate(spec.id)})
    keys.update({f"ignore[{i}]": p for i, p in enumerate(spec.ignore)})
    for key in ("next", "from_record", "has_more", "total", "total_pages"):
        value = getattr(spec.pagination, key, None)
        if value is not None:
            keys[f"pagination.{key}"] = value
    if spec.deleted is not None:
        keys["deleted.path"] = spec.deleted.path
    if spec.incremental is not None and spec.incremental.field is not None:
        keys["incremental.field"] = spec.incremental.field
    return keys


def _check(spec: Declaration, where: str) -> None:
    """What the types cannot say."""
    for key, text in path_keys(spec).items():
        compile_path(text, f"{where}.{key}")
    if not spec.url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.url: must be an http:// or https:// URL")
    if spec.body is not None and spec.method != "POST":
        raise ConfigError(f'{where}.body: a body needs method = "POST"')
    if not spec.id_paths or any(p == "" for p in spec.id_paths):
        raise ConfigError(f"{where}.id: give a path (or a list of paths) to the id")
    paging = spec.pagination
    if isinstance(paging, CursorPaging):
        if (paging.next is None) == (paging.from_record is None):
            raise ConfigError(
                f"{where}.pagination: a cursor needs exactly one of next or from_record"
            )
        if paging.in_ == "body" and spec.method != "POST":
            raise ConfigError(f'{where}.pagination.in: a cursor in the body needs method = "POST"')
    if isinstance(spec.auth, OAuth2Auth):
        if spec.auth.grant == "refresh_token" and not spec.auth.refresh_token:
            raise ConfigError(f'{where}.auth.refresh_token: required by grant = "refresh_token"')
        if spec.auth.grant == "client_credentials" and spec.auth.refresh_token is not None:
            raise ConfigError(f'{where}.auth.refresh_token: only with grant = "refresh_token"')
        if not spec.auth.token_url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.auth.token_url: must be an http:// or https:// URL")
    if spec.item_url is not None and "{id}" not in spec.item_url:
        raise ConfigError(f"{where}.item_url: must contain {{id}}")
    if spec.item_url is not None and spec.deletions == "never":
        raise ConfigError(
            f'{where}.item_url: confirms absences, and deletions = "never" infers none'
        )


def parse_one(name: str, table: Any, env: Mapping[str, str]) -> DeclaredSource:
    """One source from its table (a dict from TOML or JSON)."""
    where = f"sources.{name}"
    if not NAME_RE.match(name):
        raise ConfigError(
            f"sources.{name!r}: a source's name is its feed path: lower-case letters, "
            "digits, _ and - only"
        )
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table of keys (url, records, id, ...)")
    secrets: set[str] = set()
    expanded = _expand(table, env, where, secrets)
    frozen = frozenset(secrets)
    try:
        spec = msgspec.convert(expanded, Declaration)
        _check(spec, where)
    except msgspec.ValidationError as exc:
        raise ConfigError(scrub(_translate(exc, where), frozen)) from None
    except ConfigError as exc:
        raise ConfigError(scrub(str(exc), frozen)) from None
    return DeclaredSource(name=name, spec=spec, secrets=frozen)


def _parse_all(sources: Any, env: Mapping[str, str], origin: str) -> dict[str, DeclaredSource]:
    if not isinstance(sources, dict):
        raise ConfigError(f"{origin}: expected a table of sources by name")
    return {name: parse_one(name, table, env) for name, table in sources.items()}


def parse_toml(
    text: str, env: Mapping[str, str], origin: str = "SOURCES_FILE"
) -> dict[str, DeclaredSource]:
    """Every ``[sources.NAME]`` table of a TOML document. ``origin`` names the document in
    errors about its whole (a syntax error, a key besides ``sources``)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from None
    extra = sorted(set(document) - {"sources"})
    if extra:
        raise ConfigError(
            f"{origin}: unknown top-level key {extra[0]!r} (declare each source as a "
            "[sources.NAME] table)"
        )
    return _parse_all(document.get("sources", {}), env, origin)


def parse_json(
    text: str | bytes, env: Mapping[str, str], origin: str = "SOURCES"
) -> dict[str, DeclaredSource]:
    """Every source of a JSON object ``{"NAME": {...}}`` (the ``SOURCES`` variable)."""
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{origin}: not valid JSON: {exc}") from None
    return _parse_all(document, env, origin)


__all__ = [
    "Auth",
    "BasicAuth",
    "CursorPaging",
    "Declaration",
    "DeclaredSource",
    "Deleted",
    "Incremental",
    "LinkHeaderPaging",
    "NextLinkPaging",
    "NonePaging",
    "OAuth2Auth",
    "OffsetPaging",
    "PagePaging",
    "Pagination",
    "Rate",
    "parse_json",
    "parse_one",
    "parse_toml",
    "path_keys",
    "scrub",
]
