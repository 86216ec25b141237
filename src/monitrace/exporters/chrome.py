"""Chrome Trace Event JSON, as ui.perfetto.dev and chrome://tracing open it.

Each activation becomes a begin/end pair (``"ph": "B"``/``"E"``) on its
thread's track: a call, or for a generator or coroutine each stretch
between a resume and a yield. Begin events carry the file, line and
captured arguments; end events the return value or exception when
captured, and ``"unwound": true`` for an activation whose end the log did
not see. Thread names come as ``"M"`` metadata events. Timestamps are
microseconds with nanosecond digits, written from integers (exact).

The document is streamed: one event per line, never held in memory.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any

from .source import Kind, Source
from .timeline import walk

_dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _us(ns: int) -> str:
    """ns as a JSON number of microseconds, exact."""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    return f"{sign}{ns // 1000}.{ns % 1000:03d}"


_EXIT_NAMES = {
    Kind.RETURN: "return", Kind.RAISE: "raise", Kind.YIELD: "yield",
    Kind.C_RETURN: "return", Kind.C_RAISE: "raise",
}


def write(source: Source, out: IO[str]) -> None:
    """Write `source`'s recorded events as a Chrome trace to `out`."""
    events = source.need_events("the Chrome trace format")
    pid = os.getpid()
    out.write('{"displayTimeUnit":"ns","otherData":')
    out.write(_dump({"generator": "monitrace", "clock": source.snapshot["clock"]}))
    out.write(',"traceEvents":[\n')
    out.write(_dump({
        "ph": "M", "pid": pid, "tid": 0, "name": "process_name",
        "args": {"name": os.path.basename(sys.argv[0]) or "python"},
    }))
    seen: set[int] = set()
    for step in walk(events()):
        if step.thread not in seen:
            seen.add(step.thread)
            th = source.thread(step.thread)
            out.write(",\n")
            out.write(_dump({
                "ph": "M", "pid": pid, "tid": th.native_id, "name": "thread_name",
                "args": {"name": th.name or f"Thread-{th.ident}"},
            }))
            out.write(",\n")
            out.write(_dump({
                "ph": "M", "pid": pid, "tid": th.native_id, "name": "thread_sort_index",
                "args": {"sort_index": step.thread},
            }))
        act = step.activation
        tid = source.thread(step.thread).native_id
        if step.begin:
            ident = source.function(act.function)
            args: dict[str, Any] = {}
            if ident["kind"] == "python":
                args["file"] = ident["filename"]
                args["line"] = ident["firstlineno"]
            if not act.is_call:
                args["resumed"] = True
            if act.begin.args is not None:
                args["args"] = dict(act.begin.args)
            head = {
                "ph": "B", "pid": pid, "tid": tid, "name": ident["full_name"],
                "cat": ident["kind"], "args": args,
            }
            out.write(",\n" + _dump(head)[:-1] + ',"ts":' + _us(act.begin.time_ns) + "}")
            continue
        end = act.end
        args = {}
        if end is None:
            args["unwound"] = True
        else:
            args["exit"] = _EXIT_NAMES.get(Kind(end.kind), "return")
            if end.retval is not None:
                args["return"] = end.retval
            if end.exc_repr is not None:
                args["exception"] = end.exc_repr
        tail = {"ph": "E", "pid": pid, "tid": tid, "args": args}
        out.write(",\n" + _dump(tail)[:-1] + ',"ts":' + _us(act.end_ns) + "}")
    out.write("\n]}\n")
