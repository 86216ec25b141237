"""The Python modules form layers: no module imports, directly or through
others, a module that imports it back. Imports inside functions count
too (they only delay the cycle). Read from the sources with ast, so no
module is run."""

import ast
import os

import pytest

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
PACKAGE = "monitrace"


def _modules() -> dict[str, str]:
    out = {}
    for dirpath, _dirs, files in os.walk(os.path.join(SRC, PACKAGE)):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                dotted = os.path.relpath(path, SRC)[:-3].replace(os.sep, ".")
                out[dotted.removesuffix(".__init__")] = path
    return out


def _imports(name: str, path: str, modules: dict[str, str]) -> set[str]:
    """The package's modules that module `name` imports. `from . import
    sub` depends on the submodule only; `_core` is the C extension, a leaf."""
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    deps = set()
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            names = [a.name for a in node.names if a.name != "_core"]
            subs = {f"{target}.{n}" for n in names if f"{target}.{n}" in modules}
            deps |= subs
            if target in modules and len(subs) < len(names):
                deps.add(target)
        elif isinstance(node, ast.Import):
            deps |= {a.name for a in node.names if a.name in modules}
    deps.discard(name)
    return deps


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    if not os.path.isdir(os.path.join(SRC, PACKAGE)):
        pytest.skip("source tree not available")
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert len(graph) > 30  # the walk found the package
    cycles = _cycles(graph)
    detail = "\n".join(
        " <-> ".join(c)
        + "\n"
        + "\n".join(f"    {m} imports {sorted(graph[m] & set(c))}" for m in c)
        for c in cycles
    )
    assert not cycles, "import cycles:\n" + detail


def test_the_check_sees_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
