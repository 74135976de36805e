"""Run the simulator as a process: ``python -m proxy.simulator --port 8100 --contacts 1000``.

More types: ``--companies 500 --deals 800 --tickets 100 --products 20 --line-items 300``,
custom objects ``--custom-object pets=pet_name,species:200`` (name, properties and how many
records; repeatable), and ``--associate`` to link them (``seeding.py``: each contact to a
company, each deal to a contact and a company …). ``--custom-properties`` sets the
contacts' generated custom properties (586 make 600 properties in all),
``--extra-properties`` those of every other standard type.

Prints ``simulator listening on http://HOST:PORT`` once it accepts connections (port 0
picks a free port and prints the real one), then serves until interrupted.

Other processes steer it over HTTP, without the token: ``POST /_sim/faults`` sets fault
switches by name, ``POST /_sim/mutate`` changes records of any type (create, update,
archive, restore, gdpr_delete, merge, add_property, associate, dissociate,
define_custom_object), ``GET /_sim/snapshot?object_type=…`` returns every record of a type
and its links, ``GET /_sim/log?after=N`` lists API requests by client (User-Agent) and
``GET /_sim/stats`` counts them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal

from aiohttp import web

from .app import create_app
from .churn import churn
from .seeding import associate_all
from .state import DEFAULT_EXTRA_PROPERTIES, HubSpotSimulator

#: The standard types other than contacts a flag seeds: (flag, type name).
TYPE_FLAGS = (
    ("--companies", "companies"),
    ("--deals", "deals"),
    ("--tickets", "tickets"),
    ("--products", "products"),
    ("--line-items", "line_items"),
)


def custom_object_spec(text: str) -> tuple[str, list[str], int]:
    """``NAME=PROP,PROP[:N]`` -> (name, property names, records to create)."""
    name, sep, rest = text.partition("=")
    properties, _, count = rest.partition(":")
    names = [p for p in properties.split(",") if p]
    if not sep or not name or not names:
        raise argparse.ArgumentTypeError(f"expected NAME=PROP,PROP[:N], got {text!r}")
    try:
        n = int(count) if count else 0
    except ValueError:
        raise argparse.ArgumentTypeError(f"record count must be an integer in {text!r}") from None
    return name, names, n


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m proxy.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--contacts", type=int, default=1000, help="contacts created at start")
    for flag, name in TYPE_FLAGS:
        parser.add_argument(flag, type=int, default=0, help=f"{name} created at start (0)")
    parser.add_argument(
        "--custom-object",
        type=custom_object_spec,
        action="append",
        default=[],
        metavar="NAME=PROP,PROP[:N]",
        help="define a custom object with these string properties and create N records",
    )
    parser.add_argument(
        "--associate",
        action="store_true",
        help="link the seeded records: contact-company, deal-contact, deal-company, ...",
    )
    parser.add_argument("--token", default="sim-token", help="the accepted Bearer token")
    parser.add_argument("--rate-limit-per-10s", type=int, default=None, help="default: no limit")
    parser.add_argument("--search-per-second", type=int, default=None, help="default: no limit")
    parser.add_argument(
        "--custom-properties", type=int, default=40, help="generated custom contact properties"
    )
    parser.add_argument(
        "--extra-properties",
        type=int,
        default=DEFAULT_EXTRA_PROPERTIES,
        help="generated custom properties of each standard type other than contacts",
    )
    parser.add_argument(
        "--max-url-length",
        type=int,
        default=8000,
        help="longer request URLs answer 414; naming every property of the default 40 custom "
        "ones takes about 1,700 characters, so lower this to force property chunking",
    )
    parser.add_argument("--search-lag-ms", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--churn-interval",
        type=float,
        default=0.0,
        help="seconds between background changes like the demo's; 0 (default) disables",
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    sim = HubSpotSimulator(
        token=args.token,
        custom_properties=args.custom_properties,
        extra_properties=args.extra_properties,
        seed=args.seed,
    )
    sim.faults.rate_limit_per_10s = args.rate_limit_per_10s
    sim.faults.search_per_second = args.search_per_second
    sim.faults.max_url_length = args.max_url_length
    sim.faults.search_lag_ms = args.search_lag_ms
    seed_records(sim, args)

    runner = web.AppRunner(create_app(sim), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    port = runner.addresses[0][1]
    print(f"simulator listening on http://{args.host}:{port}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    background = None
    if args.churn_interval > 0:
        background = asyncio.create_task(
            churn(sim, interval_s=args.churn_interval, rng=random.Random(args.seed), stop=stop)
        )
    try:
        await stop.wait()
    finally:
        if background is not None:
            await background
        await runner.cleanup()


def seed_records(sim: HubSpotSimulator, args: argparse.Namespace) -> None:
    """The records (and links) the flags ask for."""
    sim.create_contacts(args.contacts)
    for flag, name in TYPE_FLAGS:
        sim.objects(name).create(getattr(args, flag.lstrip("-").replace("-", "_")))
    for name, properties, n in args.custom_object:
        sim.define_custom_object(name, properties)
        sim.objects(name).create(n)
    if args.associate:
        associate_all(sim, random.Random(args.seed))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
