"""Run the simulator as a process: ``python -m proxy.simulator --port 8100 --contacts 1000``.

Prints ``simulator listening on http://HOST:PORT`` once it accepts connections (port 0
picks a free port and prints the real one), then serves until interrupted.

Other processes steer it over HTTP, without the token: ``POST /_sim/faults`` sets fault
switches by name, ``POST /_sim/mutate`` changes contacts (create, update, archive,
restore, gdpr_delete, merge, add_property), ``GET /_sim/snapshot`` returns every record,
``GET /_sim/log?after=N`` lists API requests by client (User-Agent) and ``GET /_sim/stats``
counts them.
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
from .state import HubSpotSimulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m proxy.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--contacts", type=int, default=1000, help="contacts created at start")
    parser.add_argument("--token", default="sim-token", help="the accepted Bearer token")
    parser.add_argument("--rate-limit-per-10s", type=int, default=None, help="default: no limit")
    parser.add_argument("--search-per-second", type=int, default=None, help="default: no limit")
    parser.add_argument("--custom-properties", type=int, default=40)
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
        token=args.token, custom_properties=args.custom_properties, seed=args.seed
    )
    sim.faults.rate_limit_per_10s = args.rate_limit_per_10s
    sim.faults.search_per_second = args.search_per_second
    sim.faults.max_url_length = args.max_url_length
    sim.faults.search_lag_ms = args.search_lag_ms
    sim.create_contacts(args.contacts)

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


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
