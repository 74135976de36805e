"""The Dockerfile and .dockerignore, checked without a container engine (CI's .ci/image builds
and runs the image with podman): the HEALTHCHECK follows PORT, the user is not one Debian's
base image already has, no wheels layer is left behind, and the build context is only what
the Dockerfile copies."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

# Debian's base-passwd (bookworm, /usr/share/base-passwd/passwd.master): these users exist in
# every Debian-based image, python:3.11-slim included, so useradd of any of them fails.
DEBIAN_USERS = {
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
    "proxy", "www-data", "backup", "list", "irc", "_apt", "nobody",
}  # fmt: skip


def instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each instruction, continuation lines joined, comments out."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            found.append((keyword.upper(), args.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def healthcheck_command() -> list[str]:
    [args] = [args for keyword, args in final_stage() if keyword == "HEALTHCHECK"]
    command: list[str] = json.loads(args[args.index("CMD [") + len("CMD ") :])
    return command


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[int]:
    """A server answering /health with 200 on a free port other than 5000."""
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def run_healthcheck(port: int) -> int:
    program, *args = healthcheck_command()
    assert program == "python"  # the image's; here the interpreter running the tests
    env = {**os.environ, "PORT": str(port)}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True).returncode


def test_healthcheck_asks_the_port_in_PORT(health_server: int) -> None:
    assert run_healthcheck(health_server) == 0
    # Nothing listens on the server's port once it is closed: the check must fail there.
    with HTTPServer(("127.0.0.1", 0), _Health) as closed:
        free_port = closed.server_address[1]
    assert run_healthcheck(free_port) != 0


def test_the_user_is_not_one_of_debians_and_runs_by_uid() -> None:
    [run] = [args for keyword, args in final_stage() if "useradd" in args]
    match = re.search(r"useradd\b[^&;]*?--uid (\d+) (\S+)", run)
    assert match, run
    uid, name = match.groups()
    assert name not in DEBIAN_USERS
    [user] = [args for keyword, args in final_stage() if keyword == "USER"]
    assert user == uid  # numeric, so a platform can check it is not root without a passwd


def test_no_wheels_layer_in_the_final_image() -> None:
    """A COPY of the wheels stays a layer of its own, whatever a later RUN removes."""
    copies = [args for keyword, args in final_stage() if keyword == "COPY"]
    assert not any("--from" in args for args in copies), copies


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """Docker's matching (Go's filepath.Match plus ``**``): ``*`` stays within a path element."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def in_build_context(path: str) -> bool:
    """Whether Docker sends ``path``: the last pattern matching it or a parent decides."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for pattern in patterns:
        exclude = not pattern.startswith("!")
        regex = _dockerignore_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            included = not exclude
    return included


@pytest.mark.parametrize(
    "path",
    [
        ".venv/lib/python3.11/site-packages/aiohttp/__init__.py",
        ".git/HEAD",
        ".mypy_cache/3.11/proxy.json",
        ".pytest_cache/v/cache/lastfailed",
        "tests/unit/test_dockerfile.py",
        "bench/out/feed.json",
        "mirror.db",
        "proxy/__pycache__/cli.cpython-311.pyc",
        "change_proxy.egg-info/PKG-INFO",
    ],
)
def test_dockerignore_keeps_out(path: str) -> None:
    assert not in_build_context(path)


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    copies = [args for kw, args in instructions() if kw == "COPY" and "--from" not in args]
    sources = [source for args in copies for source in args.split()[:-1]]
    assert "proxy" in sources and "pyproject.toml" in sources
    for source in sources:
        assert in_build_context(source), source
    assert in_build_context("proxy/api/feed.py")
    assert in_build_context("migrations/versions/0001_initial.py")
