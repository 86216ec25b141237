"""Statement snapshots: ``monitrace.snapshot()`` and ``trace(watch=...)``.

Policy lives here, once per watched function: which AST statements are
snippets, which names each one mentions, its source text (the key, as
tracefunc spells it) and its span. The per-instruction work (which snippet
an offset belongs to, counting, reading the variables) is C: ``_core``'s
watch.c and snippets.c. The result has tracefunc's shape, so results
compare one to one: a list with one ``(stack_str, {snippet: (hits,
{name: [(type_name, repr), ...]})})`` per call, and ``.exc``.
"""

from __future__ import annotations

import ast
import dis
import inspect
import os
import sys
import sysconfig
import textwrap
from collections.abc import Callable, Iterable
from typing import Any

from . import filters
from .filters import Spec
from .model import core_import_error

try:
    from . import _core
except ImportError as exc:
    raise core_import_error(exc) from None

#: Verdict bit the C core reads as "watch this code object" (records.h).
WATCH = 8

_COMP_NODES = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_COMP_CODE_NAMES = frozenset({"<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>"})
_SNIPPET_NODES = (ast.stmt, ast.ExceptHandler, ast.match_case) + _COMP_NODES
#: Opcodes that end one step of a comprehension: one snapshot each.
_ITER_OPS = bytes(
    1 if dis.opname[op] in ("LIST_APPEND", "SET_ADD", "MAP_ADD", "YIELD_VALUE") else 0
    for op in range(256)
)


class Snapshots(list):  # type: ignore[type-arg]
    """What :func:`snapshot` and ``Session.snapshots()`` return: one
    ``(stack_str, {snippet: (hit_count, {name: [(type_name, repr), ...]})})``
    per recorded call, in call order. ``exc`` is the exception the function
    raised (or None); ``dropped`` counts what the caps left out (calls past
    max_calls, values past the total budget)."""

    exc: BaseException | None = None
    dropped: dict[str, int] = {}
    errors: list[str] = []


# ---- which names a snippet mentions ----------------------------------------


