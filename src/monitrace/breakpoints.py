"""Breakpoints with actions, and the error snooper (``on_error="errors"``).

The C core (``src/ccore/breakpoints.c``) asks :meth:`Targets.plan` once per code
object which of its lines hold a breakpoint; only those code objects get LINE
events, and only breakpoint lines keep them. A condition is compiled once per
code object into a function of the frame's variables it names, which the core
fetches from the frame and calls. When it holds, :meth:`Targets.fire` counts
the hit (``ignore``, ``temporary``) and runs the action. Nothing an action or
a condition raises reaches the program, except what pdb lets through: its
quit (``BdbQuit``, ``SystemExit``) and ``KeyboardInterrupt``. The rest is
reported when the session stops.
"""

from __future__ import annotations

import dataclasses
import dis
import os
import reprlib
import sys
import threading
import traceback
import types
import warnings
from collections.abc import Callable, Iterable
from typing import Any

ACTIONS = ("pdb", "print", "stack")
ON_ERROR = ("errors",)
#: Lines the error snooper keeps per frame (the core's MT_SNOOP_LINES).
ERROR_LINES = 10
#: Longest repr the print action and the error snooper show.
REPR_LIMIT = 80


class BreakpointWarning(UserWarning):
    """A breakpoint never matched, or an action or condition failed (said
    when the session stops)."""


@dataclasses.dataclass(frozen=True)
class Breakpoint:
    """Where to stop and what to do there.

    ``where`` is ``"path/file.py:LINE"`` (a relative path matches the end of
    a code object's file name) or ``"pkg.mod.func"`` (the function's first
    line); either may end in ``" if EXPR"`` when no ``condition`` is given.
    ``action`` is ``"pdb"``, ``"print"``, ``"stack"`` or a callable that
    receives the frame. The first ``ignore`` hits (with the condition true)
    are skipped; a ``temporary`` breakpoint fires once.
    """

    where: str
    condition: str | None = None
    action: str | Callable[[types.FrameType], Any] = "pdb"
    ignore: int = 0
    temporary: bool = False
    # Parsed by __post_init__.
    path: str | None = dataclasses.field(default=None, init=False, compare=False)
    line: int | None = dataclasses.field(default=None, init=False, compare=False)
    function: str | None = dataclasses.field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.where, str) or not self.where.strip():
            raise TypeError(f"breakpoints: where must be a non-empty str, not {self.where!r}")
        where, sep, cond = self.where.partition(" if ")
        where = where.strip()
        if sep:
            if self.condition is not None:
                raise ValueError(f"breakpoints: {self.where!r} has a condition and condition= too")
            object.__setattr__(self, "condition", cond.strip())
        object.__setattr__(self, "where", where)
        if self.condition is not None:
            if not isinstance(self.condition, str) or not self.condition.strip():
                raise TypeError(
                    f"breakpoints: the condition of {where!r} must be a non-empty str, "
                    f"not {self.condition!r}"
                )
            try:
                compile(self.condition, f"<condition of {where}>", "eval")
            except SyntaxError as exc:
                raise ValueError(
                    f"breakpoints: the condition {self.condition!r} of {where!r} is not "
                    f"a valid expression: {exc.msg}"
                ) from None
        if not (callable(self.action) or self.action in ACTIONS):
            raise ValueError(
                f"breakpoints: action of {where!r} must be one of "
                f"{', '.join(map(repr, ACTIONS))} or a callable, not {self.action!r}"
            )
        if not isinstance(self.ignore, int) or isinstance(self.ignore, bool) or self.ignore < 0:
            raise ValueError(
                f"breakpoints: ignore of {where!r} must be an int >= 0, not {self.ignore!r}"
            )
        if not isinstance(self.temporary, bool):
            raise TypeError(
                f"breakpoints: temporary of {where!r} must be True or False, not {self.temporary!r}"
            )
        path, colon, line = where.rpartition(":")
        if colon and line.strip().isdigit():
            if not path:
                raise ValueError(f"breakpoints: {where!r} names no file")
            object.__setattr__(self, "path", os.path.normpath(path))
            object.__setattr__(self, "line", int(line))
            if int(line) < 1:
                raise ValueError(f"breakpoints: {where!r}: lines start at 1")
            _check_file_line(where, path, int(line))
        elif all(part.isidentifier() for part in where.split(".")):
            object.__setattr__(self, "function", where)
        else:
            raise ValueError(
                f"breakpoints: {where!r} is neither 'path/file.py:LINE' nor 'pkg.mod.func'"
            )

    def __str__(self) -> str:
        return self.where + (f" if {self.condition}" if self.condition else "")


