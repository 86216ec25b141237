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

from ..model import NameTable
from .source import Kind, Source
from .timeline import walk

_dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _us(ns: int) -> str:
    """ns as a JSON number of microseconds, exact."""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    return f"{sign}{ns // 1000}.{ns % 1000:03d}"


_EXIT_NAMES = {
    Kind.RETURN: "return",
    Kind.RAISE: "raise",
    Kind.YIELD: "yield",
    Kind.C_RETURN: "return",
    Kind.C_RAISE: "raise",
}


def write(source: Source, out: IO[str]) -> None:
    """Write `source`'s recorded events as a Chrome trace to `out`."""
    events = source.need_events("the Chrome trace format")
    pid = os.getpid()
    out.write('{"displayTimeUnit":"ns","otherData":')
    out.write(_dump({"generator": "monitrace", "clock": source.snapshot["clock"]}))
    out.write(',"traceEvents":[\n')
    out.write(
        _dump(
            {
                "ph": "M",
                "pid": pid,
                "tid": 0,
                "name": "process_name",
                "args": {"name": _process_name()},
            }
        )
    )
    # Everything but the timestamp and the captures is the same for every
    # event of a (thread, function) or (thread, exit kind): made once.
    tids: dict[int, int] = {}
    begins: dict[tuple[int, int], tuple[str, bool]] = {}
    ends: dict[tuple[int, int], str] = {}
    write_out = out.write
    for begin, thread, act, _stack in walk(events()):
        tid = tids.get(thread)
        if tid is None:
            tid = tids[thread] = _thread_meta(source, thread, pid, out)
        if begin:
            cached = begins.get((thread, act.function))
            if cached is None:
                cached = begins[(thread, act.function)] = _begin_head(
                    source, act.function, pid, tid
                )
            head, members = cached
            extra = []
            if not act.is_call:
                extra.append('"resumed":true')
            if act.begin.args is not None:
                extra.append('"args":' + _dump(dict(act.begin.args)))
            more = (("," if members else "") + ",".join(extra)) if extra else ""
            write_out(f'{head}{more}}},"ts":{_us(act.start_ns)}}}')
            continue
        end = act.end
        kind = -1 if end is None else end.kind
        tail = ends.get((thread, kind))
        if tail is None:
            tail = ends[(thread, kind)] = f',\n{{"ph":"E","pid":{pid},"tid":{tid},"args":{{' + (
                '"unwound":true'
                if end is None
                else '"exit":"' + _EXIT_NAMES.get(Kind(kind), "return") + '"'
            )
        ending = ""
        if end is not None:
            if end.retval is not None:
                ending += ',"return":' + _dump(end.retval)
            if end.exc_repr is not None:
                ending += ',"exception":' + _dump(end.exc_repr)
        write_out(f'{tail}{ending}}},"ts":{_us(act.end_ns)}}}')
    out.write("\n]}\n")


def write_log(source: Source, out: IO[str], tracer: Any, min_ns: int = 0) -> None:
    """write() for a session's own recorded events, streamed by the C
    writer (src/ccore/chrome.c) from its event log: the same document.
    Activations shorter than `min_ns` are left out (min_duration=)."""
    info = tracer.log_info()
    table = NameTable(info["records"])
    names = []
    for i in range(len(table)):
        fn = table[i]
        python = fn.kind == "python"
        names.append(
            (
                fn.full_name,
                fn.kind,
                fn.filename if python else None,
                fn.firstlineno if python else 0,
            )
        )
    threads = [(native, name or f"Thread-{ident}") for ident, native, name in info["threads"]]
    pid = os.getpid()
    out.write('{"displayTimeUnit":"ns","otherData":')
    out.write(_dump({"generator": "monitrace", "clock": source.snapshot["clock"]}))
    out.write(',"traceEvents":[\n')
    out.write(
        _dump(
            {
                "ph": "M",
                "pid": pid,
                "tid": 0,
                "name": "process_name",
                "args": {"name": _process_name()},
            }
        )
    )
    tracer.log_write_chrome(binary_writer(out), names, threads, pid, min_ns)
    out.write("\n]}\n")


def binary_writer(out: IO[str]) -> Any:
    """A callable writing UTF-8 bytes where `out` (a text stream) writes:
    to its binary buffer, once what it holds is flushed."""
    raw = getattr(out, "buffer", None)
    if raw is not None and getattr(out, "encoding", "").lower().replace("-", "") == "utf8":
        out.flush()
        return raw.write
    return lambda chunk: out.write(chunk.decode("utf-8"))


def _process_name() -> str:
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return script if script and script != "-c" else "python"


def _thread_meta(source: Source, thread: int, pid: int, out: IO[str]) -> int:
    """Write the thread's metadata events; returns its track id."""
    th = source.thread(thread)
    tid = th.native_id
    out.write(",\n")
    out.write(
        _dump(
            {
                "ph": "M",
                "pid": pid,
                "tid": tid,
                "name": "thread_name",
                "args": {"name": th.name or f"Thread-{th.ident}"},
            }
        )
    )
    out.write(",\n")
    out.write(
        _dump(
            {
                "ph": "M",
                "pid": pid,
                "tid": tid,
                "name": "thread_sort_index",
                "args": {"sort_index": thread},
            }
        )
    )
    return tid


def _begin_head(source: Source, function: int, pid: int, tid: int) -> tuple[str, bool]:
    """A begin event up to its open ``args`` object, and whether that
    object has members yet."""
    ident = source.function(function)
    args: dict[str, Any] = {}
    if ident.kind == "python":
        args = {"file": ident.filename, "line": ident.firstlineno}
    head = {"ph": "B", "pid": pid, "tid": tid, "name": ident.full_name, "cat": ident.kind}
    text = ",\n" + _dump(head)[:-1] + ',"args":' + _dump(args)[:-1]
    return text, bool(args)