class _Names(ast.NodeVisitor):
    """Names a snippet mentions, its nested snippets and lambdas left out
    (they are snippets, or scopes, of their own); a comprehension's inner
    names belong to the comprehension's snippet, not to its statement."""

    def __init__(self, root: ast.AST) -> None:
        self.root = root
        self.found: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        self.found.add(node.id)

    def visit_Global(self, node: ast.Global | ast.Nonlocal) -> None:
        self.found.update(node.names)

    visit_Nonlocal = visit_Global

    def _own(self, node: ast.AST) -> bool:
        return node is self.root

    def _def(self, node: Any) -> None:
        if self._own(node):
            self.found.add(node.name)
            self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _def

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if self._own(node):
            if isinstance(node.name, str):
                self.found.add(node.name)
            self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs | ast.MatchStar) -> None:
        # Names a case pattern binds (tracefunc has no match support).
        if node.name is not None:
            self.found.add(node.name)
        self.generic_visit(node)

    visit_MatchStar = visit_MatchAs

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest is not None:
            self.found.add(node.rest)
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        if self._own(node):
            self.found.update(a.asname or a.name.split(".")[0] for a in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if self._own(node):
            self.found.update(a.asname or a.name for a in node.names)

    def generic_visit(self, node: ast.AST) -> None:
        if node is not self.root:
            if isinstance(node, (_SNIPPET_NODES, ast.Lambda)):
                return
            if isinstance(node, _COMP_NODES) and not isinstance(self.root, _COMP_NODES):
                return
        super().generic_visit(node)


# ---- a watched function's snippets ----------------------------------------


def _start(node: Any) -> tuple[int, int]:
    """Where a snippet starts. A ``case`` has no position of its own (its
    pattern has): it starts at the ``case`` keyword before the pattern,
    which _place_cases() found."""
    if isinstance(node, ast.match_case):
        start: tuple[int, int] = getattr(node, "_mt_start")  # noqa: B009 (set by _place_cases)
        return start
    return node.lineno, node.col_offset


def _header_end(node: Any) -> tuple[int, int]:
    """Where a snippet's text ends: a compound statement at its first
    inner statement (or case), anything else at its own end."""
    if not isinstance(node, _COMP_NODES):
        for field in ("body", "cases"):
            inner = getattr(node, field, None)
            if isinstance(inner, list) and inner:
                return _start(inner[0])
    return node.end_lineno, node.end_col_offset


def _place_cases(tree: ast.AST, lines: list[str]) -> None:
    """Give each ``case`` the position of its keyword (the last ``case``
    before its pattern: a pattern holds no such keyword before its own
    start on that line unless it is the keyword itself)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.match_case):
            ln, col = node.pattern.lineno, node.pattern.col_offset
            text = lines[ln - 1].encode()[:col].decode(errors="replace")
            at = text.rfind("case")
            node._mt_start = (ln, at if at >= 0 else col)  # type: ignore[attr-defined]


class Group:
    """One watched function and the code nested in its source: the
    snippets they share. The C core reads ``keys``, ``names``, ``spans``
    (lookup order, smallest first: (first line, column, last line, end
    column, snippet, is a comprehension)), ``iter_ops``, ``anchor`` and
    ``stack_mode``."""

    iter_ops = _ITER_OPS

    def __init__(self, code: Any, *, anchor: Any = None, stack_mode: int = 0) -> None:
        self.code = code
        self.anchor = anchor
        self.stack_mode = stack_mode
        self.filename = code.co_filename
        try:
            lines, first = inspect.getsourcelines(code)
        except (OSError, TypeError) as e:
            raise ValueError(f"watch: {code.co_qualname} has no source to read ({e})") from e
        src = textwrap.dedent("".join(lines))
        indent = min((len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()), default=0)
        try:
            tree = ast.parse(src)
        except SyntaxError as e:
            raise ValueError(f"watch: cannot parse the source of {code.co_qualname}") from e
        _place_cases(tree, src.splitlines())
        root = self._find_def(tree, code, code.co_firstlineno - first + 1)
        self.first = first + root.lineno - 1
        self.last = first + (root.end_lineno or root.lineno) - 1
        # The stack's paths are shown relative to the anchor's directory.
        self.base_dir = os.path.dirname((anchor or code).co_filename)

        nodes: list[Any] = []

        def collect(n: ast.AST) -> None:
            for child in ast.iter_child_nodes(n):
                if isinstance(child, _SNIPPET_NODES):
                    nodes.append(child)
                collect(child)

        collect(root)
        starts = [0]
        src_lines = src.splitlines(keepends=True)
        for ln in src_lines:
            starts.append(starts[-1] + len(ln))

        def index(lineno: int, col: int) -> int:
            if lineno < 1:
                return 0
            if lineno > len(src_lines):
                return len(src)
            return min(starts[lineno - 1] + max(col, 0), len(src))

        keys: list[str] = []
        names: list[tuple[str, ...]] = []
        spans: list[tuple[int, int, int, int, int, int]] = []
        seen: set[str] = set()
        for node in nodes:
            text = self._text(src, node, index)
            if not text:
                continue
            while text in seen:  # tracefunc keeps keys unique this way
                text += " "
            seen.add(text)
            collector = _Names(node)
            collector.visit(node)
            end_line, end_col = _header_end(node)
            ident = len(keys)
            keys.append(text)
            names.append(tuple(sorted(collector.found)))
            start_line, start_col = _start(node)
            spans.append(
                (
                    first + start_line - 1,
                    indent + start_col,
                    first + end_line - 1,
                    indent + end_col,
                    ident,
                    int(isinstance(node, _COMP_NODES)),
                )
            )
        # Smallest span first (a stable sort: ties keep source order).
        spans.sort(key=lambda s: (s[2] - s[0], s[3] - s[1]))
        self.keys = tuple(keys)
        self.names = tuple(names)
        self.spans = tuple(spans)
        self.base = []
        slot = 0
        for n in self.names:
            self.base.append(slot)
            slot += len(n)

    @staticmethod
    def _find_def(tree: ast.Module, code: Any, rel_line: int) -> Any:
        found = None
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                node.name == code.co_name
            ):
                if node.lineno == rel_line:
                    return node
                found = found or node
        if found is None:
            raise ValueError(f"watch: cannot find the definition of {code.co_qualname}")
        return found

    @staticmethod
    def _text(src: str, node: Any, index: Callable[[int, int], int]) -> str:
        start = index(*_start(node))
        text = src[start : index(*_header_end(node))].rstrip()
        if not text.strip() and hasattr(node, "end_lineno"):
            text = src[start : index(node.end_lineno, node.end_col_offset)].rstrip()
        text = text.strip()
        if not text:
            try:
                text = ast.unparse(node).strip()
            except Exception:
                pass
        if isinstance(node, ast.GeneratorExp) and not (text.startswith("(") and text.endswith(")")):
            text = f"({text})"
        return text

    def contains(self, code: Any) -> bool:
        """Code defined inside this function's source (an inner function,
        a generator expression): part of the same snippets."""
        return bool(
            code.co_filename == self.filename and self.first <= code.co_firstlineno <= self.last
        )

    def describe(self, code: Any) -> tuple[Group, bool, bool]:
        return (self, code is self.code, code.co_name in _COMP_CODE_NAMES)

    def stack_str(self, frames: tuple[tuple[str, str, int], ...] | None) -> str:
        if not frames:
            return ""
        return "\n".join(
            f"{qualname} ({_short_path(path, self.base_dir)}:{line})"
            for qualname, path, line in frames
        )


def _path_labels() -> list[tuple[str, str]]:
    """Prefixes shown as names in stacks (longest first), as tracefunc
    shows them."""
    out = []
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        out.append((os.path.realpath(venv), "$VIRTUAL_ENV"))
    home = os.path.expanduser("~")
    if home:
        out.append((os.path.realpath(home), "~"))
    for prefix, label in (
        (sys.prefix, "$PYTHON_PREFIX"),
        (getattr(sys, "base_prefix", None), "$PYTHON_BASE"),
        (getattr(sys, "exec_prefix", None), "$PYTHON_EXEC_PREFIX"),
        (getattr(sys, "base_exec_prefix", None), "$PYTHON_BASE_EXEC_PREFIX"),
    ):
        if prefix:
            out.append((os.path.realpath(prefix), label))
    paths = sysconfig.get_paths()
    for key, label in (
        ("purelib", "$SITE_PACKAGES"),
        ("platlib", "$PLAT_SITE_PACKAGES"),
        ("stdlib", "$PYTHON_STDLIB"),
        ("platstdlib", "$PYTHON_PLAT_STDLIB"),
    ):
        if key in paths:
            out.append((os.path.realpath(paths[key]), label))
    out.sort(key=lambda p: len(p[0]), reverse=True)
    return out


def _short_path(path: str, base: str) -> str:
    if base and path.startswith(base + os.sep):
        return os.path.relpath(path, base)
    if not os.path.isabs(path):
        return path
    for prefix, label in _path_labels():
        if path == prefix or path.startswith(prefix + os.sep):
            return label + path[len(prefix) :]
    return path


# ---- which code is watched ---------------------------------------------------


class Watcher:
    """Decides which code objects are watched and describes them to the C
    core. Roots are given (snapshot()) or matched by watch= specs; code
    nested in a root's source joins the root's group."""

    def __init__(
        self,
        roots: Iterable[Group] = (),
        specs: tuple[Spec, ...] = (),
        facts: Callable[[Any, str | None], Any] | None = None,
    ) -> None:
        self.groups: list[Group] = list(roots)
        self._by_root = {g.code: g for g in self.groups}
        self._specs = filters.spec_set(specs, "watch") if specs else None
        self._facts = facts
        self._pending: dict[Any, tuple[Group, bool, bool]] = {}
        self.unreadable: list[str] = []

    def wants(self, code: Any, module: str | None) -> bool:
        if not hasattr(code, "co_qualname"):
            return False
        group = self._by_root.get(code)
        if group is None and self._specs is not None and self._facts is not None:
            if self._specs(self._facts(code, module)):
                try:
                    group = Group(code, stack_mode=2)
                except ValueError as e:
                    self.unreadable.append(str(e))
                    return False
                self.groups.append(group)
                self._by_root[code] = group
        if group is None:
            group = next((g for g in self.groups if g.contains(code)), None)
        if group is None:
            return False
        self._pending[code] = group.describe(code)
        return True

    def describe(self, code: Any) -> tuple[Group, bool, bool] | None:
        return self._pending.pop(code, None)

    def filter(self, key: Any, module: str | None = None) -> int:
        """The filter of a session that only watches."""
        return filters.TRACE | WATCH if self.wants(key, module) else 0

    def unmatched(self) -> list[Spec]:
        return self._specs.unmatched() if self._specs is not None else []


def watching_filter(
    base: Callable[[Any, str | None], int], watcher: Watcher
) -> Callable[[Any, str | None], int]:
    """`base` (a session's filter), with watched code always traced and
    marked WATCH. `base` answers first: it leaves monitrace's own code out."""

    def verdict(key: Any, module: str | None = None) -> int:
        v = int(base(key, module))
        if (v or not _own(base, key)) and watcher.wants(key, module):
            v |= filters.TRACE | WATCH
        return v

    return verdict


def _own(base: Any, key: Any) -> bool:
    is_own = getattr(base, "is_own", None)
    return bool(is_own(key)) if is_own is not None else False


def results(raw: tuple[list[Any], dict[str, int]], incl_unhit: bool = False) -> Snapshots:
    """The C core's watch_results() in tracefunc's shape."""
    calls, info = raw
    out = Snapshots()
    for group, stack, counts, samples, _thread in calls:
        data = {}
        for i, key in enumerate(group.keys):
            if not counts[i] and not incl_unhit:
                continue
            base = group.base[i]
            data[key] = (
                counts[i],
                {name: list(samples[base + k] or ()) for k, name in enumerate(group.names[i])},
            )
        out.append((group.stack_str(stack), data))
    out.dropped = {k: v for k, v in info.items() if k.startswith("dropped")}
    return out


def _check_count(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be {low} or more, not {value}")


def _code_of(func: Any, name: str) -> Any:
    code = getattr(inspect.unwrap(func), "__code__", None)
    if code is None:
        raise TypeError(f"{name} must be a Python function, not {type(func).__name__}")
    return code


def snapshot(
    fn: Callable[..., Any],
    /,
    *args: Any,
    target: Callable[..., Any] | None = None,
    max_calls: int = 10,
    max_samples: int = 10,
    incl_unhit: bool = False,
    repr_limit: int = 80,
    max_values: int = 1_000_000,
    **kwargs: Any,
) -> Snapshots:
    """Run ``fn(*args, **kwargs)`` and return statement snapshots of each
    call of `target` (default `fn`): tracefunc's result shape. The stack
    of each call starts at `fn` when a `target` is given (tracefunc shows
    none otherwise)."""
    _check_count("max_calls", max_calls, 0)
    _check_count("max_samples", max_samples, 0)
    _check_count("max_values", max_values, 0)
    _check_count("repr_limit", repr_limit, 1)
    if not callable(fn):
        raise TypeError(f"fn must be callable, not {type(fn).__name__}")
    code = _code_of(fn if target is None else target, "target" if target else "fn")
    anchor = _code_of(fn, "fn") if target is not None else None
    group = Group(code, anchor=anchor, stack_mode=1 if target is not None else 0)
    watcher = Watcher([group])
    tracer = _core.Tracer(filter=watcher.filter, filter_module=True)
    tracer.watch_configure(
        watcher.describe,
        max_calls=max_calls,
        max_samples=max_samples,
        max_values=max_values,
        repr_limit=repr_limit,
    )
    tracer.start()
    exc = None
    try:
        fn(*args, **kwargs)
    except Exception as e:  # as tracefunc: kept in .exc, not raised
        exc = e
    finally:
        errors = tracer.stop()
    out = results(tracer.watch_results(), incl_unhit)
    out.exc = exc
    out.errors = list(errors)
    return out


def write_text(snaps: Snapshots, file: Any) -> None:
    """Snapshots as text, one block per call: each statement with its hit
    count and the last value sampled of each name it mentions."""
    if not snaps:
        print("watch: no call of a watched function was recorded", file=file)
    for n, (stack, data) in enumerate(snaps, 1):
        where = stack.splitlines()[-1] if stack else ""
        print(f"watch: call {n} of {len(snaps)}{': ' + where if where else ''}", file=file)
        width = min(max((len(k.splitlines()[0]) for k in data), default=0), 40)
        for key, (hits, values) in data.items():
            shown = " ".join(f"{name}={vals[-1][1]}" for name, vals in values.items() if vals)
            text = key.splitlines()[0]
            print(f"  {hits:>6}  {text:<{width}}  {shown}".rstrip(), file=file)
    dropped = {k: v for k, v in snaps.dropped.items() if v}
    if dropped:
        print("watch: dropped " + ", ".join(f"{k[8:]}={v}" for k, v in dropped.items()), file=file)
