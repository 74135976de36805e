"""The settings table: parsing, documentation, and secrets kept out of sight."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from proxy.cli import build_parser
from proxy.config import SETTINGS, load_settings, redact_url
from proxy.errors import ConfigError
from proxy.logs import SecretScrubber, secret_values

README = Path(__file__).parents[2] / "README.md"


def test_defaults_come_from_the_table() -> None:
    settings = load_settings(env={})
    for s in SETTINGS:
        expected = None if s.default is None else s.parse(s.default)
        assert getattr(settings, s.attr) == expected, s.name


def test_environment_then_flags() -> None:
    settings = load_settings(
        env={"PORT": "8080", "OBJECT_TYPES": "contacts, companies", "IGNORE_PROPERTIES": ""},
        overrides={"port": "9090"},
    )
    assert settings.port == 9090
    assert settings.object_types == ("contacts", "companies")
    assert settings.ignore_properties == ()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"SYNC_INTERVAL_SECONDS": "-1"}, "SYNC_INTERVAL_SECONDS"),
        ({"OBJECT_TYPES": "contacts,../etc"}, "OBJECT_TYPES"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env)


def test_every_setting_is_in_the_readme_table_and_serve_help() -> None:
    readme = README.read_text()
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)`", readme, flags=re.M))
    assert documented == {s.name for s in SETTINGS}
    help_text = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()  # type: ignore[union-attr]
    for s in SETTINGS:
        assert s.name in help_text and s.flag in help_text


def test_secrets_never_appear_in_redacted_settings() -> None:
    settings = load_settings(
        env={
            "HUBSPOT_ACCESS_TOKEN": "pat-na1-supersecret",
            "ADMIN_TOKEN": "admin-secret-value",
            "DATABASE_URL": "postgresql://svc:pgpassword@db/mirror",
        }
    )
    shown = repr(settings) + str(settings.redacted())
    for secret in ("pat-na1-supersecret", "admin-secret-value", "pgpassword"):
        assert secret not in shown
    assert "postgresql://svc:***@db/mirror" in shown
    assert redact_url("sqlite:///mirror.db") == "sqlite:///mirror.db"


def test_log_records_are_scrubbed_of_secret_values(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(
        env={
            "HUBSPOT_ACCESS_TOKEN": "pat-na1-supersecret",
            "DATABASE_URL": "postgresql://svc:pgpassword@db/mirror",
        }
    )
    logger = logging.getLogger("test.scrub")
    logger.addFilter(SecretScrubber(secret_values(settings)))
    with caplog.at_level(logging.INFO, logger="test.scrub"):
        logger.info("calling with %s and %s", "pat-na1-supersecret", "pgpassword")
    assert "supersecret" not in caplog.text and "pgpassword" not in caplog.text
    assert "***" in caplog.text


def test_the_startup_log_shows_the_database_url_but_its_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_settings(
        env={
            "HUBSPOT_ACCESS_TOKEN": "pat-na1-supersecret",
            "DATABASE_URL": "postgresql://svc:pgpassword@db.example.net:6543/mirror",
        }
    )
    logger = logging.getLogger("test.startup")
    logger.addFilter(SecretScrubber(secret_values(settings)))
    with caplog.at_level(logging.INFO, logger="test.startup"):
        logger.info("starting with settings %s", settings.redacted())
    assert "postgresql://svc:***@db.example.net:6543/mirror" in caplog.text
    assert "pgpassword" not in caplog.text and "supersecret" not in caplog.text