def normalize(value: Any) -> tuple[Breakpoint, ...]:
    """The breakpoints= option as Breakpoint objects (strings parsed)."""
    if value is None:
        return ()
    if isinstance(value, (str, Breakpoint)):
        value = [value]
    if not isinstance(value, Iterable):
        raise TypeError(f"breakpoints must be a list of str or Breakpoint, not {value!r}")
    out = []
    for item in value:
        if isinstance(item, str):
            item = Breakpoint(item)
        elif not isinstance(item, Breakpoint):
            raise TypeError(
                f"breakpoints: each item is a str or a monitrace.Breakpoint, not {item!r}"
            )
        out.append(item)
    return tuple(out)


def _code_lines(code: types.CodeType) -> set[int]:
    """Lines that hold code in `code` and the code objects nested in it."""
    lines = {line for _, _, line in code.co_lines() if line is not None}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            lines |= _code_lines(const)
    return lines


def _check_file_line(where: str, path: str, line: int) -> None:
    """A file that exists now must have code on `line` (else the
    breakpoint could never stop)."""
    if not os.path.isfile(path):
        return  # matched against file names while running; said at stop if never
    try:
        with open(path, "rb") as f:
            source = f.read()
        code = compile(source, path, "exec", dont_inherit=True)
    except (OSError, SyntaxError, ValueError):
        return
    nlines = source.count(b"\n") + (0 if source.endswith(b"\n") or not source else 1)
    if line not in _code_lines(code) - {0}:
        why = "past the end of the file" if line > nlines else "blank, a comment or no statement"
        raise ValueError(f"breakpoints: {where!r}: line {line} of {path} has no code ({why})")


def _first_body_line(code: types.CodeType) -> int | None:
    """The first line a call of `code` runs (after RESUME)."""
    resume = dis.opmap.get("RESUME")
    seen_resume = False
    for ins in dis.get_instructions(code):
        if not seen_resume:
            seen_resume = ins.opcode == resume or ins.opname == "RESUME"
            continue
        line = ins.positions.lineno if ins.positions is not None else None
        if line is not None:
            return line
    return None


def _names(code: types.CodeType) -> list[str]:
    """Every name an expression's code uses, nested scopes included."""
    out = list(code.co_names) + list(code.co_varnames) + list(code.co_freevars)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out += _names(const)
    return out


_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = REPR_LIMIT
_repr.maxlong = REPR_LIMIT


def short_repr(value: Any) -> str:
    """A bounded repr that never raises."""
    try:
        text = _repr.repr(value)
    except Exception as exc:  # a broken __repr__ is the program's business
        text = f"<repr failed: {type(exc).__name__}>"
    return text if len(text) <= REPR_LIMIT else text[: REPR_LIMIT - 3] + "..."


def _location(frame: types.FrameType) -> str:
    code = frame.f_code
    return f"{code.co_filename}:{frame.f_lineno} {code.co_qualname}()"


def print_action(frame: types.FrameType) -> None:
    """One line: the location, then the frame's local variables."""
    variables = " ".join(f"{k}={short_repr(v)}" for k, v in frame.f_locals.items())
    print(f"monitrace: {_location(frame)} {variables}".rstrip(), file=sys.stderr, flush=True)


def stack_action(frame: types.FrameType) -> None:
    """The call stack that led to the line."""
    text = "".join(traceback.format_stack(frame))
    print(
        f"monitrace: {_location(frame)}, called from:\n{text}", end="", file=sys.stderr, flush=True
    )


# pdb reads one terminal: one thread at a time stops in it.
_pdb_lock = threading.Lock()


def pdb_action(frame: types.FrameType) -> None:
    """Open pdb stopped at the frame's current line, in that frame. `c`
    goes on (tracing off again), `n` and `s` step as in pdb, `q` raises
    BdbQuit in the program, as pdb's quit does."""
    import bdb
    import pdb

    with _pdb_lock:
        debugger = pdb.Pdb()
        # set_trace(frame) installs pdb's tracing for `frame` and its
        # callers (what n, s, r and c work with) and would stop at the next
        # event; we stop here and now instead.
        debugger.set_trace(frame)
        debugger.interaction(frame, None)
        if debugger.quitting:
            raise bdb.BdbQuit


