"""The one settings table.

Every setting is declared once in ``SETTINGS`` (name, type, default, help). Values come from
the environment (Sesam passes them through the microservice system's ``docker.environment``)
and may be overridden by ``change-proxy serve`` flags. The environment is read here and
nowhere else.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from apscheduler.triggers.cron import CronTrigger

from proxy.errors import ConfigError

REDACTED = "***"


def _parse_int(raw: str) -> int:
    return int(raw.strip())


def _parse_float(raw: str) -> float:
    return float(raw.strip())


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _parse_str(raw: str) -> str:
    return raw.strip()


def _parse_optional_int(raw: str) -> int | None:
    return int(raw.strip()) if raw.strip() else None


class BadValue(ValueError):
    """A value that parses but makes no sense; its message says why."""


# HubSpot's standard object types by the other names its paths accept: singular names and
# object type ids. The mirror, the feed and the settings use the plural name.
STANDARD_OBJECT_TYPES: dict[str, str] = {
    "contacts": "contacts",
    "contact": "contacts",
    "0-1": "contacts",
    "companies": "companies",
    "company": "companies",
    "0-2": "companies",
    "deals": "deals",
    "deal": "deals",
    "0-3": "deals",
    "tickets": "tickets",
    "ticket": "tickets",
    "0-5": "tickets",
    "products": "products",
    "product": "products",
    "0-7": "products",
    "line_items": "line_items",
    "line_item": "line_items",
    "0-8": "line_items",
}


def is_type_id(name: str) -> bool:
    """A custom object's objectTypeId (``2-1234567``)."""
    kind, dash, number = name.partition("-")
    return bool(dash) and kind == "2" and number.isdigit()


def object_type_name(raw: str) -> str:
    """The canonical name of an object type as a user may write it: a standard type by any
    of its names, or a custom object by its name or object type id (``2-1234567``)."""
    name = raw.strip().lower()
    if name in STANDARD_OBJECT_TYPES:
        return STANDARD_OBJECT_TYPES[name]
    if is_type_id(name):
        return name
    if not name.isidentifier():
        raise BadValue(f"{raw!r} is neither a HubSpot object type name nor a type id")
    return name


def _parse_object_types(raw: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(object_type_name(part) for part in _parse_list(raw)))


def _parse_associations(raw: str) -> dict[str, tuple[str, ...]]:
    """``contacts=companies,deals;deals=contacts`` -> ``{"contacts": ("companies", "deals"),
    "deals": ("contacts",)}``."""
    out: dict[str, tuple[str, ...]] = {}
    for part in raw.split(";"):
        if not part.strip():
            continue
        source, eq, targets = part.partition("=")
        if not eq or not targets.strip():
            raise BadValue(f"{part.strip()!r} is not TYPE=TYPE[,TYPE...]")
        out[object_type_name(source)] = _parse_object_types(targets)
    return out


