"""Declarations: every key parses; TOML and JSON give the same; every error names the source
and the key and never a secret."""

from __future__ import annotations

import json
from typing import Any

import pytest

from proxy.errors import ConfigError
from proxy.sources.rest.declaration import (
    BasicAuth,
    CursorPaging,
    LinkHeaderPaging,
    NextLinkPaging,
    NonePaging,
    OAuth2Auth,
    OffsetPaging,
    PagePaging,
    parse_json,
    parse_toml,
    scrub,
)

ENV = {"SHOP_TOKEN": "tok-SECRET-1", "CLIENT_SECRET": "cs-SECRET-2", "USER": "ann"}

FULL_TOML = """
[sources.orders]
url = "https://api.example.com/v1/orders"
method = "POST"
body = { filter = { status = "any" }, owner = "${USER}" }
params = { per_page = "100", limit = 5, archived = false }
headers = { Authorization = "Bearer ${SHOP_TOKEN}" }
records = "data.items"
id = ["shop", "id"]
ignore = ["last_seen_at", "stats.views", "$['@odata.etag']"]
interval_seconds = 0
deletions = "absence"
item_url = "https://api.example.com/v1/orders/{id}"
deleted = { path = "status", equals = "cancelled" }
rate = { requests = 10, per_seconds = 1 }
timeout_seconds = 12.5

[sources.orders.pagination]
style = "cursor"
param = "start_cursor"
next = "next_cursor"
has_more = "has_more"
in = "body"
total = "meta.total"

[sources.orders.auth]
type = "oauth2"
token_url = "https://auth.example.com/token"
client_id = "me"
client_secret = "${CLIENT_SECRET}"
scope = "read"
grant = "refresh_token"
refresh_token = "${SHOP_TOKEN}"

[sources.orders.incremental]
param = "updated_since"
field = "updated_at"
format = "unix_ms"
overlap_seconds = 30
interval_seconds = 15
"""


