"""The package's own imports form no circle (issue 15).

Every ``import`` and ``from ... import`` of every module of ``fptt`` is read
statically (module level and inside functions alike: a deferred import hides
a circle from the interpreter, not from the reader) and resolved to the
package's own modules; the graph must be acyclic. A failure names the circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# import name -> folder, as [tool.setuptools.package-dir] in pyproject.toml maps them
PACKAGE_DIRS = {"fptt": ROOT / "fptt", "fptt.golden": ROOT / "golden",
                "fptt.rtl": ROOT / "rtl", "fptt.sim": ROOT / "sim"}


def package_modules() -> dict[str, Path]:
    """Every module of the package: import name -> file."""
    mods: dict[str, Path] = {}
    for name, folder in PACKAGE_DIRS.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if any(not p.isidentifier() for p in parts):
                continue
            sub = ".".join([name, *parts])
            # a folder nested in fptt/ that is mapped elsewhere (none today) is skipped
            mods.setdefault(sub, path)
    return mods


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (the most specific module each import names)."""
    mods = package_modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, is_pkg, node)
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    targets.append(sub if sub in mods else base)
            for t in targets:
                while t and t not in mods:        # `import fptt.rtl.core.X` -> fptt.rtl.core
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    graph[mod].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of the graph (first node repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_graph_sees_the_package():
    graph = import_graph()
    assert "fptt.cli" in graph and "fptt.rtl.core" in graph and "fptt.sim.runner" in graph
    assert "fptt.config" in graph["fptt.rtl.core"]


def test_find_cycle_names_the_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle():
    cycle = find_cycle(import_graph())
    if cycle:
        pytest.fail("import circle: " + " -> ".join(cycle))