@dataclass(frozen=True)
class Setting:
    """One row of the settings table."""

    name: str  # environment variable name; the serve flag is its kebab-case lower form
    parse: Callable[[str], Any]
    default: str | None  # raw default as a user would write it; None means unset
    help: str
    secret: bool = False
    required: bool = False

    @property
    def attr(self) -> str:
        return self.name.lower()

    @property
    def flag(self) -> str:
        return "--" + self.name.lower().replace("_", "-")


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "HUBSPOT_ACCESS_TOKEN",
        _parse_str,
        None,
        "HubSpot private-app token, sent as 'Authorization: Bearer'; never logged (not needed "
        "when only declared sources are mirrored)",
        secret=True,
        required=True,
    ),
    Setting(
        "HUBSPOT_BASE_URL",
        _parse_str,
        "https://api.hubapi.com",
        "HubSpot API base URL; tests and the demo point it at the simulator",
    ),
    Setting(
        "DATABASE_URL",
        _parse_str,
        "sqlite:///mirror.db",
        "any SQLAlchemy URL; postgresql://user@host/db for Postgres",
        secret=True,  # may carry a password
    ),
    Setting("HOST", _parse_str, "0.0.0.0", "address the HTTP server binds"),
    Setting("PORT", _parse_int, "5000", "port the HTTP server listens on"),
    Setting(
        "OBJECT_TYPES",
        _parse_object_types,
        "contacts",
        "comma list of HubSpot object types (contacts, companies, deals, tickets, products, "
        "line_items, custom objects by name or 2-... id); each gets its own feed path, "
        "sequence, runs and schedule",
    ),
    Setting(
        "ASSOCIATIONS",
        _parse_associations,
        "",
        "associations to mirror with the records, e.g. contacts=companies,deals;deals=contacts "
        "(';' between object types, ',' between the types they point to); empty: none",
    ),
    Setting(
        "SYNC_INTERVAL_SECONDS",
        _parse_int,
        "60",
        "incremental sync period in seconds; 0 disables",
    ),
    Setting(
        "FULL_SYNC_CRON",
        _parse_str,
        "0 3 * * *",
        "cron expression, in UTC, for the full sync (the reconciliation: every id and "
        "modification time listed, what changed fetched, absences confirmed); empty disables",
    ),
    Setting(
        "VERIFY_SYNC_CRON",
        _parse_str,
        "0 4 * * 0",
        "cron expression, in UTC, for the verify sync (every record fetched and compared, "
        "associations included); empty disables",
    ),
    Setting(
        "DELETE_CHECK_SECONDS",
        _parse_int,
        "900",
        "period of the deletion check (archived listing and a live count) that brings "
        "archives and GDPR deletions to the feed between full syncs; 0 disables",
    ),
    Setting(
        "ADMIN_TOKEN",
        _parse_str,
        None,
        "token for /admin/* (Bearer, Basic password or X-Admin-Token); unset means admin "
        "routes answer 403",
        secret=True,
    ),
    Setting(
        "FEED_TOKEN",
        _parse_str,
        None,
        "when set, the feed requires this token too (Bearer, or the password of Basic auth, "
        "as a Sesam microservice system sends it)",
        secret=True,
    ),
    Setting(
        "IGNORE_PROPERTIES",
        _parse_list,
        "",
        "comma list of properties left out of change detection "
        "(calculated ones that tick by themselves)",
    ),
    Setting(
        "INCLUDE_PROPERTIES",
        _parse_list,
        "",
        "comma list of properties to mirror; empty means every property HubSpot defines",
    ),
    Setting(
        "EXCLUDE_PROPERTIES",
        _parse_list,
        "",
        "comma list of properties never fetched nor mirrored",
    ),
    Setting(
        "SEARCH_OVERLAP_SECONDS",
        _parse_int,
        "300",
        "incremental sync re-reads this much before its watermark (HubSpot's search lags writes)",
    ),
    Setting(
        "HUBSPOT_REQUESTS_PER_10S",
        _parse_int,
        "100",
        "request budget per rolling 10 s until HubSpot's rate-limit headers say otherwise",
    ),
    Setting(
        "HUBSPOT_SEARCH_PER_SECOND",
        _parse_int,
        "4",
        "search requests per second (HubSpot allows 5 per account)",
    ),
    Setting(
        "HUBSPOT_TIMEOUT_SECONDS",
        _parse_float,
        "60",
        "timeout of one HubSpot request",
    ),
    Setting(
        "HUBSPOT_MAX_TRIES",
        _parse_int,
        "5",
        "tries of one request on 5xx, timeouts and HTML bodies before the run fails",
    ),
    Setting(
        "HUBSPOT_BACKOFF_SECONDS",
        _parse_float,
        "1",
        "first retry delay; doubles per try, with jitter, capped at 60 s",
    ),
    Setting(
        "RUN_TIMEOUT_SECONDS",
        _parse_int,
        "21600",
        "a sync run that takes longer fails with that reason (a full one is retried)",
    ),
    Setting(
        "SYNC_STALE_SECONDS",
        _parse_optional_int,
        "",
        "/health answers 503 when no run that fetches records (full, verify, incremental) of "
        "an object type has succeeded for this long; "
        "empty: 10 x SYNC_INTERVAL_SECONDS but at least 900 (90000 when incremental sync is "
        "off); 0 disables the check",
    ),
    Setting(
        "LEASE_SECONDS",
        _parse_int,
        "20",
        "lifetime of the lease that lets one process sync an object type; when its holder "
        "dies another process takes over within about 1.25 x this",
    ),
    Setting(
        "MASS_DELETE_PERCENT",
        _parse_float,
        "10",
        "a full scan whose confirmed absences exceed this percentage of the live records "
        "(and 10 records) holds them until an operator confirms through the admin API",
    ),
    Setting(
        "SOURCES_FILE",
        _parse_str,
        None,
        "a TOML file declaring JSON APIs to mirror, one [sources.NAME] table each, each a "
        "feed at /NAME (the README's 'Any JSON API'); not with SOURCES",
    ),
    Setting(
        "SOURCES",
        _parse_str,
        None,
        'the same declarations as JSON ({"NAME": {...}}), for a Sesam system where no file '
        "can be mounted; name secrets in it as ${VAR}; not with SOURCES_FILE",
    ),
    Setting(
        "FEED_WRITE_TIMEOUT_SECONDS",
        _parse_float,
        "30",
        "a feed response that could not send a byte for this long (its reader stopped "
        "reading) is dropped and its slot freed",
    ),
    Setting(
        "RUN_RETENTION_DAYS",
        _parse_int,
        "30",
        "finished sync runs older than this many days are deleted from sync_runs (the last "
        "successful run of each mode and the runs of a scan in progress are kept); 0 keeps "
        "them all",
    ),
    Setting(
        "LOG_LEVEL",
        _parse_str,
        "INFO",
        "log level: DEBUG, INFO, WARNING, ERROR or CRITICAL; logs go to stdout",
    ),
)


