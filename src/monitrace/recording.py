"""A session's event log: record mode, the live tree and line events
wired into its C tracer from the options, and read back as events, trees
and line counts. :class:`Recording` is owned by the Session, whose
methods delegate here."""

from __future__ import annotations

import codecs
import sys
from collections.abc import Iterator
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


class Recording:
    """The event log of one session: set up once from its options (the
    live tree, if any, is :attr:`live`), read back on request."""

    def __init__(self, tracer: Any, options: Options) -> None:
        self._tracer = tracer
        self._options = options
        #: Code objects whose activations trees do not print (the command
        #: hides the script's module code); see tree.tree_name.
        self.hidden: set[Any] = set()
        self.live: LiveTree | None = None
        tree_spec = None
        if options.live:
            style = style_for(options, options.file if options.file is not None else sys.stderr)
            namer = tree_mod.live_namer(self.hidden, options.full_paths)
            tree_spec = tree_mod.spec(style, namer, prefix=None, min_ns=self.min_duration_ns)
            self.live = LiveTree(tracer, options)
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

    @property
    def min_duration_ns(self) -> int:
        return min_duration_ns(self._options)

    def style(self, stream: Any, **overrides: Any) -> TreeStyle:
        """The tree style for writing to `stream`: the options', with
        `overrides` (path, elapsed, depth, color) where not None."""
        return style_for(self._options, stream, **overrides)

    def require(self, what: str) -> None:
        if not self._options.record:
            raise RuntimeError(f"{what} needs a session started with trace(record=True)")

    def events(self) -> Iterator[Event]:
        self.require("events()")
        return iter_events(self._tracer, self.min_duration_ns)

    def info(self) -> RecordInfo:
        return record_info(self._tracer)

    def _replay(self, write: Any, style: TreeStyle) -> tuple[Any, str]:
        """Replay the recorded events as a tree through `write` (str
        chunks of whole lines; None: return the whole text); (what the C
        replay returned, the closing notes on what is missing)."""
        self.require("tree()")
        tracer = self._tracer
        info = tracer.log_info()
        namer = tree_mod.replay_namer(
            lambda: tracer.log_info()["records"], self.hidden, style.full_paths
        )
        spec = tree_mod.spec(
            style, namer, prefix=len(info["threads"]) > 1, min_ns=self.min_duration_ns
        )
        result = tracer.log_write_tree(spec, write)
        hidden_calls = result[0] if write is None else result
        notes = []
        if style.library == "first" and hidden_calls:
            notes.append(tree_mod.hidden_note(hidden_calls))
        rec = self.info()
        if rec.dropped:
            notes.append(
                f"... {rec.dropped} more events were not recorded "
                f"(record limit {rec.limit}; pass a larger record=)"
            )
        return result, "".join(n + "\n" for n in notes)

    def tree_text(self, style: TreeStyle) -> str:
        (_, text), notes = self._replay(None, style)
        return str(text) + notes

    def print_tree(self, file: TextIO, style: TreeStyle) -> None:
        _, notes = self._replay(file.write, style)
        if notes:
            file.write(notes)

    def task_tree_text(self) -> str:
        """The tree grouped by asyncio task (tasktree.py), with the same
        note on events past the record limit as the plain tree."""
        from . import tasktree

        self.require("tree(by_task=True)")
        trees, names = tasktree.build(self._tracer)
        text = tasktree.render(trees, names, self.hidden)
        rec = self.info()
        if rec.dropped:
            text += (
                f"... {rec.dropped} more events were not recorded "
                f"(record limit {rec.limit}; pass a larger record=)\n"
            )
        return text

    def line_stats(self) -> dict[tuple[str, int], int]:
        if not self._options.lines:
            raise RuntimeError("line_stats() needs a session started with trace(lines=True)")
        counts: dict[tuple[str, int], int] = {}
        for code, line, hits in self._tracer.line_counts():
            # A code object that died is named by (name, qualname,
            # filename, firstlineno, module), or None late at exit.
            filename = getattr(code, "co_filename", None) or (code[2] if code else None)
            if filename is None:
                continue
            key = (filename, line)
            counts[key] = counts.get(key, 0) + hits
        return counts