def toml_of(name: str, table: dict[str, Any]) -> str:
    """A one-source TOML document, written through JSON values (TOML's inline syntax takes
    JSON strings, numbers and arrays; tables are spelt as dotted keys)."""
    lines = [f"[sources.{json.dumps(name)}]"]

    def emit(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                emit(f"{prefix}.{json.dumps(k)}" if prefix else json.dumps(k), v)
        else:
            lines.append(f"{prefix} = {'{}' if value == {} else json.dumps(value)}")

    emit("", table)
    return "\n".join(lines)


def both(name: str, table: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    """Parse ``table`` as TOML and as JSON; they must agree (value or error)."""
    env = ENV if env is None else env
    results = []
    for parse, text in (
        (parse_toml, toml_of(name, table)),
        (parse_json, json.dumps({name: table})),
    ):
        try:
            results.append(parse(text, env)[name])
        except ConfigError as exc:
            results.append(exc)
    toml_result, json_result = results
    if isinstance(toml_result, ConfigError):
        assert isinstance(json_result, ConfigError), json_result
        assert str(toml_result) == str(json_result)
        raise toml_result
    assert toml_result == json_result
    return toml_result


def error(name: str, table: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        both(name, table, env)
    message = str(info.value)
    for secret in ENV.values():
        if secret != "ann":
            assert secret not in message
    return message


def test_every_key_parses() -> None:
    source = parse_toml(FULL_TOML, ENV)["orders"]
    spec = source.spec
    assert spec.url == "https://api.example.com/v1/orders"
    assert spec.method == "POST"
    assert spec.body == {"filter": {"status": "any"}, "owner": "ann"}
    assert spec.query == {"per_page": "100", "limit": "5", "archived": "false"}
    assert spec.headers == {"Authorization": "Bearer tok-SECRET-1"}
    assert spec.records == "data.items"
    assert spec.id_paths == ("shop", "id")
    assert spec.ignore == ["last_seen_at", "stats.views", "$['@odata.etag']"]
    assert spec.interval_seconds == 0
    assert spec.pagination == CursorPaging(
        param="start_cursor",
        next="next_cursor",
        has_more="has_more",
        in_="body",
        total="meta.total",
    )
    assert spec.auth == OAuth2Auth(
        token_url="https://auth.example.com/token",
        client_id="me",
        client_secret="cs-SECRET-2",
        scope="read",
        grant="refresh_token",
        refresh_token="tok-SECRET-1",
    )
    assert spec.item_url == "https://api.example.com/v1/orders/{id}"
    assert spec.deleted is not None and spec.deleted.equals == "cancelled"
    assert spec.rate is not None and (spec.rate.requests, spec.rate.per_seconds) == (10, 1)
    assert spec.timeout_seconds == 12.5
    assert spec.incremental is not None
    assert spec.incremental.format == "unix_ms" and spec.incremental.overlap_seconds == 30
    # Every value that came from the environment is a secret, and only those.
    assert source.secrets == {"tok-SECRET-1", "cs-SECRET-2", "ann"}
    assert source.scrub("x tok-SECRET-1 y") == "x *** y"


def test_defaults() -> None:
    spec = both("a", {"url": "https://x.test/a"}).spec
    assert spec.method == "GET" and spec.records == "" and spec.id_paths == ("id",)
    assert spec.interval_seconds == 300 and spec.pagination == NonePaging()
    assert spec.deletions == "absence" and spec.auth is None and spec.timeout_seconds == 60


def test_toml_and_json_agree_on_the_full_example() -> None:
    toml_source = parse_toml(FULL_TOML, ENV)["orders"]
    import tomllib

    as_json = json.dumps(tomllib.loads(FULL_TOML)["sources"])
    assert parse_json(as_json, ENV)["orders"] == toml_source


@pytest.mark.parametrize(
    ("pagination", "expected"),
    [
        ({"style": "none"}, NonePaging()),
        ({"style": "next_link", "next": "links.next"}, NextLinkPaging(next="links.next")),
        ({"style": "link_header", "total": "count"}, LinkHeaderPaging(total="count")),
        (
            {"style": "cursor", "param": "starting_after", "from_record": "id"},
            CursorPaging(param="starting_after", from_record="id"),
        ),
        (
            {"style": "page", "param": "page", "start": 0, "size_param": "n", "size": 50},
            PagePaging(param="page", start=0, size_param="n", size=50),
        ),
        (
            {"style": "offset", "param": "offset", "size_param": "limit", "size": 100},
            OffsetPaging(param="offset", size_param="limit", size=100),
        ),
    ],
)
def test_every_pagination_style(pagination: dict[str, Any], expected: Any) -> None:
    spec = both("s", {"url": "https://x.test/", "pagination": pagination}).spec
    assert spec.pagination == expected


def test_basic_auth_and_client_credentials_default() -> None:
    spec = both(
        "s", {"url": "https://x.test/", "auth": {"type": "basic", "username": "u", "password": "p"}}
    ).spec
    assert spec.auth == BasicAuth(username="u", password="p")
    oauth = {
        "type": "oauth2",
        "token_url": "https://t.test/",
        "client_id": "c",
        "client_secret": "s",
    }
    spec = both("s", {"url": "https://x.test/", "auth": oauth}).spec
    assert isinstance(spec.auth, OAuth2Auth) and spec.auth.grant == "client_credentials"


URL = {"url": "https://x.test/a"}


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            {**URL, "pagination": {"style": "cursors"}},
            "sources.orders.pagination.style: unknown style 'cursors' "
            "(none, next_link, link_header, cursor, page, offset)",
        ),
        ({**URL, "pagination": {}}, "sources.orders.pagination.style: required"),
        (
            {**URL, "pagination": {"style": "next_link"}},
            "sources.orders.pagination.next: required",
        ),
        (
            {**URL, "pagination": {"style": "page", "param": "p", "size": 0}},
            "sources.orders.pagination.size: expected `int` >= 1",
        ),
        (
            {**URL, "pagination": {"style": "offset", "param": "o", "size": 10}},
            "sources.orders.pagination.size_param: required",
        ),
        (
            {**URL, "pagination": {"style": "cursor", "param": "c"}},
            "sources.orders.pagination: a cursor needs exactly one of next or from_record",
        ),
        (
            {**URL, "pagination": {"style": "cursor", "param": "c", "next": "n", "in": "body"}},
            'sources.orders.pagination.in: a cursor in the body needs method = "POST"',
        ),
        (
            {**URL, "pagination": {"style": "cursor", "param": "c", "next": "n", "in": "path"}},
            "sources.orders.pagination.in: unknown value 'path' (query, body)",
        ),
        (
            {**URL, "pagination": {"style": "none", "nxt": "a"}},
            "sources.orders.pagination.nxt: unknown key",
        ),
        ({**URL, "recrods": "data"}, "sources.orders.recrods: unknown key"),
        ({"records": "data"}, "sources.orders.url: required"),
        ({"url": "ftp://x"}, "sources.orders.url: must be an http:// or https:// URL"),
        ({**URL, "method": "PUT"}, "sources.orders.method: unknown method 'PUT' (GET, POST)"),
        ({**URL, "body": {"a": 1}}, 'sources.orders.body: a body needs method = "POST"'),
        (
            {**URL, "params": {"a": [1]}},
            "sources.orders.params: expected `bool | int | float | str`, got `array`",
        ),
        ({**URL, "headers": {"A": 1}}, "sources.orders.headers: expected `str`, got `int`"),
        ({**URL, "records": 3}, "sources.orders.records: expected `str`, got `int`"),
        ({**URL, "id": [1]}, "sources.orders.id[0]: expected `str`, got `int`"),
        ({**URL, "id": []}, "sources.orders.id: give a path (or a list of paths) to the id"),
        ({**URL, "id": "a..b"}, "sources.orders.id: 'a..b' has an empty segment"),
        ({**URL, "records": "$[[["}, "sources.orders.records: not a JSONPath: '$[[['"),
        ({**URL, "ignore": "a"}, "sources.orders.ignore: expected `array`, got `str`"),
        ({**URL, "interval_seconds": -1}, "sources.orders.interval_seconds: expected `float` >= 0"),
        (
            {**URL, "auth": {"type": "bearer"}},
            "sources.orders.auth.type: unknown type 'bearer' (basic, oauth2)",
        ),
        (
            {**URL, "auth": {"type": "basic", "username": "u"}},
            "sources.orders.auth.password: required",
        ),
        (
            {
                **URL,
                "auth": {
                    "type": "oauth2",
                    "token_url": "https://t/",
                    "client_id": "c",
                    "client_secret": "s",
                    "grant": "password",
                },
            },
            "sources.orders.auth.grant: unknown grant 'password' "
            "(client_credentials, refresh_token)",
        ),
        (
            {
                **URL,
                "auth": {
                    "type": "oauth2",
                    "token_url": "https://t/",
                    "client_id": "c",
                    "client_secret": "s",
                    "grant": "refresh_token",
                },
            },
            'sources.orders.auth.refresh_token: required by grant = "refresh_token"',
        ),
        (
            {
                **URL,
                "auth": {
                    "type": "oauth2",
                    "token_url": "t",
                    "client_id": "c",
                    "client_secret": "s",
                },
            },
            "sources.orders.auth.token_url: must be an http:// or https:// URL",
        ),
        (
            {**URL, "deletions": "soft"},
            "sources.orders.deletions: unknown value 'soft' (absence, never)",
        ),
        ({**URL, "item_url": "https://x.test/a"}, "sources.orders.item_url: must contain {id}"),
        (
            {**URL, "deletions": "never", "item_url": "https://x.test/{id}"},
            "sources.orders.item_url: confirms absences",
        ),
        ({**URL, "deleted": {"path": "s"}}, "sources.orders.deleted.equals: required"),
        (
            {**URL, "rate": {"requests": 0, "per_seconds": 1}},
            "sources.orders.rate.requests: expected `int` >= 1",
        ),
        ({**URL, "rate": {"requests": 1}}, "sources.orders.rate.per_seconds: required"),
        ({**URL, "timeout_seconds": 0}, "sources.orders.timeout_seconds: expected `float` > 0"),
        ({**URL, "incremental": {"field": "u"}}, "sources.orders.incremental.param: required"),
        (
            {**URL, "incremental": {"param": "p", "format": "rfc"}},
            "sources.orders.incremental.format: unknown format 'rfc' (iso8601, unix, unix_ms)",
        ),
        (
            {**URL, "pagination": {"style": "next_link", "next": "a..b"}},
            "sources.orders.pagination.next: 'a..b' has an empty segment",
        ),
        (
            {**URL, "deleted": {"path": "$[[", "equals": 1}},
            "sources.orders.deleted.path: not a JSONPath",
        ),
    ],
)
def test_errors_name_the_source_and_the_key(table: dict[str, Any], expected: str) -> None:
    assert error("orders", table).startswith(expected)


