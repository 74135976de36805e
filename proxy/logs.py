"""Logging to stdout, with secrets scrubbed from every record as a last line of defence."""

from __future__ import annotations

import logging
import sys
from urllib.parse import unquote, unquote_plus

from proxy.config import REDACTED, SETTINGS, Settings, secret_params, url_password


class SecretScrubber(logging.Filter):
    """Replaces any configured secret value that reaches a log message with ``***``. Code
    should never log a secret in the first place; this catches the accident (an exception
    message echoing a URL with a password, say)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        # Every secret, however short: a short password is still a password, and a log
        # line with a few letters masked too many is a small price for never showing it.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        scrubbed = self.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and record.exc_text is None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True


def secret_values(settings: Settings) -> list[str]:
    values: list[str] = []
    for s in SETTINGS:
        value = getattr(settings, s.attr)
        if not (s.secret and isinstance(value, str) and value):
            continue
        if "://" in value:  # a URL: its password and its parameters named like a secret
            # (?password=, sslkey=) are the secrets; host and database name are what a
            # person needs to see in a log
            found = [url_password(value), *(v for _, v in secret_params(value))]
            # As written and decoded: a driver's error may echo either.
            values += [form for v in found if v for form in (v, unquote(v), unquote_plus(v))]
        else:
            values.append(value)
    # What declared sources take from the environment as ${VAR} (tokens, passwords).
    values.extend(settings.source_env.values())
    return values


def scrubber(settings: Settings) -> SecretScrubber:
    return SecretScrubber(secret_values(settings))


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(scrubber(settings))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # SQLAlchemy and aiosqlite are chatty at DEBUG; their level follows ours only to WARNING.
    logging.getLogger("aiosqlite").setLevel(max(root.level, logging.INFO))
    # APScheduler logs every job it runs at INFO; the sync logs what those jobs did.
    logging.getLogger("apscheduler").setLevel(max(root.level, logging.WARNING))
    # Alembic lists its plugins at INFO on every start; only the migrations it runs matter.
    # Alembic narrates every start at INFO; proxy.store.migrate logs what actually changed.
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))
