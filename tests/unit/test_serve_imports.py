"""What ``change-proxy serve`` imports: every module a process imports stays in its memory
for good, and the container's budget is small (Sesam's default is 128 MB; bench.memory)."""

from __future__ import annotations

import subprocess
import sys

# Not for serve: Alembic (and the Mako templates it brings) only when a migration is due
# (proxy/store/migrate.py), rich only for the terminal commands, the test libraries never.
NOT_FOR_SERVE = ("alembic", "mako", "rich", "hypothesis", "schemathesis", "pytest")


def test_serve_imports_no_terminal_migration_or_test_libraries() -> None:
    code = (
        "import sys\n"
        "import proxy.cli, proxy.app\n"
        "from proxy.app import create_app\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert "aiohttp" in loaded  # the probe did import the app
    assert loaded.isdisjoint(NOT_FOR_SERVE), sorted(loaded.intersection(NOT_FOR_SERVE))
