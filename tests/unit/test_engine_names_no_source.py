"""The engine reaches every kind of source through ``proxy.sources.base`` and the one
module that builds the configured sources (``proxy.sources.configured``): outside
``proxy/sources/`` no module imports a source's own package."""

from __future__ import annotations

import ast
from pathlib import Path

import proxy

ROOT = Path(proxy.__file__).parent
SOURCES = ROOT / "sources"
# The packages of kinds of source: every package under proxy/sources/.
KINDS = sorted(p.name for p in SOURCES.iterdir() if (p / "__init__.py").exists())


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_hubspot_is_a_kind_of_source() -> None:
    assert "hubspot" in KINDS


def test_no_module_outside_sources_imports_a_kind_of_source() -> None:
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.is_relative_to(SOURCES):
            continue
        for name in imported(path):
            for kind in KINDS:
                if name == f"proxy.sources.{kind}" or name.startswith(f"proxy.sources.{kind}."):
                    offenders.append(f"{path.relative_to(ROOT.parent)} imports {name}")
    assert offenders == []


def test_the_interface_imports_no_kind_of_source() -> None:
    for kind in KINDS:
        names = imported(SOURCES / "base.py")
        assert not any(n.startswith(f"proxy.sources.{kind}") for n in names)
