"""The JSON of README's "Deploying in Sesam": what a reader pastes into Sesam must be valid,
use only settings this service has, keep secrets in ``$SECRET(...)``, and point the pipe at
a feed route the app serves, with properties Sesam documents.

The allow-lists below are Sesam's documented properties as collected in the research note
``sesam-json-pull.md`` (shared reference; its sources are Sesam's docs, datanav/docs @2b65c06):
§2.1 json source, §2.3 pipe and pump (scheduling, rescans, checkpointing), §1.4 pump read
retries, §2.4 dataset sink, §2.6 microservice system. Properties the note marks as
undocumented or UNCONFIRMED for these places (``completeness`` and ``initial_since_value`` on
the json source, ``updated_expression`` & co., which belong to the REST source) are left out
on purpose: the README must not recommend them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aiohttp import web

from proxy.api import feed
from proxy.app import create_app
from proxy.config import SETTINGS, load_settings

README = Path(__file__).parents[2] / "README.md"
SECTION = "## Deploying in Sesam"

# sesam-json-pull.md §2.1 (the json source's table) and §2.2 (continuation flags).
JSON_SOURCE_PROPERTIES = {
    "type",
    "system",
    "url",
    "supports_signalling",
    "page_size",
    "subset",
    "headers",
    "if_source_empty",
    "supports_since",
    "is_since_comparable",
    "is_chronological",
}
# §2.3 (checkpoint_interval, batch_size, disable_set_last_seen, enable_background_rescan are
# pipe settings there) plus the pipe's sections.
PIPE_PROPERTIES = {
    "_id",
    "type",
    "source",
    "sink",
    "pump",
    "checkpoint_interval",
    "batch_size",
    "disable_set_last_seen",
    "enable_background_rescan",
}
# §2.3 scheduling and rescans, §1.4 read retries.
PUMP_PROPERTIES = {
    "schedule_interval",
    "cron_expression",
    "rescan_run_count",
    "rescan_cron_expression",
    "partial_rescan_run_count",
    "partial_rescan_delta",
    "max_read_retries",
    "read_retry_delay",
}
# §2.4: the dataset sink's deletion tracking.
DATASET_SINK_PROPERTIES = {"type", "deletion_tracking", "mark_deletion_tracked"}
# §2.6: the microservice system (skip_pull and pull_image_cron_expression are named there
# without saying where they go, so the README only mentions them in prose).
SYSTEM_PROPERTIES = {
    "_id",
    "type",
    "docker",
    "use_https",
    "verify_ssl",
    "username",
    "password",
    "authentication",
    "connect_timeout",
    "read_timeout",
    "eager_load",
    "retry_strategy",
}
DOCKER_PROPERTIES = {"image", "port", "environment", "memory", "cpu_quota", "hosts"}

SECRET = re.compile(r"\$SECRET\([A-Za-z0-9_.-]+\)")
SECRET_SETTINGS = {s.name for s in SETTINGS if s.secret}


def section_text() -> str:
    text = README.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end != -1 else len(text)]


def json_blocks() -> list[str]:
    return re.findall(r"^```json\n(.*?)^```", section_text(), flags=re.M | re.S)


def configs() -> list[dict[str, Any]]:
    return [json.loads(block) for block in json_blocks()]


def of_type(kind: str) -> list[dict[str, Any]]:
    return [c for c in configs() if c.get("type") == kind]


def non_secret_env(system: dict[str, Any]) -> dict[str, str]:
    env = system["docker"].get("environment", {})
    return {k: v for k, v in env.items() if k not in SECRET_SETTINGS}


def feed_paths(object_types: tuple[str, ...]) -> set[str]:
    """The paths the feed registers, and only those (not /admin, /health, ...)."""
    app = web.Application()
    feed.add_routes(app, object_types)
    return routes(app)


def routes(app: web.Application) -> set[str]:
    return {r.resource.canonical for r in app.router.routes() if r.resource is not None}


def test_the_section_has_a_system_and_a_pipe_and_all_its_json_parses() -> None:
    blocks = json_blocks()
    assert blocks, "no ```json blocks in the Sesam section"
    for block in blocks:
        json.loads(block)  # a JSONDecodeError names the line
    assert len(of_type("system:microservice")) == 1
    assert of_type("pipe")
    assert {c.get("type") for c in configs()} <= {"system:microservice", "pipe"}


def test_the_system_runs_the_image_on_port_5000() -> None:
    (system,) = of_type("system:microservice")
    assert set(system) <= SYSTEM_PROPERTIES, set(system) - SYSTEM_PROPERTIES
    docker = system["docker"]
    assert set(docker) <= DOCKER_PROPERTIES, set(docker) - DOCKER_PROPERTIES
    image = docker["image"]
    assert isinstance(image, str) and image
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    assert tag and tag != "latest", "tag the image by version"
    assert docker["port"] == 5000
    memory = docker.get("memory")
    assert isinstance(memory, int) and not isinstance(memory, bool) and memory > 0  # MB


def test_every_environment_variable_is_a_setting_and_secrets_are_secret_references() -> None:
    (system,) = of_type("system:microservice")
    env = system["docker"]["environment"]
    names = {s.name for s in SETTINGS}
    assert set(env) <= names, f"not settings: {set(env) - names}"
    required = {s.name for s in SETTINGS if s.required}
    assert required <= set(env), f"required settings missing: {required - set(env)}"
    for name, value in env.items():
        assert isinstance(value, str), f"{name}: Sesam passes strings as they are"
        if name in SECRET_SETTINGS:
            assert SECRET.fullmatch(value), f"{name} must be a $SECRET(...) reference"
        else:
            assert "$SECRET(" not in value
    load_settings(env=non_secret_env(system))  # the plain values parse


def test_sesam_authenticates_with_the_feed_token_over_basic() -> None:
    (system,) = of_type("system:microservice")
    if "authentication" not in system:
        return
    assert system["authentication"] == "basic", "the service accepts Basic, not digest"
    assert SECRET.fullmatch(system["password"])
    assert system["password"] == system["docker"]["environment"]["FEED_TOKEN"]


def test_secrets_appear_only_in_system_config() -> None:
    for pipe in of_type("pipe"):
        assert "$SECRET(" not in json.dumps(pipe), "Sesam allows secrets only in systems"


def test_each_pipe_reads_a_feed_route_with_continuation() -> None:
    (system,) = of_type("system:microservice")
    for pipe in of_type("pipe"):
        check_pipe(pipe, system)


def check_pipe(pipe: dict[str, Any], system: dict[str, Any]) -> None:
    assert set(pipe) <= PIPE_PROPERTIES, set(pipe) - PIPE_PROPERTIES

    source = pipe["source"]
    assert set(source) <= JSON_SOURCE_PROPERTIES, set(source) - JSON_SOURCE_PROPERTIES
    assert source["type"] == "json"
    assert source["system"] == system["_id"]
    for flag in ("supports_since", "is_chronological", "is_since_comparable"):
        assert source[flag] is True, flag
    page_size = source.get("page_size")
    if page_size is not None:
        assert isinstance(page_size, int) and not isinstance(page_size, bool) and page_size > 0
    assert source.get("if_source_empty", "fail") == "fail"

    settings = load_settings(env=non_secret_env(system))
    paths = feed_paths(settings.object_types)
    assert paths <= routes(create_app(settings))
    assert "/" + source["url"].lstrip("/") in paths, f"{source['url']} is not a feed route"

    sink = pipe.get("sink", {"type": "dataset"})
    assert sink["type"] == "dataset"
    assert set(sink) <= DATASET_SINK_PROPERTIES, set(sink) - DATASET_SINK_PROPERTIES
    pump = pipe.get("pump", {})
    assert set(pump) <= PUMP_PROPERTIES, set(pump) - PUMP_PROPERTIES


def test_feed_paths_are_the_object_types_and_the_tutorial_urls() -> None:
    # The default OBJECT_TYPES serves exactly what the README names.
    assert feed_paths(load_settings(env={}).object_types) == {"/contacts", "/get_contacts"}
