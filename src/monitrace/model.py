"""The one data model between the C core and everything that reads it.

- :class:`Kind`: event kinds, numbered as the C event log numbers them
  (``_core.EVENT_KINDS``; :func:`check_core` compares the two at import).
- :class:`FunctionName` and :class:`NameTable`: what every reader (the
  report, trees, exporters, the pytest plugin, the CLI) calls a function,
  computed once per record of a snapshot.
- :func:`short_path`: file names as people read them, relative to the
  working directory, ``site-packages/`` or ``<stdlib>/``.

Times stay in clock ticks until they are summed; readers convert with the
snapshot's ``ns_per_tick`` once, at the end.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from .places import Places


class Kind(enum.IntEnum):
    """What a recorded event says, by the number the C log stores."""

    CALL = 0  # a Python function started (PY_START)
    RETURN = 1  # it returned (PY_RETURN)
    RAISE = 2  # an exception left it (PY_UNWIND)
    YIELD = 3  # a generator or coroutine suspended (PY_YIELD)
    RESUME = 4  # it resumed (PY_RESUME: next(), send(), await)
    THROW = 5  # it resumed by throw() (PY_THROW)
    C_CALL = 6  # a C function was called (c_calls=True)
    C_RETURN = 7  # it returned
    C_RAISE = 8  # it raised
    LINE = 9  # a line is about to run (lines=True)


#: Kind names by number ("call", "return", ...): Event.kind's values.
KIND_NAMES: Final = tuple(k.name.lower() for k in Kind)
#: Kinds that put an activation on the thread's stack.
ENTERS: Final = frozenset({Kind.CALL, Kind.RESUME, Kind.THROW, Kind.C_CALL})
#: Kinds that start a new call (not a resumption).
CALLS: Final = frozenset({Kind.CALL, Kind.C_CALL})
#: Kinds that take one off.
EXITS: Final = frozenset({Kind.RETURN, Kind.RAISE, Kind.YIELD, Kind.C_RETURN, Kind.C_RAISE})


def core_import_error(exc: ImportError) -> ImportError:
    """What to raise when ``from . import _core`` failed with `exc`: on an
    unbuilt source tree (no extension beside the package), an error that
    says so, rather than a confusing one later; else `exc` itself."""
    import importlib.util

    if importlib.util.find_spec("monitrace._core") is not None:
        return exc
    where = os.path.dirname(os.path.abspath(__file__))
    return ImportError(
        "monitrace._core, the C extension, is not built: Python found the "
        f"package in {where} without it. Install monitrace (pip install ., "
        "or `make dev` for an editable install) rather than importing it from "
        "an unbuilt source tree."
    )


def check_core(core: Any) -> None:
    """Fail loudly when the C core numbers event kinds differently from
    :class:`Kind` (a core built from other sources than this package)."""
    theirs = tuple(getattr(core, "EVENT_KINDS", ()))
    if theirs != KIND_NAMES:
        raise ImportError(
            f"monitrace._core numbers event kinds {theirs!r}, the Python side "
            f"{KIND_NAMES!r}: rebuild the extension from this source tree"
        )


class LogEvent(NamedTuple):
    """One recorded event as the C log holds it (``Tracer.log_batch``'s
    tuples have these fields, in this order). ``thread`` and ``function``
    are C's indexes: into the log's thread table and the snapshot's
    ``records`` (the same record numbering). Times are ns on the session's
    monotonic scale; the captures are None unless the session asked for
    them (``exc_type`` is the exception's type)."""

    kind: int
    time_ns: int
    thread: int
    function: int
    depth: int = 0
    line: int = 0
    args: tuple[tuple[str, str], ...] | None = None
    retval: str | None = None
    exc_type: Any = None
    exc_repr: str | None = None
    caller_filename: str | None = None


class ThreadInfo(NamedTuple):
    """A thread of the log, by C's thread index."""

    ident: int
    native_id: int
    name: str | None


# ---- function names ----------------------------------------------------------

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _type_lookup(cls: Any, name: str) -> Any:
    """What ``cls.name`` resolves to through the MRO dicts, unbound
    (CPython's _PyType_Lookup); KeyError if nothing defines it."""
    for base in getattr(cls, "__mro__", ()):
        namespace = vars(base)
        if name in namespace:
            return namespace[name]
    raise KeyError(name)


def c_identity(key: tuple[str, Any, str | None, str]) -> tuple[str, str, str]:
    """(cProfile label, qualname, module) of a C function, from the record
    key the core makes for it: ``(name, owner, module, binding)`` (see
    records.c). The label is the one cProfile gives the function, with any
    ``at 0x...`` address left out; qualname and module name it readably
    (``dict.fromkeys``, ``builtins``)."""
    name, owner, module, binding = key
    label = None
    if binding == "unbound":
        label = f"<{module}.{name}>" if module and module != "builtins" else f"<{name}>"
    elif binding in ("class", "method") and owner is not None:
        # cProfile shows repr(type(self).name) when that exists: for a
        # method, its descriptor; for a class-bound function, whatever the
        # metaclass has under that name (type.__new__ for `__new__`).
        try:
            found = _type_lookup(type(owner) if binding == "class" else owner, name)
            label = _ADDRESS.sub("", repr(found))
        except Exception:
            label = None
    if label is None:
        label = f"<built-in method {module}.{name}>" if module else f"<built-in method {name}>"
    if owner is not None:
        return label, f"{owner.__qualname__}.{name}", getattr(owner, "__module__", "") or ""
    return label, name, module or ""


_MODULE_BY_FILE: dict[str, str] = {}


def module_for_file(filename: str) -> str:
    if not _MODULE_BY_FILE or filename not in _MODULE_BY_FILE:
        for modname, mod in list(sys.modules.items()):
            f = getattr(mod, "__file__", None)
            if f:
                _MODULE_BY_FILE.setdefault(f, modname)
    return _MODULE_BY_FILE.get(filename, "")


def identity(kind: str, key: Any, module: str | None) -> dict[str, Any]:
    """name, qualname, module, filename, firstlineno and kind ("python" or
    "c") of a snapshot record (its kind, key and module fields): the fields
    FunctionStats and FunctionInfo share."""
    if kind == "py" and not hasattr(key, "co_name"):
        # A code object that died: the tracer kept (name, qualname,
        # filename, firstlineno, module), or None late at exit.
        name, qualname, filename, firstlineno, mod = key or ("<dead code>",) * 3 + (0, "")
        return dict(
            name=name,
            qualname=qualname,
            module=mod or "",
            filename=filename,
            firstlineno=firstlineno,
            kind="python",
        )
    if kind == "py":
        return dict(
            name=key.co_name,
            qualname=key.co_qualname,
            module=module if module is not None else module_for_file(key.co_filename),
            filename=key.co_filename,
            firstlineno=key.co_firstlineno,
            kind="python",
        )
    label, qualname, cmod = c_identity(key)
    return dict(name=label, qualname=qualname, module=cmod, filename="~", firstlineno=0, kind="c")


@dataclasses.dataclass(frozen=True, slots=True)
class FunctionName:
    """Every name of one function, as all readers print it.

    ``name`` is the code's name, or a C function's cProfile label
    (``<built-in method builtins.len>``); ``full_name`` the readable
    ``module.qualname`` (``builtins.len``, ``pkg.mod.Class.method``), the
    one the report, trees and event exports show; ``display`` the tree's
    short form (qualname without ``<locals>``); ``label`` cProfile's
    ``file:line(name)``; ``short_file`` the file for people
    (:func:`short_path`); ``library``: stdlib or site-packages code."""

    name: str
    qualname: str
    module: str
    filename: str
    firstlineno: int
    kind: str
    full_name: str
    display: str
    short_file: str
    library: bool


def function_name(ident: dict[str, Any], places: Any = None) -> FunctionName:
    """The FunctionName of an :func:`identity` dict."""
    module, qualname, filename = ident["module"], ident["qualname"], ident["filename"]
    if places is None:
        places = _places()
    if ident["kind"] == "c":
        library = places.of_module(module) != (False, False) if module else True
    else:
        library = places.of_code(filename, module) != (False, False)
    return FunctionName(
        name=ident["name"],
        qualname=qualname,
        module=module,
        filename=filename,
        firstlineno=ident["firstlineno"],
        kind=ident["kind"],
        full_name=f"{module}.{qualname}" if module else qualname,
        display=qualname.replace(".<locals>", ""),
        short_file=short_path(filename) if ident["kind"] == "python" else filename,
        library=library,
    )


_PLACES: list[Any] = []


def _places() -> Any:
    if not _PLACES:
        _PLACES.append(Places())
    return _PLACES[0]


class NameTable:
    """The names of a snapshot's records, by record index, made on first
    use and kept (a record's index names the same function for the life of
    the session's data)."""

    def __init__(self, records: Sequence[Any]) -> None:
        self._records = records
        self._names: dict[int, FunctionName] = {}

    def reset(self, records: Sequence[Any]) -> None:
        """Newer records (a later snapshot of the same data)."""
        self._records = records

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> FunctionName:
        found = self._names.get(index)
        if found is None:
            kind, key, module = self._records[index][:3]
            found = self._names[index] = function_name(identity(kind, key, module))
        return found

    def key(self, index: int) -> Any:
        """The record's key: the code object, or a C function's key tuple."""
        return self._records[index][1]


# ---- paths ---------------------------------------------------------------------

_STDLIB_DIRS: list[str] = []


def _stdlib_dirs() -> list[str]:
    if not _STDLIB_DIRS:
        import sysconfig

        paths = sysconfig.get_paths()
        found = {paths.get("stdlib"), paths.get("platstdlib"), os.path.dirname(os.__file__)}
        _STDLIB_DIRS.extend(
            sorted({os.path.normpath(p) for p in found if p}, key=len, reverse=True)
        )
    return _STDLIB_DIRS


def short_path(filename: str, cwd: str | None = None) -> str:
    """`filename` as people read it: relative to the working directory
    when under it, ``site-packages/pkg/mod.py`` for installed packages,
    ``<stdlib>/json/__init__.py`` for the standard library; otherwise (and
    for ``<string>``-style names) unchanged."""
    if not filename or filename.startswith("<") or filename == "~":
        return filename
    path = os.path.normpath(filename)
    if not os.path.isabs(path):
        return path
    parts = path.split(os.sep)
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            at = len(parts) - 1 - parts[::-1].index(marker)
            return "/".join(parts[at:])
    here = os.path.normpath(cwd if cwd is not None else _cwd())
    if here != os.sep and path.startswith(here + os.sep):
        return path[len(here) + 1 :]
    for std in _stdlib_dirs():
        if path.startswith(std + os.sep):
            return "<stdlib>/" + path[len(std) + 1 :]
    return path


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError:  # the directory was removed
        return os.sep
