"""Run the filterless REST simulator as a process (benchmarks, trying a declaration):
``python -m proxy.simulator.rest --port 8200 --records 1000 [--padding 900]
[--no-conditional]``.

Prints ``simulator listening on http://HOST:PORT`` once it accepts connections (port 0
picks a free port and prints the real one), then serves until interrupted. Routes and
controls (``/_sim/mutate``, ``/_sim/stats``, ``/_sim/faults``, ``/_sim/conditional``):
``app.py``. No auth (``RestAuth`` mode none).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from aiohttp import web

from .app import create_rest_app
from .state import RestSimulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m proxy.simulator.rest")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--records", type=int, default=100, help="orders created at start")
    parser.add_argument(
        "--padding",
        type=int,
        default=0,
        help="characters of filler text in each order's notes (900 makes ~1 KB records)",
    )
    parser.add_argument(
        "--no-conditional",
        dest="conditional",
        action="store_false",
        help="no ETag / Last-Modified and no 304 (until POST /_sim/conditional)",
    )
    args = parser.parse_args(argv)
    if args.records < 0 or args.padding < 0:
        parser.error("--records and --padding must not be negative")
    return args


async def serve(args: argparse.Namespace) -> None:
    sim = RestSimulator(args.records, conditional=args.conditional, padding=args.padding)
    runner = web.AppRunner(create_rest_app(sim), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    port = runner.addresses[0][1]
    print(f"simulator listening on http://{args.host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
