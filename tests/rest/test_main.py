"""``python -m proxy.simulator.rest`` as its own process: it says where it listens, serves
its records with the delay asked for, and takes mutations and snapshots over HTTP."""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp
import pytest

from proxy.simulator.rest.__main__ import parse_args
from tests.processes import _clean_env, stop_process


async def test_the_process_listens_serves_delays_and_mutates() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy.simulator.rest",
        "--port", "0", "--records", "5", "--delay", "0.2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=_clean_env(),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        prefix = "rest simulator listening on http://127.0.0.1:"
        assert line.startswith(prefix), line
        base = line.removeprefix("rest simulator listening on ")
        assert int(base.rsplit(":", 1)[1]) > 0  # port 0: the real port is printed
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            async with session.get(f"{base}/cursor/orders", params={"limit": "3"}) as resp:
                page = await resp.json()
            assert time.monotonic() - started >= 0.2  # every API request waits --delay
            assert [r["id"] for r in page["data"]] == [1, 2, 3] and page["has_more"] is True
            for body in ({"op": "delete", "id": 2}, {"op": "soft_delete", "id": 4}):
                async with session.post(f"{base}/_sim/mutate", json=body) as resp:
                    assert resp.status == 200
            async with session.get(f"{base}/_sim/snapshot") as resp:
                snapshot = await resp.json()
            async with session.get(f"{base}/_sim/stats") as resp:
                stats = await resp.json()
        assert [r["id"] for r in snapshot["records"]] == [1, 3, 4, 5]
        assert snapshot["records"][2]["status"] == "cancelled" and snapshot["gone"] == [2]
        assert (stats["requests"], stats["pages"], stats["records"]) == (1, 1, 4)
    finally:
        await stop_process(proc)
    assert proc.returncode == 0  # SIGTERM: a clean stop


@pytest.mark.parametrize("flag", ["--records", "--delay", "--churn-interval"])
def test_negative_numbers_are_refused(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args([flag, "-1"])
    assert exit_.value.code == 2
    assert f"{flag} must not be negative" in capsys.readouterr().err
