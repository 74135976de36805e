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
        ({"HOST": "300.1.1.1"}, "HOST: '300.1.1.1' is neither an IP address nor a host name"),
        ({"HOST": "my_host!"}, "HOST"),
        ({"HOST": ""}, "HOST"),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL: 'verbose' .*DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ({"HUBSPOT_BASE_URL": "api.hubapi.com"}, "HUBSPOT_BASE_URL: .*http:// or https://"),
        ({"HUBSPOT_BASE_URL": "ftp://api.hubapi.com"}, "HUBSPOT_BASE_URL"),
        ({"HUBSPOT_BASE_URL": "https://"}, "HUBSPOT_BASE_URL: .* names no host"),
        ({"FULL_SYNC_CRON": "every night"}, "FULL_SYNC_CRON: 'every night' is not a cron"),
        ({"VERIFY_SYNC_CRON": "0 4 * * 9"}, "VERIFY_SYNC_CRON"),
        ({"RUN_RETENTION_DAYS": "-1"}, "RUN_RETENTION_DAYS"),
        ({"FEED_TOKEN": ""}, "FEED_TOKEN: set but blank"),
        ({"FEED_TOKEN": "   "}, "FEED_TOKEN: set but blank"),
        ({"ADMIN_TOKEN": ""}, "ADMIN_TOKEN: set but blank"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "127.0.0.1", "::", "::1", "[::1]", "localhost", "db-1.example.net."]
)
def test_hosts_that_are_addresses_or_names_are_taken(host: str) -> None:
    assert load_settings(env={"HOST": host}).host == host


def test_log_levels_in_any_case_and_schemes_of_the_base_url() -> None:
    settings = load_settings(env={"LOG_LEVEL": "debug", "HUBSPOT_BASE_URL": "http://127.0.0.1:1"})
    assert settings.log_level == "debug"
    assert settings.run_retention_days == 30


def test_database_url_parameters_named_like_secrets_are_masked() -> None:
    url = (
        "postgresql://svc:pw@db/mirror?sslmode=verify-full&password=qsecret"
        "&sslkey=/run/keys/client.key&sslpassword=keypass&application_name=change-proxy"
    )
    shown = redact_url(url)
    assert shown == (
        "postgresql://svc:***@db/mirror?sslmode=verify-full&password=***"
        "&sslkey=***&sslpassword=***&application_name=change-proxy"
    )
    assert (
        redact_url("postgresql://svc@db/m?password=p%40ss") == "postgresql://svc@db/m?password=***"
    )
    settings = load_settings(env={"DATABASE_URL": url})
    assert "qsecret" not in repr(settings) and "client.key" not in repr(settings)


def test_a_password_given_as_a_parameter_is_scrubbed_from_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_settings(
        env={"DATABASE_URL": "postgresql://svc@db/mirror?password=p%40ss-word&sslkey=/k/c.key"}
    )
    logger = logging.getLogger("test.scrub.param")
    logger.addFilter(SecretScrubber(secret_values(settings)))
    with caplog.at_level(logging.INFO, logger="test.scrub.param"):
        # A driver's error may echo the parameter as written or decoded.
        logger.info("connect failed: password=p%%40ss-word, p@ss-word; key %s", "/k/c.key")
    assert "ss-word" not in caplog.text and "c.key" not in caplog.text


def test_a_short_secret_is_scrubbed_too(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(
        env={"ADMIN_TOKEN": "x9q", "DATABASE_URL": "postgresql://svc:pw1@db/mirror"}
    )
    logger = logging.getLogger("test.scrub.short")
    logger.addFilter(SecretScrubber(secret_values(settings)))
    with caplog.at_level(logging.INFO, logger="test.scrub.short"):
        logger.info("token x9q, password pw1")
    assert "x9q" not in caplog.text and "pw1" not in caplog.text


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
