"""Run the filterless REST simulator as a process: ``python -m proxy.simulator.rest --port 8200
--records 1000``.

``--delay`` makes every API request (list pages and item reads) wait that many seconds
first, so a scan lasts long enough to be interrupted; ``--churn-interval`` changes orders in
the background as the demo does (``--seed`` makes those changes repeatable). Prints
``rest simulator listening on http://HOST:PORT`` once it accepts connections (port 0 picks a
free port and prints the real one), then serves until interrupted.

Other processes steer it over HTTP (``app.py``): ``POST /_sim/mutate``, ``POST /_sim/faults``,
``GET /_sim/stats``, ``GET /_sim/snapshot`` (every record, and the ids deleted) and
``POST /_sim/conditional`` (ETags and 304s on or off). ``--padding`` makes records bigger
(benchmarks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from aiohttp import web

from .app import create_rest_app
from .churn import churn
from .state import RestSimulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m proxy.simulator.rest", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--records", type=int, default=100, help="orders created at start")
    parser.add_argument("--seed", type=int, default=0, help="seeds the background changes")
    parser.add_argument(
        "--padding",
        type=int,
        default=0,
        help="characters of filler text in each order's notes (900 makes ~1 KB records)",
    )
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds every API request waits (0)"
    )
    parser.add_argument(
        "--churn-interval",
        type=float,
        default=0.0,
        help="seconds between background changes like the demo's; 0 (default) disables",
    )
    parser.add_argument(
        "--no-conditional",
        action="store_true",
        help="no ETag / Last-Modified on list pages, so never a 304 (until POST /_sim/conditional)",
    )
    args = parser.parse_args(argv)
    for name in ("records", "padding", "delay", "churn_interval"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must not be negative")
    return args


async def serve(args: argparse.Namespace) -> None:
    sim = RestSimulator(args.records, conditional=not args.no_conditional, padding=args.padding)
    sim.faults.delay_s = args.delay
    runner = web.AppRunner(create_rest_app(sim), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    port = runner.addresses[0][1]
    print(f"rest simulator listening on http://{args.host}:{port}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    background = None
    if args.churn_interval > 0:
        background = asyncio.create_task(churn(sim, args.churn_interval, seed=args.seed))
    try:
        await stop.wait()
    finally:
        if background is not None:
            background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await background
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
