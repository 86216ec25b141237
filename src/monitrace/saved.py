"""Saved results read back: a session's JSON (``monitrace/1``), the pytest
plugin's summaries and a pstats file (monitrace's or cProfile's) become
:class:`~monitrace.report.FunctionStats`, whatever wrote them. Read by
``monitrace diff``, ``view``, ``merge``, the HTML report and the
subprocess merge."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from typing import Any

from .report import FunctionStats, Sums

__all__ = ["from_session_json", "load", "merge_same"]


def load(path: str | os.PathLike[str]) -> list[FunctionStats]:
    """FunctionStats from a file monitrace wrote: session JSON
    (``monitrace/1``), the pytest plugin's summary or worker JSON, or a
    pstats file (monitrace's or cProfile's)."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    # A pstats file (marshal) also starts with "{": JSON is tried first.
    try:
        data = json.loads(raw)
    except ValueError:
        return _from_pstats(path)
    return _from_json(data, path)


def _from_pstats(path: str) -> list[FunctionStats]:
    import pstats

    try:
        stats = pstats.Stats(path).stats  # type: ignore[attr-defined]
    except Exception as exc:
        raise ValueError(f"{path}: neither monitrace JSON nor a pstats file ({exc})") from None
    out = []
    for (filename, line, name), (cc, nc, tt, ct, _callers) in stats.items():
        c_function = filename == "~"
        out.append(
            FunctionStats(
                name=name,
                qualname=name,
                module=_module_of_file(filename),
                filename=filename,
                firstlineno=line,
                calls=nc,
                primitive_calls=cc,
                total_time=ct,
                self_time=tt,
                min_time=0.0,
                max_time=0.0,
                p50=0.0,
                p90=0.0,
                p99=0.0,
                kind="c" if c_function else "python",
            )
        )
    return out


def _module_of_file(filename: str) -> str:
    """pstats files know no modules: the file's stem stands in, the same
    for both sides of a diff."""
    if filename.startswith(("<", "~")):
        return ""
    return os.path.splitext(os.path.basename(filename))[0]


def _from_json(data: Any, path: str) -> list[FunctionStats]:
    if isinstance(data, dict) and data.get("schema") == "monitrace/1":
        return from_session_json(data)
    if isinstance(data, dict) and "tests_traced" in data and "functions" in data:
        from .suite_stats import stats_from_data

        return [stats_from_data(d) for d in data["functions"]]
    raise ValueError(
        f"{path}: JSON that monitrace did not write (expected a session's "
        f'"monitrace/1" file or a pytest --monitrace summary)'
    )


def _ident(function: dict[str, Any]) -> dict[str, Any]:
    """The identity fields of a function of saved JSON (or a retired row)."""
    return dict(
        name=function["name"],
        qualname=function["qualname"],
        module=function["module"],
        filename=function["filename"],
        firstlineno=function["lineno"],
        kind=function.get("kind", "python"),
    )


def from_session_json(data: dict[str, Any]) -> list[FunctionStats]:
    idents = {f["id"]: f for f in data["functions"]}
    sums: dict[Any, Sums] = {}
    for th in data.get("threads", ()):
        for row in th["stats"]:
            sums.setdefault(row["function"], Sums()).add_saved(row)
    for row in data.get("finished_threads", {}).get("stats", ()):
        sums.setdefault(row["function"], Sums()).add_saved(row)
    # Saved times are in ns.
    out = [acc.record(_ident(idents[f]), 1.0) for f, acc in sums.items() if f in idents]
    for row in data.get("retired", ()):
        acc = Sums()
        acc.add_saved(row)
        out.append(acc.record(_ident(row), 1.0))
    return merge_same(out)


def merge_same(stats: Iterable[FunctionStats]) -> list[FunctionStats]:
    """Rows of one function (a dead code object and its live twin) summed."""
    seen: dict[tuple[Any, ...], FunctionStats] = {}
    for s in stats:
        key = (s.kind, s.module, s.qualname, s.filename, s.firstlineno)
        old = seen.get(key)
        seen[key] = (
            s
            if old is None
            else dataclasses.replace(
                old,
                calls=old.calls + s.calls,
                primitive_calls=old.primitive_calls + s.primitive_calls,
                total_time=old.total_time + s.total_time,
                self_time=old.self_time + s.self_time,
                wall_time=old.wall_time + s.wall_time,
            )
        )
    return list(seen.values())
