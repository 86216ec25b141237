"""Which recorded functions a user means by a name: ``Session.calls()``
and the assertion helpers take the name as users write it.

A target is, in the order tried:

- a function object (a function, method, classmethod, staticmethod, a
  ``functools.wraps`` wrapper of one, or a C function such as ``len``):
  the records of its code (or of that C function);
- a string equal to a record's full name, ``module.qualname``;
- a bare qualname (``Markdown.convert``, ``helper``) that one module has;
- a dotted name that imports (``markdown.Markdown.convert``, a re-export of
  ``markdown.core.Markdown.convert``): the records of the object it names;
- a bare function name, ``co_name`` (``convert``), when only one recorded
  function has it.

Anything else names no known function: ``calls()`` counts 0, and the
assertion helpers refuse it rather than pass or fail on a typo.
"""

from __future__ import annotations

import dataclasses
import functools
import pkgutil
import types
from collections.abc import Sequence
from typing import Any

from .model import c_identity as _c_identity
from .report import FunctionStats

_C_FUNCTION_TYPES = (
    types.BuiltinFunctionType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.ClassMethodDescriptorType,
    types.MethodWrapperType,
)
# __wrapped__ chains longer than this are taken as a loop.
_MAX_UNWRAP = 100


@dataclasses.dataclass(frozen=True, slots=True)
class Resolved:
    """What a target stands for: a label for messages, the matching
    records, and whether it names a known function (recorded, or a
    function object, given or imported)."""

    label: str
    matches: list[FunctionStats]
    known: bool


def resolve(target: Any, recorded: Sequence[FunctionStats]) -> Resolved:
    """The records `target` (a name or a function object) stands for.
    Raises TypeError for a target that is neither, and ValueError for a
    bare name that several functions have."""
    if not isinstance(target, str):
        if not callable(target) and not isinstance(target, (staticmethod, classmethod)):
            raise TypeError(f"name must be a non-empty str or a function, not {target!r}")
        found = _function_records(target, recorded)
        if found is None:
            raise TypeError(
                f"{target!r} is not a function: pass a function, a method or a "
                "C function (or its name)"
            )
        return found
    if not target:
        raise TypeError("name must be a non-empty str or a function, not ''")
    full = [s for s in recorded if s.full_name == target]
    if full:
        return Resolved(target, full, True)
    bare = [s for s in recorded if s.qualname == target]
    if bare:
        _check_one(target, bare)
        return Resolved(target, bare, True)
    if "." in target:
        obj = _import(target)
        found = _function_records(obj, recorded) if obj is not None else None
        if found is not None:
            return Resolved(target, found.matches, True)
    else:
        by_name = [s for s in recorded if s.kind == "python" and s.name == target]
        if by_name:
            _check_one(target, by_name)
            return Resolved(target, by_name, True)
    return Resolved(target, [], False)


def _check_one(name: str, records: list[FunctionStats]) -> None:
    """Refuse a bare name that stands for more than one function."""
    names = {s.full_name for s in records}
    if len(names) > 1:
        raise ValueError(f"{name!r} is ambiguous; use one of: " + ", ".join(sorted(names)))


def _import(name: str) -> Any:
    """The object a dotted name imports as, or None."""
    try:
        return pkgutil.resolve_name(name)
    except (ImportError, AttributeError, ValueError):
        return None


def _unwrap(obj: Any) -> Any:
    """The function under bound methods, classmethod/staticmethod objects,
    partials and ``functools.wraps`` wrappers."""
    for _ in range(_MAX_UNWRAP):
        if isinstance(obj, (staticmethod, classmethod, types.MethodType)):
            obj = obj.__func__
        elif isinstance(obj, functools.partial):
            obj = obj.func
        elif not isinstance(obj, type) and hasattr(obj, "__wrapped__"):
            obj = obj.__wrapped__
        else:
            return obj
    return obj


def _function_records(obj: Any, recorded: Sequence[FunctionStats]) -> Resolved | None:
    """The records of a function object, or None if `obj` is none."""
    func = _unwrap(obj)
    if isinstance(func, types.FunctionType):
        code = func.__code__
        module = getattr(func, "__module__", None)
        label = f"{module}.{code.co_qualname}" if module else code.co_qualname
        matches = [
            s
            for s in recorded
            if s.kind == "python"
            and s.firstlineno == code.co_firstlineno
            and s.filename == code.co_filename
            and s.qualname == code.co_qualname
        ]
        return Resolved(label, matches, True)
    if isinstance(func, _C_FUNCTION_TYPES):
        from . import _core  # the names C records carry

        key = _core.c_function_key(func)
        if key is None:
            return None
        _label, qualname, module = _c_identity(key)
        label = f"{module}.{qualname}" if module else qualname
        matches = [s for s in recorded if s.kind == "c" and s.full_name == label]
        return Resolved(label, matches, True)
    return None
