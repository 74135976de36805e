"""The slow tier's figures (kills, interrupted runs, leaders, takeover times): each test
hands its summary line to ``figures``, printed after the run so CI output shows them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[[str], None]:
    lines = request.config.stash.setdefault(FIGURES, [])

    def report(line: str) -> None:
        lines.append(f"{request.node.name}: {line}")
        print(line)  # also in the test's captured output

    return report


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.write_sep("-", "slow tier figures")
        for line in lines:
            terminalreporter.write_line(line)
