"""The call tree, in pyftrace's shape: post hoc from recorded events, or
live while the program runs.

    Called foo:1 from line 8
        Called bar:5 from line 2
        Returning bar-> 20
    Returning foo-> 10
"""

from __future__ import annotations

import dataclasses
import linecache
import os
import sys
from collections.abc import Collection, Iterable, Iterator
from typing import Any, TextIO

from .events import Decoder, Event, MinDuration, RecordInfo
from .model import LogEvent
from .report import format_duration

INDENT = "    "

_COLORS = {
    "Called": "\x1b[36m",     # cyan
    "Returning": "\x1b[32m",  # green
    "Raised": "\x1b[31m",     # red
    "Yielding": "\x1b[35m",   # magenta
    "Resuming": "\x1b[35m",
    "Throwing": "\x1b[31m",
    "line": "\x1b[2m",        # dim
    "thread": "\x1b[33m",     # yellow
}
_RESET = "\x1b[0m"


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
class _Frame:
    indent: int        # where this activation's lines are printed
    shown: bool        # printed (not hidden, not below the depth limit)
    suppressed: bool   # below the depth limit (so are its children)
    start_ns: int


@dataclasses.dataclass(slots=True)
class TreeStyle:
    path: bool = False
    elapsed: bool = False
    depth: int | None = None
    color: bool = False


class TreeFormatter:
    """Turns events, in order, into tree lines. Keeps one stack per thread
    and trusts only the events' depths: activations that ended without an
    event (tracing stopped, a lost exit) are closed silently.
    ``hidden`` holds code objects whose activations are not printed (their
    children move up a level): the CLI hides the script's module code."""

    def __init__(
        self,
        style: TreeStyle,
        *,
        hidden: Collection[Any] = (),
        thread_prefix: bool | None = None,
    ) -> None:
        self.style = style
        self.hidden = hidden
        self._stacks: dict[int, list[_Frame]] = {}
        self._prefix = thread_prefix
        self._first_thread: int | None = None

    def feed(self, ev: Event) -> list[str]:
        stack = self._stacks.setdefault(ev.thread_id, [])
        if ev.kind == "line":
            return self._line(ev, stack)
        if ev.is_enter:
            return self._enter(ev, stack)
        return self._exit(ev, stack)

    # ---- event kinds ----------------------------------------------------

    def _child(self, stack: list[_Frame], ev: Event) -> _Frame:
        parent = stack[-1] if stack else None
        indent = parent.indent + parent.shown if parent else 0
        limit = self.style.depth
        suppressed = bool(parent and parent.suppressed) or (
            limit is not None and indent >= limit
        )
        hidden = ev.function.code is not None and ev.function.code in self.hidden
        return _Frame(indent, not hidden and not suppressed, suppressed, ev.time_ns)

    def _enter(self, ev: Event, stack: list[_Frame]) -> list[str]:
        del stack[ev.depth:]
        frame = self._child(stack, ev)
        stack.append(frame)
        if not frame.shown:
            return []
        fn = ev.function
        where = self._site(ev)
        if ev.kind == "throw":
            text = f"Throwing {ev.exception} into {self._def(ev)}{where}"
        elif ev.kind == "resume":
            text = f"Resuming {self._def(ev)}{where}"
        elif ev.kind == "c_call":
            text = f"Called {fn.display_name}{where}"
        else:
            text = f"Called {self._def(ev)}{where}"
        if ev.args:
            text += " with " + ", ".join(f"{name}={value}" for name, value in ev.args)
        return [self._out(ev, frame.indent, text)]

    def _exit(self, ev: Event, stack: list[_Frame]) -> list[str]:
        if len(stack) > ev.depth:
            del stack[ev.depth + 1:]
            frame = stack.pop()
        else:
            frame = self._child(stack, ev)  # entered before we saw it
            frame.start_ns = -1
        if not frame.shown:
            return []
        name = ev.function.display_name
        if ev.kind == "raise":
            what = ev.exception_repr or ev.exception or "an exception"
            text = f"Raised {what} from {name}"
        elif ev.kind == "c_raise":
            text = f"Raised from {name}"
        else:
            verb = "Yielding" if ev.kind == "yield" else "Returning"
            text = f"{verb} {name}"
            if ev.retval is not None:
                text += f"-> {ev.retval}"
        if self.style.path and ev.function.kind == "python":
            text += f" @ {ev.function.filename}"
        if self.style.elapsed and frame.start_ns >= 0:
            text += f" [{format_duration((ev.time_ns - frame.start_ns) / 1e9)}]"
        return [self._out(ev, frame.indent, text)]

    def _line(self, ev: Event, stack: list[_Frame]) -> list[str]:
        del stack[ev.depth + 1:]
        frame = stack[ev.depth] if len(stack) > ev.depth else self._child(stack, ev)
        if frame.suppressed:
            return []
        indent = frame.indent + frame.shown
        fn = ev.function
        name = fn.filename if self.style.path else os.path.basename(fn.filename)
        source = linecache.getline(fn.filename, ev.line).strip()
        return [self._out(ev, indent, f"{name}:{ev.line}  {source}", kind="line")]

    # ---- pieces ---------------------------------------------------------

    def _def(self, ev: Event) -> str:
        fn = ev.function
        if self.style.path:
            return f"{fn.display_name}@{fn.filename}:{fn.firstlineno}"
        return f"{fn.display_name}:{fn.firstlineno}"

    def _site(self, ev: Event) -> str:
        if ev.line <= 0:
            return ""
        if self.style.path and ev.caller_filename:
            return f" from {ev.caller_filename}:{ev.line}"
        return f" from line {ev.line}"

    def _out(self, ev: Event, indent: int, text: str, kind: str | None = None) -> str:
        prefix = ""
        if self._prefix is None:  # live: prefix once a second thread shows up
            if self._first_thread is None:
                self._first_thread = ev.thread_id
            elif ev.thread_id != self._first_thread:
                self._prefix = True
        if self._prefix:
            prefix = f"[{ev.thread_name}] "
        if self.style.color:
            word = kind or text.split(" ", 1)[0]
            code = _COLORS.get(word)
            if code:
                if kind:
                    text = f"{code}{text}{_RESET}"
                else:
                    text = f"{code}{word}{_RESET}{text[len(word):]}"
            if prefix:
                prefix = f"{_COLORS['thread']}{prefix}{_RESET}"
        return f"{prefix}{INDENT * indent}{text}"