def test_a_missing_variable_names_source_key_and_variable() -> None:
    table = {**URL, "headers": {"Authorization": "Bearer ${NOPE}"}}
    assert error("orders", table) == (
        "sources.orders.headers.Authorization: environment variable NOPE is not set"
    )
    nested = {**URL, "method": "POST", "body": {"a": [{"b": "${NOPE}"}]}}
    with pytest.raises(ConfigError, match=r"^sources\.orders\.body\.a\[0\]\.b: environment"):
        parse_json(json.dumps({"orders": nested}), ENV)


def test_a_secret_never_reaches_an_error() -> None:
    # A secret in a key whose value an error would quote, and beside a bad key.
    message = error("orders", {**URL, "method": "${SHOP_TOKEN}"})
    assert message == "sources.orders.method: unknown method '***' (GET, POST)"
    message = error(
        "orders", {**URL, "deletions": "${CLIENT_SECRET}", "headers": {"A": "${SHOP_TOKEN}"}}
    )
    assert "***" in message
    message = error(
        "orders", {"url": "https://x.test/${SHOP_TOKEN}", "item_url": "https://x/${SHOP_TOKEN}"}
    )
    assert message == "sources.orders.item_url: must contain {id}"


@pytest.mark.parametrize("name", ["Orders", "or ders", "ord/ers", "", "ørders"])
def test_bad_names(name: str) -> None:
    message = error(name, URL)
    assert message.startswith(f"sources.{name!r}: a source's name is its feed path")


def test_good_names_and_many_sources() -> None:
    text = json.dumps({"a-1": URL, "b_2": {**URL, "records": "data"}})
    assert sorted(parse_json(text, {})) == ["a-1", "b_2"]


def test_whole_document_errors() -> None:
    with pytest.raises(ConfigError, match=r"^SOURCES_FILE: not valid TOML"):
        parse_toml("[sources.a\nurl=", {})
    with pytest.raises(ConfigError, match=r"^SOURCES_FILE: unknown top-level key 'source'"):
        parse_toml('[source.a]\nurl = "https://x"', {})
    with pytest.raises(ConfigError, match=r"^SOURCES: not valid JSON"):
        parse_json("{", {})
    with pytest.raises(ConfigError, match=r"^SOURCES: expected a table of sources by name"):
        parse_json("[1]", {})
    with pytest.raises(ConfigError, match=r"^sources.a: must be a table of keys"):
        parse_json('{"a": "https://x"}', {})
    assert parse_toml("", {}) == {}


def test_scrub_hides_the_longer_secret_whole() -> None:
    assert scrub("abc abcdef", frozenset({"abc", "abcdef"})) == "*** ***"
