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


# ---- no module reaches another's private names --------------------------------

#: Leading-underscore names anyone may use: the C extension, the version
#: module, and the public API of collections.namedtuple.
_ALLOWED = {"_core", "_version", "_make", "_replace", "_asdict", "_fields", "_field_defaults"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _defined_private(tree: ast.AST) -> set[str]:
    """The leading-underscore names a module defines: functions, classes,
    globals, arguments, attributes it assigns (self._x = ...), __slots__
    entries and names set with setattr()."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            out.add(node.attr)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets
        ):
            out |= {c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant)}
        elif _named_by_string(node, ("setattr", "__setattr__")) is not None:
            out.add(_named_by_string(node, ("setattr", "__setattr__")))
    return {n for n in out if isinstance(n, str) and _private(n)}


def _named_by_string(node: ast.AST, functions: tuple[str, ...]) -> str | None:
    """The attribute name a call like getattr(obj, "name") spells out."""
    if not isinstance(node, ast.Call) or len(node.args) < 2:
        return None
    func = node.func
    called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    name = node.args[1]
    if called in functions and isinstance(name, ast.Constant) and isinstance(name.value, str):
        return name.value
    return None


def _private_reaches(sources: dict[str, str]) -> list[str]:
    """Where a module (name: source) imports a leading-underscore name
    from another module of the package, or reads an attribute of that
    name which it does not define itself but another module does (a
    module's private function, or an object's private attribute)."""
    trees = {name: ast.parse(text, name) for name, text in sources.items()}
    defined = {name: _defined_private(tree) for name, tree in trees.items()}
    packages = {name.rpartition(".")[0] for name in sources if "." in name}
    found: list[tuple[str, int, str]] = []
    for name, tree in sorted(trees.items()):
        package = name if name in packages else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1])
                    target = f"{base}.{node.module}" if node.module else base
                else:
                    target = node.module or ""
                if target.split(".")[0] != PACKAGE:
                    continue
                last = target.rpartition(".")[2]
                if _private(last) and last not in _ALLOWED:
                    found.append((name, node.lineno, f"imports from private module {target}"))
                for alias in node.names:
                    if _private(alias.name) and alias.name not in _ALLOWED:
                        found.append((name, node.lineno, f"from {target} import {alias.name}"))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[0] == PACKAGE and any(
                        _private(p) and p not in _ALLOWED for p in parts[1:]
                    ):
                        found.append((name, node.lineno, f"import {alias.name}"))
            else:
                if isinstance(node, ast.Attribute):
                    attr: str | None = node.attr
                else:
                    attr = _named_by_string(node, ("getattr", "hasattr", "setattr", "delattr"))
                if attr is None or not _private(attr):
                    continue
                if attr in _ALLOWED or attr in defined[name]:
                    continue
                owners = sorted(m for m, names in defined.items() if attr in names)
                if owners:
                    where = ", ".join(owners)
                    found.append((name, node.lineno, f"{ast.unparse(node)} (defined in {where})"))
    return [f"{name}:{line}: {what}" for name, line, what in sorted(found)]


def test_no_module_reaches_another_modules_private_names():
    if not os.path.isdir(os.path.join(SRC, PACKAGE)):
        pytest.skip("source tree not available")
    sources = {}
    for name, path in _modules().items():
        with open(path, encoding="utf-8") as f:
            sources[name] = f.read()
    assert len(sources) > 30
    found = _private_reaches(sources)
    assert not found, "private names used across modules:\n" + "\n".join(found)


def test_the_private_check_sees_each_kind_of_reach():
    sources = {
        "monitrace": "",
        "monitrace.a": (
            "_helper = 1\n"
            "class A:\n"
            "    def __init__(self):\n"
            "        self._state = 0\n"
            "def _f(): pass\n"
        ),
        "monitrace.b": (
            "from .a import _f, A\n"
            "from . import a\n"
            "from ._version import __version__\n"
            "from . import _core\n"
            "x = a._helper\n"
            "y = A()._state\n"
            "z = A()._mine\n"
            "class B:\n"
            "    def __init__(self):\n"
            "        self._mine = 1\n"
            "t = (1, 2)._replace\n"
            "u = getattr(A(), '_state', None)\n"
        ),
        "monitrace.sub": "",
        "monitrace.sub.c": "from .._private_mod import thing\nimport monitrace._hidden\n",
    }
    assert _private_reaches(sources) == [
        "monitrace.b:1: from monitrace.a import _f",
        "monitrace.b:5: a._helper (defined in monitrace.a)",
        "monitrace.b:6: A()._state (defined in monitrace.a)",
        "monitrace.b:12: getattr(A(), '_state', None) (defined in monitrace.a)",
        "monitrace.sub.c:1: imports from private module monitrace._private_mod",
        "monitrace.sub.c:2: import monitrace._hidden",
    ]