@dataclass(frozen=True)
class Settings:
    """Parsed settings. Build with :func:`load_settings` (defaults live only in ``SETTINGS``);
    field names are the lower-case environment variable names."""

    hubspot_access_token: str | None
    hubspot_base_url: str
    database_url: str
    host: str
    port: int
    object_types: tuple[str, ...]
    associations: Mapping[str, tuple[str, ...]]
    sync_interval_seconds: int
    full_sync_cron: str
    verify_sync_cron: str
    delete_check_seconds: int
    admin_token: str | None
    feed_token: str | None
    ignore_properties: tuple[str, ...]
    include_properties: tuple[str, ...]
    exclude_properties: tuple[str, ...]
    search_overlap_seconds: int
    hubspot_requests_per_10s: int
    hubspot_search_per_second: int
    hubspot_timeout_seconds: float
    hubspot_max_tries: int
    hubspot_backoff_seconds: float
    run_timeout_seconds: int
    sync_stale_seconds: int | None
    lease_seconds: int
    mass_delete_percent: float
    sources_file: str | None
    sources: str | None
    feed_write_timeout_seconds: float
    run_retention_days: int
    log_level: str
    # Where the declared sources come from (SOURCES_FILE or SOURCES) and their text, read
    # once at load; and the environment variables they name as ${VAR} (read here, as every
    # setting is), whose values are secret.
    declared: tuple[str, str] | None = None
    source_env: Mapping[str, str] = field(default_factory=dict)

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict that is safe to print or log: secrets are masked, and a
        database URL keeps everything but its password."""
        out: dict[str, Any] = {}
        for setting in SETTINGS:
            value = getattr(self, setting.attr)
            if setting.name == "DATABASE_URL":
                out[setting.name] = redact_url(value)
            elif value and (setting.secret or setting.name == "SOURCES"):
                # SOURCES names its secrets as ${VAR}, but may hold a literal token too.
                out[setting.name] = REDACTED
            else:
                out[setting.name] = value
        return out

    def declarations(self) -> tuple[str, str] | None:
        """Where the declared sources come from (``SOURCES_FILE`` or ``SOURCES``) and their
        text; None when none are declared."""
        return self.declared

    @property
    def stale_after_seconds(self) -> int:
        """How long without a successful run makes /health answer 503 (0: never)."""
        if self.sync_stale_seconds is not None:
            return self.sync_stale_seconds
        if self.sync_interval_seconds > 0:
            return max(10 * self.sync_interval_seconds, 900)
        return 90_000  # only the daily full sync runs: a day and an hour

    def __repr__(self) -> str:  # a stray log of the object must not leak secrets
        return f"Settings({self.redacted()!r})"


# Query parameters of a database URL whose values are secrets (libpq's password, sslkey and
# sslpassword; any token, key or secret a driver may take): matched by name, so a parameter
# named like a secret is masked even when nobody here knows it.
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|credential|auth", re.IGNORECASE)


def secret_params(url: str) -> list[tuple[str, str]]:
    """The query parameters of ``url`` named like a secret, (name, value) as written."""
    out = []
    for part in url.partition("?")[2].split("&"):
        name, eq, value = part.partition("=")
        if eq and _SECRET_PARAM.search(unquote(name)):
            out.append((name, value))
    return out


def _userinfo(rest: str) -> tuple[str, str]:
    """(user info, the rest) of a URL after its ``scheme://``: split at the last ``@``
    before the query, so a password holding ``/`` or ``@`` is still taken whole."""
    head, question, query = rest.partition("?")
    userinfo, at, hostpart = head.rpartition("@")
    return (userinfo, hostpart + question + query) if at else ("", rest)


def url_password(url: str) -> str | None:
    """The password in a URL's user info, as written (percent-encoded or not)."""
    _, sep, rest = url.partition("://")
    userinfo, _ = _userinfo(rest)
    if not sep or ":" not in userinfo:
        return None
    return userinfo.split(":", 1)[1]


