"""The folders tell the architecture: the pure core imports nothing that reaches a
cluster, and no module of the project imports itself back through others."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kafka_upgrade", "flows", "tasks", "deployments")
# What reaches the outside world: none of it may be imported by the pure core.
IMPURE = (
    "kafka_upgrade.adapters",
    "kafka_upgrade.app",
    "kafka_upgrade.sandbox",
    "flows",
    "tasks",
    "deployments",
    "prefect",
    "fabric",
    "paramiko",
    "invoke",
    "confluent_kafka",
    "subprocess",
    "socket",
)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_core_imports_nothing_that_reaches_out() -> None:
    wrong = [
        f"{name} imports {imported}"
        for name, path in _modules().items()
        if _within(name, "kafka_upgrade.core")
        for imported in sorted(_imports(path))
        if any(_within(imported, bad) for bad in IMPURE)
    ]
    assert wrong == []


def test_no_import_cycle() -> None:
    modules = _modules()
    graph = {
        name: {i for i in _imports(path) if i in modules and i != name}
        for name, path in modules.items()
    }
    # A package's __init__ is not an edge into its children (Python runs it first anyway).
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert cycles == []
