"""``change-proxy``: argument parsing only. Builds Settings, then hands over to the app, the
sync runner or the store."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import traceback
from collections.abc import Sequence

from proxy.config import SETTINGS, Setting, Settings, load_settings, object_type_name, require
from proxy.diagnose import check_can_listen, diagnose
from proxy.errors import ConfigError, ProxyError
from proxy.logs import scrubber, setup_logging

log = logging.getLogger("proxy")


def _default(setting: Setting) -> str:
    if setting.required:
        return "required"
    if setting.default is None:
        return "default: unset"
    return f"default: {setting.default}" if setting.default else "default: empty"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="change-proxy",
        description="Mirror HubSpot CRM objects into SQL and serve Sesam's since-feed.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="HTTP server + scheduler; applies migrations at start",
        usage="change-proxy serve [--SETTING VALUE ...]",
        description="Every setting is an environment variable (named in capitals below) or "
        "this flag; the flag wins.",
    )
    for s in SETTINGS:
        serve.add_argument(
            s.flag, dest=s.attr, metavar="VALUE", help=f"{s.name}: {s.help} ({_default(s)})"
        )

    sync = sub.add_parser("sync", help="one sync run in the foreground; non-zero exit on failure")
    sync.add_argument("--object", default=None, help="object type (default: the first configured)")
    sync.add_argument(
        "--mode",
        choices=("incremental", "full", "verify"),
        default=None,
        help="incremental (the default once a full sync has completed): what changed since "
        "the last run; full: the reconciliation (every id listed, what changed fetched, "
        "deletions found); verify: every record fetched and compared",
    )
    sync.add_argument("--full", action="store_true", help="the same as --mode full")
    sync.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="when another process syncs this object type (a running serve), wait this long "
        "for it before giving up (default: give up at once, exit status 1)",
    )

    demo = sub.add_parser(
        "demo", help="built-in HubSpot simulator + the proxy on SQLite; prints the feed URL"
    )
    demo.add_argument("--contacts", type=int, default=3000, help="contacts in the simulator")
    demo.add_argument(
        "--churn-interval", type=float, default=2.0, help="seconds between simulated edits"
    )
    demo.add_argument("--port", dest="port", metavar="PORT", help="proxy port (default 5000)")
    demo.add_argument(
        "--database-url",
        dest="database_url",
        metavar="DATABASE_URL",
        help="default: a SQLite file in a fresh temporary directory",
    )

    status = sub.add_parser("status", help="per-object state and recent runs, from the database")
    status.add_argument("--database-url", dest="database_url", metavar="DATABASE_URL")
    status.add_argument("--runs", type=int, default=10, help="how many recent runs to list")

    record = sub.add_parser(
        "record", help="one mirrored record as the feed serves it, from the database"
    )
    record.add_argument("object_type", metavar="OBJECT", help="object type (e.g. contacts)")
    record.add_argument("entity_id", metavar="ID", help="the record's id (the feed's _id)")
    record.add_argument("--database-url", dest="database_url", metavar="DATABASE_URL")

    db = sub.add_parser("db", help="schema migrations (Alembic)")
    db.add_argument("--database-url", dest="database_url", metavar="DATABASE_URL")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="migrate to the newest schema")
    db_sub.add_parser("current", help="print the schema revision of the database")
    down = db_sub.add_parser("downgrade", help="migrate down to REV ('base' drops everything)")
    down.add_argument("revision", metavar="REV")
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, str | None]:
    return {s.attr: getattr(args, s.attr, None) for s in SETTINGS}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings: Settings | None = None
    try:
        settings = load_settings(overrides=_overrides(args))
        setup_logging(settings)
        return _run(args, settings)
    except ConfigError as exc:
        print(f"change-proxy: configuration error: {exc}", file=sys.stderr)
        return 2
    except ProxyError as exc:
        print(f"change-proxy: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if settings is None:
            raise
        found = diagnose(exc, settings.database_url, settings.host, settings.port)
        # The traceback goes to stderr, past the log's scrubber: scrub it here (a driver's
        # error may echo the database URL, password and all).
        trace = scrubber(settings).scrub("".join(traceback.format_exception(exc)))
        if found is None:  # not a mistake we know how to explain: the traceback says most
            print(trace, end="", file=sys.stderr)
            return 1
        print(f"change-proxy: {found.message}", file=sys.stderr)
        if settings.log_level.upper() == "DEBUG":
            print(trace, end="", file=sys.stderr)
        else:
            print("(LOG_LEVEL=DEBUG prints the traceback)", file=sys.stderr)
        return found.exit_code


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        return _serve(settings)
    if args.command == "sync":
        from proxy.commands import sync_once

        feeds = _checked_feeds(settings)
        try:
            object_type = (
                args.object if args.object in feeds else object_type_name(args.object or feeds[0])
            )
        except ValueError as exc:
            raise ConfigError(f"--object: {exc}") from None
        if object_type not in feeds:
            raise ConfigError(
                f"--object {args.object}: neither in OBJECT_TYPES nor a declared source "
                f"({', '.join(feeds)})"
            )
        mode = "full" if args.full else args.mode
        return asyncio.run(sync_once(settings, object_type, mode=mode, wait_seconds=args.wait))
    if args.command == "demo":
        from proxy.commands import run_demo

        return asyncio.run(
            run_demo(
                settings,
                contacts=args.contacts,
                churn_interval=args.churn_interval,
                database_url=args.database_url,
            )
        )
    if args.command == "status":
        from proxy.status import print_status

        return asyncio.run(print_status(settings, runs=args.runs))
    if args.command == "record":
        from proxy.sources.configured import feed_names
        from proxy.status import print_record

        try:
            object_type = (
                args.object_type
                if args.object_type in feed_names(settings)
                else object_type_name(args.object_type)
            )
        except ValueError as exc:
            raise ConfigError(f"OBJECT: {exc}") from None
        return asyncio.run(print_record(settings, object_type, args.entity_id))
    if args.command == "db":
        return asyncio.run(_db(settings, args))
    return 2  # pragma: no cover - argparse rejects unknown commands


def _checked_feeds(settings: Settings) -> tuple[str, ...]:
    """The feeds the settings configure, every declaration checked and the HubSpot token
    present if object types are mirrored: before any database is created or migrated."""
    from proxy.sources.configured import feed_names

    if settings.object_types:
        require(settings, "HUBSPOT_ACCESS_TOKEN")
    return feed_names(settings)


def _serve(settings: Settings) -> int:
    from aiohttp import web

    from proxy.app import create_app
    from proxy.sources.configured import resolve_feed_names

    _checked_feeds(settings)
    check_can_listen(settings.host, settings.port)  # before any database is touched
    log.info("starting with settings %s", settings.redacted())

    async def app() -> web.Application:
        # Feed paths are routes: custom objects given by id need their names first.
        named, _ = await resolve_feed_names(settings)
        return create_app(named)

    web.run_app(
        app(),
        host=settings.host,
        port=settings.port,
        print=lambda _: log.info("listening on http://%s:%d", settings.host, settings.port),
        access_log=logging.getLogger("proxy.access"),
        # SIGTERM: the sync in flight commits its page and records itself interrupted (see
        # SyncWorker.stop); open feed responses get this long before the process exits, so
        # it is gone within 10 s.
        shutdown_timeout=2.0,
    )
    return 0


async def _db(settings: Settings, args: argparse.Namespace) -> int:
    from proxy.store import create_engine, migrate
    from proxy.store.engine import sqlite_file

    missing = sqlite_file(settings.database_url)
    if args.db_command != "upgrade" and missing is not None and not missing.exists():
        print(f"change-proxy: no database at {missing} (DATABASE_URL)", file=sys.stderr)
        return 1

    engine = create_engine(settings.database_url)
    try:
        if args.db_command == "upgrade":
            await migrate.upgrade(engine)
            print(await migrate.current(engine) or "(empty)")
        elif args.db_command == "downgrade":
            await migrate.downgrade(engine, args.revision)
            print(await migrate.current(engine) or "(empty: no schema)")
        else:
            print(await migrate.current(engine) or "(empty: no schema)")
    finally:
        await engine.dispose()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