def redact_url(url: str) -> str:
    """Mask the secrets of a database URL: the password of its user info
    (``postgresql://u:secret@h/db`` -> ``postgresql://u:***@h/db``) and every query
    parameter named like a secret (``?password=…``, ``sslkey=…``, ``sslpassword=…``)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    userinfo, rest = _userinfo(rest)
    if ":" in userinfo:
        userinfo = f"{userinfo.split(':', 1)[0]}:{REDACTED}"
    head, question, query = rest.partition("?")
    if question:
        secret = {name for name, _ in secret_params(url)}
        parts = []
        for part in query.split("&"):
            name = part.partition("=")[0]
            parts.append(f"{name}={REDACTED}" if name in secret and "=" in part else part)
        query = "&".join(parts)
    user = f"{userinfo}@" if userinfo else ""
    return f"{scheme}://{user}{head}{question}{query}"


def cron_trigger(cron: str, setting: str) -> CronTrigger:
    """The one parser of the cron settings: checked at start, used by the scheduler."""
    try:
        return CronTrigger.from_crontab(cron, timezone=UTC)
    except ValueError as exc:
        raise ConfigError(f"{setting}: {cron!r} is not a cron expression: {exc}") from None


def load_settings(
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, str | None] | None = None,
) -> Settings:
    """Parse settings from ``env`` (default: ``os.environ``), then apply ``overrides`` (raw
    strings keyed by attribute name, as given on the command line; ``None`` means not given).
    Raises :class:`ConfigError` naming the setting on a value that does not parse."""
    env = os.environ if env is None else env
    overrides = overrides or {}
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = overrides.get(setting.attr)
        if raw is None:
            raw = env.get(setting.name)
        if raw is None:
            raw = setting.default
        if _blank_token(setting, raw):
            # Set but empty: a mistake in a deployment's secrets, not a wish for an open
            # feed (or disabled admin routes); only leaving it unset means that.
            raise ConfigError(
                f"{setting.name}: set but blank; give it a token, or unset it "
                f"(unset, {_UNSET_MEANS.get(setting.name, 'it is off')})"
            )
        if raw is None or (raw == "" and setting.default is None):
            values[setting.attr] = None
            continue
        try:
            values[setting.attr] = setting.parse(raw)
        except ValueError as exc:
            shown = REDACTED if setting.secret else repr(raw)
            reason = f": {exc}" if isinstance(exc, BadValue) and not setting.secret else ""
            raise ConfigError(f"{setting.name}: cannot parse {shown}{reason}") from None
    if values["sources"] is not None and values["sources_file"] is not None:
        raise ConfigError("SOURCES and SOURCES_FILE: declare sources in one of them, not both")
    declared = values["sources_file"] is not None or values["sources"] is not None
    object_types_given = overrides.get("object_types") is not None or "OBJECT_TYPES" in env
    if declared and values["hubspot_access_token"] is None and not object_types_given:
        values["object_types"] = ()  # the declared sources alone: no HubSpot
    given = _read_declarations(values["sources"], values["sources_file"])
    names = set(VAR_RE.findall(given[1])) if given is not None else set()
    settings = Settings(**values, declared=given, source_env={n: env[n] for n in names if n in env})
    _validate(settings)
    return settings


def _read_declarations(sources: str | None, sources_file: str | None) -> tuple[str, str] | None:
    """The origin and text of the declared sources (the file read once, here)."""
    if sources is not None:
        return "SOURCES", sources
    if sources_file is None:
        return None
    try:
        return "SOURCES_FILE", Path(sources_file).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"SOURCES_FILE: cannot read {sources_file}: {exc.strerror}") from None


# ``${VAR}`` in a declaration: the value of the environment variable VAR.
VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


_UNSET_MEANS = {
    "FEED_TOKEN": "the feed asks for no token",
    "ADMIN_TOKEN": "the admin routes answer 403",
}


def _blank_token(setting: Setting, raw: str | None) -> bool:
    """An optional secret (ADMIN_TOKEN, FEED_TOKEN) given as an empty or blank value."""
    optional_token = setting.secret and not setting.required and setting.default is None
    return optional_token and raw is not None and not raw.strip()


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _valid_hostname(host: str) -> bool:
    """A DNS name (RFC 1123 labels). The last label must not be all digits (RFC 3696 2):
    that is what tells ``300.1.1.1``, which is no IPv4 address, from a name."""
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or labels[-1].isdigit():
        return False
    return all(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", x) for x in labels)


def _check_host(host: str) -> None:
    try:
        ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
        return
    except ValueError:
        pass
    if not _valid_hostname(host):
        raise ConfigError(
            f"HOST: {host!r} is neither an IP address nor a host name; use an address of this "
            "machine (0.0.0.0 for all, 127.0.0.1 for this machine only)"
        )


def _check_base_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ConfigError(
            f"HUBSPOT_BASE_URL: {url!r} needs a scheme, http:// or https:// "
            "(e.g. https://api.hubapi.com)"
        )
    if not parts.hostname:
        raise ConfigError(f"HUBSPOT_BASE_URL: {url!r} names no host")


def _check_start_settings(settings: Settings) -> None:
    """What can be checked without the network or the database, so a mistake stops the
    start before a database is created or migrated."""
    _check_host(settings.host)
    if settings.log_level.upper() not in LOG_LEVELS:
        raise ConfigError(
            f"LOG_LEVEL: {settings.log_level!r} is not a level; use one of {', '.join(LOG_LEVELS)}"
        )
    _check_base_url(settings.hubspot_base_url)
    for name in ("FULL_SYNC_CRON", "VERIFY_SYNC_CRON"):
        cron = getattr(settings, name.lower())
        if cron:
            cron_trigger(cron, name)
    if settings.run_retention_days < 0:
        raise ConfigError("RUN_RETENTION_DAYS: must be 0 (keep every run) or positive")


def _validate(settings: Settings) -> None:
    _check_start_settings(settings)
    if not 0 < settings.port < 65536:
        raise ConfigError(f"PORT: {settings.port} is not a TCP port")
    if settings.sync_interval_seconds < 0:
        raise ConfigError("SYNC_INTERVAL_SECONDS: must be 0 (disabled) or positive")
    for name in ("hubspot_requests_per_10s", "hubspot_search_per_second", "hubspot_max_tries"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"{name.upper()}: must be at least 1")
    if settings.hubspot_timeout_seconds <= 0 or settings.hubspot_backoff_seconds < 0:
        raise ConfigError("HUBSPOT_TIMEOUT_SECONDS and HUBSPOT_BACKOFF_SECONDS must be positive")
    if settings.search_overlap_seconds < 0:
        raise ConfigError("SEARCH_OVERLAP_SECONDS: must not be negative")
    if settings.run_timeout_seconds < 1:
        raise ConfigError("RUN_TIMEOUT_SECONDS: must be at least 1")
    if settings.sync_stale_seconds is not None and settings.sync_stale_seconds < 0:
        raise ConfigError("SYNC_STALE_SECONDS: must be 0 (disabled), positive, or empty")
    if settings.lease_seconds < 2:
        raise ConfigError("LEASE_SECONDS: must be at least 2")
    if not 0 <= settings.mass_delete_percent <= 100:
        raise ConfigError("MASS_DELETE_PERCENT: must be between 0 and 100")
    if settings.feed_write_timeout_seconds <= 0:
        raise ConfigError("FEED_WRITE_TIMEOUT_SECONDS: must be positive")
    if settings.delete_check_seconds < 0:
        raise ConfigError("DELETE_CHECK_SECONDS: must be 0 (disabled) or positive")
    if not settings.object_types and settings.declarations() is None:
        raise ConfigError("OBJECT_TYPES: name at least one object type (or declare sources)")
    for source in settings.associations:
        if source not in settings.object_types:
            raise ConfigError(
                f"ASSOCIATIONS: {source} is not in OBJECT_TYPES "
                f"({', '.join(settings.object_types)}); associations are read with its records"
            )


def require(settings: Settings, *names: str) -> None:
    """Fail with a message naming each required setting that is unset."""
    missing = [n for n in names if not getattr(settings, n.lower())]
    if missing:
        raise ConfigError("missing required setting: " + ", ".join(missing))
