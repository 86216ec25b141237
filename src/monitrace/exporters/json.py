"""monitrace's own JSON format, schema ``monitrace/1`` (see docs/json-schema.md).

Written by streaming: one function, row, edge or event at a time, never
the whole document in memory. Times are integers in nanoseconds.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from .._version import __version__
from ..events import exception_name
from ..model import identity as _identity
from .source import Kind, LogEvent, Source

SCHEMA = "monitrace/1"

_dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _functions(snapshot: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for index, (kind, key, module, traced) in enumerate(snapshot["records"]):
        if not traced:
            continue  # excluded by the filter: never has numbers
        ident = _identity(kind, key, module)
        yield {
            "id": index,
            "kind": ident["kind"],
            "name": ident["name"],
            "qualname": ident["qualname"],
            "module": ident["module"],
            "filename": ident["filename"],
            "lineno": ident["firstlineno"],
        }


def _ns(ticks: int, ns_per_tick: float) -> int:
    return round(ticks * ns_per_tick)


def _buckets(hist: Iterable[Any]) -> list[list[Any]]:
    # [low, high) in ns, count; the last bucket is open (high null).
    return [[round(lo), round(hi) if math.isfinite(hi) else None, n] for lo, hi, n in hist]


def _row(row: Any, ns_per_tick: float) -> dict[str, Any]:
    index, calls, prim, total, self_, mn, mx, samples, hist, segments, wall = row
    item = {
        "function": index,
        "calls": calls,
        "primitive_calls": prim,
        "total_ns": _ns(total, ns_per_tick),
        "self_ns": _ns(self_, ns_per_tick),
        "min_ns": _ns(mn, ns_per_tick),
        "max_ns": _ns(mx, ns_per_tick),
        "samples": samples,
        "histogram": _buckets(hist),
    }
    if segments is not None:
        seg_samples, seg_min, seg_max, seg_hist = segments
        item["segments"] = {
            "samples": seg_samples,
            "min_ns": _ns(seg_min, ns_per_tick),
            "max_ns": _ns(seg_max, ns_per_tick),
            "histogram": _buckets(seg_hist),
        }
    if segments is not None or wall:
        item["wall_ns"] = _ns(wall, ns_per_tick)
    return item


def _retired(row: Any, ns_per_tick: float) -> dict[str, Any]:
    ident = _identity("py", row[0], None)
    item = {
        "name": ident["name"],
        "qualname": ident["qualname"],
        "module": ident["module"],
        "filename": ident["filename"],
        "lineno": ident["firstlineno"],
    }
    item.update(_row((None, *row[1:]), ns_per_tick))
    del item["function"]
    return item


def _edge(edge: Any, ns_per_tick: float) -> dict[str, Any]:
    caller, callee, calls, prim, total, self_ = edge
    return {
        "caller": caller,
        "callee": callee,
        "calls": calls,
        "primitive_calls": prim,
        "total_ns": _ns(total, ns_per_tick),
        "self_ns": _ns(self_, ns_per_tick),
    }


def _array(out: IO[str], items: Iterable[Any], indent: str) -> None:
    out.write("[")
    first = True
    for item in items:
        out.write("\n" + indent if first else ",\n" + indent)
        out.write(_dump(item))
        first = False
    out.write("]" if first else "\n" + indent[:-2] + "]")


_KIND_NAMES: dict[int, str] = {k: k.name.lower() for k in Kind}


def event_record(source: Source, ev: LogEvent) -> dict[str, Any]:
    """One recorded event as the schema's ``events`` item."""
    item: dict[str, Any] = {
        "kind": _KIND_NAMES[Kind(ev.kind)],
        "time_ns": ev.time_ns,
        "thread": source.thread(ev.thread).ident,
        "function": ev.function,
        "depth": ev.depth,
    }
    if ev.line:
        item["line"] = ev.line
    if ev.args is not None:
        item["args"] = [[name, value] for name, value in ev.args]
    if ev.retval is not None:
        item["return"] = ev.retval
    if ev.exc_type is not None:
        item["exception_type"] = (
            ev.exc_type if isinstance(ev.exc_type, str) else exception_name(ev.exc_type)
        )
    if ev.exc_repr is not None:
        item["exception"] = ev.exc_repr
    return item


def _events(source: Source, out: IO[str]) -> None:
    """The events array, from its opening bracket on. Plain events (no
    line, no capture) take a preformatted fast path."""
    assert source.events is not None
    idents: dict[int, int] = {}
    sep = "\n    "
    for ev in source.events():
        if (
            ev.line
            or ev.args is not None
            or ev.retval is not None
            or (ev.exc_type is not None or ev.exc_repr is not None)
        ):
            out.write(sep + _dump(event_record(source, ev)))
        else:
            ident = idents.get(ev.thread)
            if ident is None:
                ident = idents[ev.thread] = source.thread(ev.thread).ident
            out.write(
                f'{sep}{{"kind":"{_KIND_NAMES[ev.kind]}","time_ns":{ev.time_ns},'
                f'"thread":{ident},"function":{ev.function},"depth":{ev.depth}}}'
            )
        sep = ",\n    "
    out.write("]" if sep == "\n    " else "\n  ]")


def write(source: Source, out: IO[str]) -> None:
    """Write `source` as ``monitrace/1`` JSON to the text stream `out`."""
    snap = source.snapshot
    head = {
        "schema": SCHEMA,
        "generator": f"monitrace {__version__}",
        "python": platform.python_version(),
        "pid": os.getpid(),
        "argv": list(sys.argv),
        "clock": snap["clock"],
        "ns_per_tick": snap["ns_per_tick"],
        "total_ns": snap["total_ns"],
    }
    out.write("{\n")
    for name, value in head.items():
        out.write(f"  {_dump(name)}: {_dump(value)},\n")
    out.write('  "functions": ')
    _array(out, _functions(snap), "    ")
    scale = snap["ns_per_tick"]
    out.write(',\n  "threads": [')
    for n, th in enumerate(snap["threads"]):
        out.write("\n    {" if n == 0 else ",\n    {")
        out.write(
            f'"ident": {th["ident"]}, "native_id": {th["native_id"]}, '
            f'"name": {_dump(th["name"])}, "finished": {_dump(th["finished"])},'
            '\n      "stats": '
        )
        _array(out, (_row(r, scale) for r in th["rows"]), "        ")
        out.write(',\n      "edges": ')
        _array(out, (_edge(e, scale) for e in th["edges"]), "        ")
        out.write("}")
    out.write("\n  ]" if snap["threads"] else "]")
    # Threads that ended keep counts and times per function (their stats
    # above); their latency and edges are kept for all of them together.
    finished = snap.get("finished", {"rows": [], "edges": []})
    out.write(',\n  "finished_threads": {"stats": ')
    _array(out, (_row(r, scale) for r in finished["rows"]), "      ")
    out.write(',\n    "edges": ')
    _array(out, (_edge(e, scale) for e in finished["edges"]), "      ")
    out.write("}")
    # Code objects that died: their numbers, merged by name.
    out.write(',\n  "retired": ')
    _array(out, (_retired(r, scale) for r in snap.get("retired", ())), "    ")
    if source.events is not None:
        out.write(',\n  "events": [')
        _events(source, out)
    out.write("\n}\n")
