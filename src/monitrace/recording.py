"""Wiring record mode, live output and line events into a session's C
tracer, and reading them back (the Session methods delegate here)."""

from __future__ import annotations

import codecs
import sys
from collections.abc import Collection, Iterator
from typing import Any, TextIO

from . import tree as tree_mod
from .events import Event, RecordInfo, iter_events, record_info
from .options import Options
from .tree import TreeStyle, want_color


class LiveTree:
    """The live tree of one session: the C formatter prints it; this
    decides where to, at every start, and says at stop what it left out."""

    def __init__(self, tracer: Any, options: Options) -> None:
        self._tracer = tracer
        self._options = options
        self._stream: Any = None
        self._hidden_said = 0

    def stream(self) -> Any:
        return self._options.file if self._options.file is not None else sys.stderr

    def attach(self) -> None:
        """Point the C buffer at the output stream (before each start):
        its file descriptor when it has a real one and takes UTF-8 (a
        terminal gets each line at once), else its write() method, called
        at every event (a StringIO, pytest's capture: readable at once)
        or, for streams that say they take chunks, with whole chunks."""
        stream = self._stream = self.stream()
        try:
            stream.flush()
        except Exception:
            pass
        fd = _utf8_fileno(stream)
        if fd >= 0:
            try:
                tty = bool(stream.isatty())
            except Exception:
                tty = False
            self._tracer.log_tree_target(fd=fd, line_flush=tty)
            return
        chunks = bool(getattr(stream, "monitrace_chunks", False))
        self._tracer.log_tree_target(write=stream.write, text=True, line_flush=not chunks)

    def flush(self) -> None:
        """Write out what is buffered; never raises."""
        try:
            self._tracer.log_tree_flush()
        except Exception:
            pass

    def stopped(self) -> None:
        """After a stop: one line on what library code was left out."""
        if self._options.tree_library != "first":
            return
        try:
            hidden = int(self._tracer.log_tree_flush())
        except Exception:
            return
        if hidden > self._hidden_said:
            try:
                self.stream().write(tree_mod.hidden_note(hidden - self._hidden_said) + "\n")
            except Exception:
                pass
            self._hidden_said = hidden

    def reset(self) -> None:
        self._hidden_said = 0


def _utf8_fileno(stream: Any) -> int:
    """The stream's file descriptor if bytes written there are what the
    stream would write (a UTF-8 text file, or a binary one); else -1."""
    try:
        fd = int(stream.fileno())
    except Exception:
        return -1
    encoding = getattr(stream, "encoding", None)
    if encoding is not None:
        try:
            if codecs.lookup(encoding).name != "utf-8":
                return -1
        except LookupError:
            return -1
    return fd if fd >= 0 else -1


def configure(tracer: Any, options: Options, hidden: Collection[Any]) -> LiveTree | None:
    """Set up the tracer's event log from the options; the live tree, if
    any."""
    live = None
    tree_spec = None
    if options.live:
        style = style_for(options, options.file if options.file is not None else sys.stderr)
        namer = tree_mod.live_namer(hidden, options.full_paths)
        tree_spec = tree_mod.spec(style, namer, prefix=None, min_ns=min_duration_ns(options))
        live = LiveTree(tracer, options)
    if options.record or options.live or options.lines:
        tracer.log_configure(
            record=bool(options.record),
            limit=options.record_limit,
            args=options.args,
            retval=options.retval,
            lines=options.lines,
            caller_files=options.path,
            repr_limit=options.repr_limit,
            tree=tree_spec,
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
        full_paths=options.full_paths,
        library=options.tree_library,
    )


def min_duration_ns(options: Options) -> int:
    return int(round(getattr(options, "min_duration", 0.0) * 1e9))


def require_record(options: Options, what: str) -> None:
    if not options.record:
        raise RuntimeError(f"{what} needs a session started with trace(record=True)")


def events(tracer: Any, options: Options) -> Iterator[Event]:
    require_record(options, "events()")
    return iter_events(tracer, min_duration_ns(options))


def _replay(
    tracer: Any, options: Options, write: Any, style: TreeStyle, hidden: Collection[Any]
) -> tuple[Any, str]:
    """Replay the recorded events as a tree through `write` (str chunks
    of whole lines; None: return the whole text); (what the C replay
    returned, the closing notes on what is missing)."""
    require_record(options, "tree()")
    info = tracer.log_info()
    namer = tree_mod.replay_namer(lambda: tracer.log_info()["records"], hidden, style.full_paths)
    spec = tree_mod.spec(
        style, namer, prefix=len(info["threads"]) > 1, min_ns=min_duration_ns(options)
    )
    result = tracer.log_write_tree(spec, write)
    hidden_calls = result[0] if write is None else result
    notes = []
    if style.library == "first" and hidden_calls:
        notes.append(tree_mod.hidden_note(hidden_calls))
    rec = record_info(tracer)
    if rec.dropped:
        notes.append(
            f"... {rec.dropped} more events were not recorded "
            f"(record limit {rec.limit}; pass a larger record=)"
        )
    return result, "".join(n + "\n" for n in notes)


def tree_text(
    tracer: Any, options: Options, style: TreeStyle, hidden: Collection[Any]
) -> str:
    (_, text), notes = _replay(tracer, options, None, style, hidden)
    return str(text) + notes


def task_tree_text(tracer: Any, options: Options, hidden: Collection[Any]) -> str:
    """The tree grouped by asyncio task (tasktree.py), with the same note
    on events past the record limit as the plain tree."""
    from . import tasktree

    require_record(options, "tree(by_task=True)")
    trees, names = tasktree.build(tracer)
    text = tasktree.render(trees, names, hidden)
    rec = record_info(tracer)
    if rec.dropped:
        text += (f"... {rec.dropped} more events were not recorded "
                 f"(record limit {rec.limit}; pass a larger record=)\n")
    return text


def print_tree(
    tracer: Any, options: Options, file: TextIO, style: TreeStyle, hidden: Collection[Any]
) -> None:
    _, notes = _replay(tracer, options, file.write, style, hidden)
    if notes:
        file.write(notes)


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
