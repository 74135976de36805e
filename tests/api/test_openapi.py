"""``/openapi.json``: it names exactly the routes the app serves, is valid OpenAPI, follows the
settings, and is served without auth. (That responses match it is the schemathesis tier's
job: ``test_schemathesis.py``.)"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openapi_spec_validator import validate

from proxy.api import console, openapi
from proxy.api.keys import SETTINGS
from proxy.app import create_app
from proxy.config import Settings
from tests.api.conftest import ClientFactory
from tests.conftest import make_settings

VARIANTS = {
    "defaults": {},
    "tokens and three object types": {
        "ADMIN_TOKEN": "a",
        "FEED_TOKEN": "f",
        "OBJECT_TYPES": "contacts,companies,deals",
    },
}


def settings_for(name: str) -> Settings:
    # Building the app opens nothing: the database is touched only when it starts.
    return make_settings("sqlite:///unused.db", **VARIANTS[name])


def routes(settings: Settings) -> set[tuple[str, str]]:
    app = create_app(settings, schedule=False)
    return {(route.method, route.resource.canonical) for route in app.router.routes()}


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_description_names_every_route_and_no_other(variant: str) -> None:
    settings = settings_for(variant)
    served = routes(settings)
    described = openapi.operations(openapi.build(settings))
    assert served - described == set(), "served but not described"
    assert described - served == set(), "described but not served"
    # Not vacuous: the feed paths follow OBJECT_TYPES, and aiohttp's HEAD routes are there.
    for object_type in settings.object_types:
        for path in (f"/{object_type}", f"/get_{object_type}"):
            assert {("GET", path), ("HEAD", path)} <= served
    assert ("GET", "/openapi.json") in served


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_description_is_valid_openapi(variant: str) -> None:
    document = openapi.build(settings_for(variant))
    validate(document)  # raises, saying where, on anything that is not OpenAPI 3.1
    assert document["openapi"].startswith("3.1")


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path][method]
    return found


def test_the_feed_asks_for_a_token_only_while_feed_token_is_set() -> None:
    without = openapi.build(settings_for("defaults"))
    feed = operation(without, "get", "/contacts")
    assert feed["security"] == [] and "401" not in feed["responses"]
    with_token = openapi.build(settings_for("tokens and three object types"))
    for path in ("/deals", "/get_deals"):
        for method in ("get", "head"):
            feed = operation(with_token, method, path)
            assert feed["security"] == [{"feedToken": []}, {"feedBasic": []}]
            assert feed["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}


def test_admin_routes_name_the_configured_object_types() -> None:
    document = openapi.build(settings_for("tokens and three object types"))
    resync = operation(document, "post", "/admin/resync")
    assert resync["security"] == [{"adminToken": []}, {"adminBasic": []}, {"adminHeader": []}]
    (object_param,) = [p for p in resync["parameters"] if p["name"] == "object"]
    assert object_param["schema"]["enum"] == ["contacts", "companies", "deals"]
    assert object_param["required"]  # several types: the handler cannot pick one
    single = openapi.build(settings_for("defaults"))
    (object_param,) = [
        p for p in operation(single, "post", "/admin/resync")["parameters"] if p["name"] == "object"
    ]
    assert object_param["schema"]["enum"] == ["contacts"] and not object_param["required"]


def test_admin_routes_answer_only_403_while_admin_token_is_unset() -> None:
    disabled = openapi.build(settings_for("defaults"))
    enabled = openapi.build(settings_for("tokens and three object types"))
    admin_paths = [
        path
        for path in disabled["paths"]
        if path.startswith("/admin/") and path not in console.PUBLIC_PATHS
    ]
    assert len(admin_paths) == 10
    for path in console.PUBLIC_PATHS:  # the console's page and files hold no data
        assert enabled["paths"][path]["get"]["security"] == []
    for path in admin_paths:
        for method, off in disabled["paths"][path].items():
            on = enabled["paths"][path][method]
            assert off["security"] == [] and set(off["responses"]) == {"403", "413", "500"}
            assert on["security"] == [{"adminToken": []}, {"adminBasic": []}, {"adminHeader": []}]
            assert "401" in on["responses"] and "403" not in on["responses"]


def test_head_operations_describe_no_body() -> None:
    document = openapi.build(settings_for("defaults"))
    for path, item in document["paths"].items():
        if "get" in item:
            head = item["head"]
            assert set(head["responses"]) == set(item["get"]["responses"]), path
            assert all("content" not in r for r in head["responses"].values()), path


def test_run_records_are_described_field_for_field() -> None:
    """The run schema is read off RunRecord: every field, renamed as run_json renames it."""
    document = openapi.build(settings_for("defaults"))
    run = document["components"]["schemas"]["Run"]
    assert "object" in run["properties"] and "object_type" not in run["properties"]
    assert run["required"] == list(run["properties"])
    assert run["properties"]["finished_at"] == {
        "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]
    }


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_served_as_json_without_auth(make_client: ClientFactory) -> None:
    client = await make_client(ADMIN_TOKEN="a", FEED_TOKEN="f", OBJECT_TYPES="contacts,deals")
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    document = orjson.loads(await resp.read())
    settings = client.app[SETTINGS]  # type: ignore[index]
    assert document == orjson.loads(orjson.dumps(openapi.build(settings)))
    assert "/deals" in document["paths"]
