"""The layers of docs/architecture.md, held to the imports: arrows point one way.

Read from the source with `ast` (nothing is imported), every import counted, also one made
inside a function: a late import still ties two modules, it only hides the tie until it runs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bridge", "connectors")


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {
        _module_of(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


SOURCES = _sources()


def _imported(module: str, path: Path) -> Iterator[str]:
    """The project's modules `module` imports; `from package import name` counts as the
    submodule when there is one, else as the package."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in SOURCES)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module not in SOURCES:
                continue
            for alias in node.names:
                inner = f"{node.module}.{alias.name}"
                yield inner if inner in SOURCES else node.module


GRAPH = {m: sorted(set(_imported(m, p)) - {m}) for m, p in SOURCES.items()}


def _within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _faces(module: str) -> bool:
    """A package's __init__ that only hands names on (a docstring, imports, `__all__`):
    importing a submodule runs it, but it is no tie of its own."""
    path = SOURCES[module]
    if path.name != "__init__.py":
        return False
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["__all__"]:
            continue
        return False
    return True


def test_no_import_circles() -> None:
    """No module reaches itself through the imports of others (Tarjan's strongly connected
    components; package faces left out)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH[node]:
            if _faces(nxt):
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for module in GRAPH:
        if module not in index and not _faces(module):
            visit(module)
    assert circles == []


# Who may import the operator console's package: the console, the CLI and the cron, above it.
CLI = tuple(m for m in SOURCES if m.startswith("bridge.cli"))
CONSOLE_READERS = ("bridge.ops", "bridge.web", "bridge.cron", *CLI)
# The floors under everything that reports: what each may import of the project.
FLOOR_IMPORTS = {
    "bridge.telemetry": (
        "bridge.telemetry", "bridge.keyspace", "bridge.models", "bridge.errors",
        "bridge.records", "bridge.job_names", "bridge.protocol",
    ),
    "bridge.settings": ("bridge.settings", "bridge.errors", "bridge.option_fields"),
}  # fmt: skip


def test_only_the_console_imports_ops() -> None:
    reached = {
        (module, target)
        for module in SOURCES
        if not _within(module, *CONSOLE_READERS)
        for target in GRAPH[module]
        if _within(target, "bridge.ops")
    }
    assert reached == set()


@pytest.mark.parametrize("floor", sorted(FLOOR_IMPORTS))
def test_the_low_floors_import_only_what_lies_below(floor: str) -> None:
    allowed = FLOOR_IMPORTS[floor]
    reached = {
        (module, target)
        for module in SOURCES
        if _within(module, floor)
        for target in GRAPH[module]
        if not _within(target, *allowed)
    }
    assert reached == set()


def test_the_failure_inbox_imports_neither_console_nor_workers() -> None:
    above = ("bridge.ops", "bridge.web", "bridge.jobs", "bridge.workers", "bridge.polling")
    reached = {
        (module, target)
        for module in SOURCES
        if _within(module, "bridge.failures")
        for target in GRAPH[module]
        if _within(target, *above)
    }
    assert reached == set()
