"""SIGTERM during a run, through real processes: stopping is routine, so the log says so at
WARNING, with no ERROR line and no traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.processes import ServeProcess, SimulatorProcess


async def test_sigterm_during_a_run_logs_a_warning_not_an_error(tmp_path: Path) -> None:
    sim = await SimulatorProcess(tmp_path, 2000).start()
    serve = None
    try:
        await sim.faults(delay_seconds=0.2)  # a full sync of some seconds
        serve = await ServeProcess(
            tmp_path, "serve", f"sqlite:///{tmp_path}/m.db", sim, SYNC_INTERVAL_SECONDS="0"
        ).start()
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            runs = (await serve.admin("GET", "/admin/runs"))["runs"]
            if any(r["status"] == "running" and r["requests"] > 0 for r in runs):
                break
            assert asyncio.get_running_loop().time() < deadline, serve.log()
            await asyncio.sleep(0.05)
        serve.terminate()
        assert await asyncio.wait_for(serve.wait(), 15) == 0, serve.log()
    finally:
        if serve is not None:
            await serve.stop()
        await sim.stop()
    log = serve.log_path.read_text()
    assert "WARNING proxy.sync: run 1: full sync of contacts interrupted" in log, log
    assert " ERROR " not in log and "Traceback" not in log, log
    # Nothing will be "tried again" by a process that is stopping.
    assert "trying again" not in log, log