_ACTIONS: dict[str, Callable[[types.FrameType], None]] = {
    "pdb": pdb_action,
    "print": print_action,
    "stack": stack_action,
}


@dataclasses.dataclass
class _State:
    """What changes as a breakpoint runs."""

    hits: int = 0
    ignore: int = 0
    matched: bool = False
    spent: bool = False


class Targets:
    """The Python half of a session's breakpoints and error snooper."""

    def __init__(self, breakpoints: tuple[Breakpoint, ...], on_error: str | None) -> None:
        self.breakpoints = breakpoints
        self.on_error = on_error
        self.state = {id(bp): _State(ignore=bp.ignore) for bp in breakpoints}
        self.problems: list[str] = []
        self._by_file: dict[str, list[Breakpoint]] = {}
        self._by_name: dict[str, list[Breakpoint]] = {}
        for bp in breakpoints:
            if bp.path is not None:
                self._by_file.setdefault(os.path.basename(bp.path), []).append(bp)
            else:
                assert bp.function is not None
                self._by_name.setdefault(bp.function.rpartition(".")[2], []).append(bp)
        self._said: set[str] = set()
        # Where report() writes: None for warnings (the API), a stream for
        # plain lines (the command line).
        self.stream: Any = None
        self._snoop_cache: dict[tuple[types.CodeType, int], list[str]] = {}

    def install(self, tracer: Any) -> None:
        tracer.set_targets(
            planner=self.plan if self.breakpoints else None,
            fire=self.fire if self.breakpoints else None,
            on_error=self.snoop if self.on_error else None,
        )

    # ---- called by the core --------------------------------------------

    def plan(self, code: types.CodeType, module: str | None, globals_: Any) -> Any:
        """(line, condition, its parameters, bp) for every breakpoint in
        `code`, or None (most code objects: two dict lookups)."""
        found: list[tuple[Breakpoint, int]] = []
        for bp in self._by_file.get(os.path.basename(code.co_filename), ()):
            if (
                bp.line is not None
                and _path_matches(code.co_filename, bp.path)
                and bp.line in _own_lines(code)
            ):
                found.append((bp, bp.line))
        for bp in self._by_name.get(code.co_name, ()):
            if _function_matches(code, _module_names(module, globals_), bp.function):
                line = _first_body_line(code)
                if line is not None:
                    found.append((bp, line))
        if not found:
            return None
        plan = []
        for bp, line in found:
            self.state[id(bp)].matched = True
            cond: Any = None
            params: Any = None
            if bp.condition is not None:
                cond, params = _condition_function(bp.condition, code, globals_)
            plan.append((line, cond, params, bp))
        return plan

    def fire(self, bp: Breakpoint, frame: types.FrameType, error: BaseException | None) -> bool:
        """A breakpoint's condition held (or raised: `error`). Returns
        whether `bp` is spent."""
        state = self.state[id(bp)]
        if error is not None:
            self._problem(f"breakpoint {bp}: the condition raised {error!r}")
            return False
        if state.spent:
            return True
        state.hits += 1
        if state.ignore > 0:
            state.ignore -= 1
            return False
        state.spent = bp.temporary
        action = _ACTIONS[bp.action] if isinstance(bp.action, str) else bp.action
        try:
            action(frame)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            import bdb

            if isinstance(exc, bdb.BdbQuit):
                raise
            self._problem(f"breakpoint {bp}: the action raised {exc!r}")
        return state.spent

    def snoop(
        self, frame: types.FrameType | None, lines: tuple[int, ...], exc: BaseException
    ) -> None:
        """An exception leaves `frame`: print the lines that ran there."""
        if frame is None:
            return
        try:
            text = self._error_text(frame, lines, exc)
        except Exception as failure:
            self._problem(f"on_error: could not describe {exc!r}: {failure!r}")
            return
        print(text, end="", file=sys.stderr, flush=True)

    # ---- reporting -------------------------------------------------------

    def _problem(self, message: str) -> None:
        if len(self.problems) < 100:
            self.problems.append(message)

    def unmatched(self) -> list[str]:
        """One line per breakpoint that has matched no code so far."""
        return [
            f"monitrace: breakpoint {bp.where!r} never matched any code that ran"
            for bp in self.breakpoints
            if not self.state[id(bp)].matched
        ]

    def report(self) -> None:
        """Warn about failures and never matched breakpoints (at stop)."""
        problems, self.problems = self.problems, []
        for message in problems + self.unmatched():
            if message in self._said and "never matched" in message:
                continue
            self._said.add(message)
            if self.stream is not None:
                print(
                    message if message.startswith("monitrace:") else f"monitrace: {message}",
                    file=self.stream,
                    flush=True,
                )
            else:
                # Point at the user's line that stopped the session.
                warnings.warn(
                    message, BreakpointWarning, skip_file_prefixes=(os.path.dirname(__file__),)
                )

    # ---- the error snooper ---------------------------------------------

    def _line_names(self, code: types.CodeType, line: int) -> list[str]:
        key = (code, line)
        names = self._snoop_cache.get(key)
        if names is None:
            names = []
            for ins in dis.get_instructions(code):
                if ins.positions is None or ins.positions.lineno != line:
                    continue
                if not any(k in ins.opname for k in ("FAST", "DEREF", "NAME")):
                    continue
                values = ins.argval if isinstance(ins.argval, tuple) else (ins.argval,)
                for v in values:
                    if isinstance(v, str) and v not in names:
                        names.append(v)
            self._snoop_cache[key] = names
        return names

    def _error_text(
        self, frame: types.FrameType, lines: tuple[int, ...], exc: BaseException
    ) -> str:
        import linecache

        code = frame.f_code
        values = frame.f_locals
        out = [
            f"monitrace: {type(exc).__name__}: {short_repr(str(exc))[1:-1]} left "
            f"{code.co_qualname}() at {code.co_filename}:{frame.f_lineno}; "
            f"the last lines it ran:\n"
        ]
        for line in lines:
            source = linecache.getline(code.co_filename, line, frame.f_globals).strip()
            shown = " ".join(
                f"{name}={short_repr(values[name])}"
                for name in self._line_names(code, line)
                if name in values and not _is_definition(values[name])
            )
            out.append(f"  {line:>5} | {source}" + (f"    # {shown}" if shown else "") + "\n")
        return "".join(out)