def render(
    events: Iterable[Event],
    style: TreeStyle,
    *,
    info: RecordInfo,
    threads: int,
    hidden: Collection[Any] = (),
) -> Iterator[str]:
    """The tree's lines, one at a time, then a note if events were
    dropped."""
    fmt = TreeFormatter(style, hidden=hidden, thread_prefix=threads > 1)
    for ev in events:
        yield from fmt.feed(ev)
    if info.dropped:
        yield (
            f"... {info.dropped} more events were not recorded "
            f"(record limit {info.limit}; pass a larger record=)"
        )


class LivePrinter:
    """The callable the C log calls for each event with live=True. It runs
    inside a tracer callback: it never raises for a write error (it stops
    printing and the error is reported at stop)."""

    def __init__(
        self, style: TreeStyle, file: TextIO | None, hidden: Collection[Any], min_duration_ns: int = 0
    ) -> None:
        self._style = style
        self._file = file
        self._decoder = Decoder()
        self._threads: dict[int, tuple[int, int, str]] = {}
        self._fmt = TreeFormatter(style, hidden=hidden)
        self._min_ns = min_duration_ns
        self._keep = MinDuration(min_duration_ns) if min_duration_ns > 0 else None
        self.error: BaseException | None = None

    def reset(self) -> None:
        """Forget cached functions and stacks (after Session.clear())."""
        self._decoder.forget()
        self._fmt = TreeFormatter(self._style, hidden=self._fmt.hidden)
        if self._keep is not None:
            self._keep = MinDuration(self._min_ns)

    def __call__(self, raw: Any, key: Any, module: Any, ident: int, name: Any) -> None:
        if self.error is not None:
            return
        function = self._decoder.function(raw[3], key, module)
        thread = (ident, 0, name or f"Thread-{ident}")
        self._threads[raw[2]] = thread
        if self._keep is None:
            self._write([self._decoder.event(raw, function, *thread)])
            return
        self._write([
            self._decoder.event(ev, self._decoder.function(ev.function), *self._threads[ev.thread])
            for ev in self._keep.feed(LogEvent._make(raw))
        ])

    def flush(self) -> None:
        """Print what min_duration= held back (at stop); never raises."""
        if self._keep is not None and self.error is None:
            try:
                self._write([
                    self._decoder.event(ev, self._decoder.function(ev.function),
                                        *self._threads[ev.thread])
                    for ev in self._keep.flush()
                ])
            except Exception:
                pass

    def _write(self, events: list[Event]) -> None:
        lines = [line for ev in events for line in self._fmt.feed(ev)]
        if not lines:
            return
        stream = self._file if self._file is not None else sys.stderr
        try:
            stream.write("\n".join(lines) + "\n")
        except Exception as exc:  # a closed or broken stream: stop printing
            self.error = exc
            raise
