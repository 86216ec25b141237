"""The call tree, in pyftrace's shape: post hoc from recorded events, or
live while the program runs.

    Called foo:1 from line 8
        Called bar:5 from line 2
        Returning bar-> 20
    Returning foo-> 10

The text is made in C (``src/ccore/treefmt.c``), for the live tree as events
happen and for ``Session.tree()`` by replaying the log. This module keeps
the policy: the style, colours on or off, which code is hidden, and the
names the formatter prints, asked for once per function (never per event).
"""

from __future__ import annotations

import dataclasses
import linecache
import os
from collections.abc import Callable, Collection, Sequence
from typing import Any

from .events import exception_name
from .model import NameTable, function_name, identity, short_path


def want_color(stream: Any, override: bool | None = None) -> bool:
    """Colours only on a terminal; NO_COLOR turns them off, FORCE_COLOR on
    (https://no-color.org, https://force-color.org); ``override`` wins."""
    if override is not None:
        return override
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


@dataclasses.dataclass(slots=True)
class TreeStyle:
    path: bool = False
    elapsed: bool = False
    depth: int | None = None
    color: bool = False
    full_paths: bool = False
    # Library code: "all" of it, or its "first" frame below other code.
    library: str = "all"


#: What the C formatter keeps per function: (display name, first line,
#: file shown with path=True, file name shown for lines, full file name,
#: Python code?, hidden?, library code?).
TreeName = tuple[str, int, str, str, str, bool, bool, bool]


def tree_name(fn: Any, key: Any, hidden: Collection[Any], full_paths: bool) -> TreeName:
    """The formatter's names of `fn` (a model.FunctionName)."""
    python = fn.kind == "python"
    shown_file = fn.filename if full_paths or not python else fn.short_file
    try:
        is_hidden = key is not None and key in hidden
    except TypeError:  # an unhashable key is no code object we hide
        is_hidden = False
    return (
        fn.display,
        int(fn.firstlineno),
        shown_file,
        os.path.basename(fn.filename),
        fn.filename,
        python,
        is_hidden,
        bool(fn.library),
    )


def live_namer(hidden: Collection[Any], full_paths: bool) -> Callable[[int, Any, Any], TreeName]:
    """The namer of the live tree: called once per new record with its
    key (a code object or a C function's key) and module."""

    def namer(index: int, key: Any, module: Any) -> TreeName:
        kind = (
            "py" if hasattr(key, "co_code") or (isinstance(key, tuple) and len(key) == 5) else "c"
        )
        return tree_name(function_name(identity(kind, key, module)), key, hidden, full_paths)

    return namer


def replay_namer(
    records: Callable[[], Sequence[Any]], hidden: Collection[Any], full_paths: bool
) -> Callable[[int, Any, Any], TreeName]:
    """The namer of a replay: the names of the log's records (one
    NameTable, as every reader names them), refreshed when the log has
    grown since."""
    table = NameTable(records())

    def namer(index: int, key: Any, module: Any) -> TreeName:
        if index >= len(table):
            table.reset(records())
        return tree_name(table[index], table.key(index), hidden, full_paths)

    return namer


def source_line(filename: str, line: int) -> str:
    return linecache.getline(filename, line).strip()


def spec(
    style: TreeStyle,
    namer: Callable[[int, Any, Any], TreeName],
    *,
    prefix: bool | None,
    min_ns: int = 0,
) -> dict[str, Any]:
    """The C formatter's configuration (see src/ccore/treefmt.h)."""
    return {
        "namer": namer,
        "source_line": source_line,
        "exc_name": exception_name,
        "shorten": None if style.full_paths else short_path,
        "path": style.path,
        "elapsed": style.elapsed,
        "color": style.color,
        "depth": style.depth or 0,
        "prefix": prefix,
        "min_ns": min_ns,
        "library_first": style.library == "first",
    }


def hidden_note(calls: int) -> str:
    """The line that ends a tree that left library code out."""
    return (
        f"monitrace: {calls:,} call{'s' if calls != 1 else ''} in library code not "
        "shown; --all shows them"
    )