def _is_definition(value: Any) -> bool:
    """Functions, classes and modules: names, not the data of a line."""
    return isinstance(
        value, (types.FunctionType, types.BuiltinFunctionType, type, types.ModuleType)
    )


def _own_lines(code: types.CodeType) -> set[int]:
    return {line for _, _, line in code.co_lines() if line is not None}


def _path_matches(filename: str, path: str | None) -> bool:
    """`path` (absolute, or relative: the end of `filename`)."""
    if path is None:
        return False
    name = os.path.normpath(filename)
    if os.path.isabs(path):
        return name == path or os.path.realpath(name) == os.path.realpath(path)
    return name == path or name.endswith(os.sep + path)


def _module_names(module: str | None, globals_: Any) -> tuple[str, ...]:
    """The names a function spec may give the module: its __name__, and
    for __main__ also the name it was run by (``-m pkg.mod``, or the file
    name of a script)."""
    if module is None:
        return ()
    if module != "__main__" or not isinstance(globals_, dict):
        return (module,)
    names = [module]
    spec_name = getattr(globals_.get("__spec__"), "name", None)
    if isinstance(spec_name, str):
        names.append(spec_name)
    file = globals_.get("__file__")
    if isinstance(file, str):
        names.append(os.path.splitext(os.path.basename(file))[0])
    return tuple(names)


def _function_matches(code: types.CodeType, modules: tuple[str, ...], spec: str | None) -> bool:
    if spec is None:
        return False
    qualname = code.co_qualname
    plain = qualname.replace("<locals>.", "")
    return any(spec in (f"{m}.{qualname}", f"{m}.{plain}") for m in modules)


def _condition_function(
    text: str, code: types.CodeType, globals_: Any
) -> tuple[Any, tuple[str, ...]]:
    """The condition as a function whose parameters are the variables of
    `code` it reads (the core passes their values from the frame); other
    names are the module's globals, as in the frame."""
    used = _names(compile(text, "<condition>", "eval"))
    own = set(code.co_varnames) | set(code.co_cellvars) | set(code.co_freevars)
    params = tuple(dict.fromkeys(n for n in used if n in own))
    source = f"lambda {', '.join(params)}: ({text})"
    scope = globals_ if isinstance(globals_, dict) else {}
    function = eval(compile(source, f"<condition {text}>", "eval"), scope)
    return function, params
