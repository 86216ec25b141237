"""Wiring record mode, live output and line events into a session's C
tracer, and reading them back (the Session methods delegate here)."""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterator
from typing import Any, TextIO

from .events import Event, RecordInfo, iter_events, record_info
from .options import Options
from .tree import LivePrinter, TreeStyle, render, want_color


def configure(tracer: Any, options: Options, hidden: Collection[Any]) -> LivePrinter | None:
    """Set up the tracer's event log from the options; the live printer,
    if any."""
    live = None
    if options.live:
        style = style_for(options, options.file if options.file is not None else sys.stderr)
        live = LivePrinter(style, options.file, hidden, min_duration_ns(options))
    if options.record or options.live or options.lines:
        tracer.log_configure(
            record=bool(options.record),
            limit=options.record_limit,
            args=options.args,
            retval=options.retval,
            lines=options.lines,
            caller_files=options.path,
            repr_limit=options.repr_limit,
            live=live,
        )
    return live


def style_for(
    options: Options,
    stream: Any,
    *,
    path: bool | None = None,
    elapsed: bool | None = None,
    depth: int | None = None,
    color: bool | None = None,
) -> TreeStyle:
    return TreeStyle(
        path=options.path if path is None else path,
        elapsed=options.elapsed if elapsed is None else elapsed,
        depth=options.depth if depth is None else depth,
        color=want_color(stream, options.color if color is None else color),
    )


def min_duration_ns(options: Options) -> int:
    return int(round(getattr(options, "min_duration", 0.0) * 1e9))


def require_record(options: Options, what: str) -> None:
    if not options.record:
        raise RuntimeError(f"{what} needs a session started with trace(record=True)")


def events(tracer: Any, options: Options) -> Iterator[Event]:
    require_record(options, "events()")
    return iter_events(tracer, min_duration_ns(options))


def tree_lines(
    tracer: Any, options: Options, style: TreeStyle, hidden: Collection[Any]
) -> Iterator[str]:
    require_record(options, "tree()")
    info = record_info(tracer)
    threads = len(tracer.log_info()["threads"])
    events = iter_events(tracer, min_duration_ns(options))
    return render(events, style, info=info, threads=threads, hidden=hidden)


def print_tree(
    tracer: Any, options: Options, file: TextIO, style: TreeStyle, hidden: Collection[Any]
) -> None:
    for line in tree_lines(tracer, options, style, hidden):
        file.write(line + "\n")


def line_stats(tracer: Any, options: Options) -> dict[tuple[str, int], int]:
    if not options.lines:
        raise RuntimeError("line_stats() needs a session started with trace(lines=True)")
    counts: dict[tuple[str, int], int] = {}
    for code, line, hits in tracer.line_counts():
        # A code object that died is named by (name, qualname, filename,
        # firstlineno, module), or None late at exit.
        filename = getattr(code, "co_filename", None) or (code[2] if code else None)
        if filename is None:
            continue
        key = (filename, line)
        counts[key] = counts.get(key, 0) + hits
    return counts


def info(tracer: Any) -> RecordInfo:
    return record_info(tracer)
