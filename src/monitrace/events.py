"""Recorded events as typed objects: the stable interface between record
mode (``trace(record=True)``) and whatever reads it (the call tree,
exporters, your own code)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any, Final

from .model import ENTERS, EXITS, KIND_NAMES, LogEvent, NameTable, ThreadInfo

#: Event kinds, by the number the C log stores (see model.Kind).
KINDS: Final = KIND_NAMES
#: Kinds that start an activation (push it on the thread's stack).
ENTER_KINDS: Final = frozenset(KIND_NAMES[k] for k in ENTERS)
#: Kinds that end one (pop it).
EXIT_KINDS: Final = frozenset(KIND_NAMES[k] for k in EXITS)

_BATCH = 4096


class RecordLimitWarning(UserWarning):
    """Record mode reached its limit: later events were counted, not kept."""


@dataclasses.dataclass(frozen=True, slots=True)
class FunctionInfo:
    """Which function an event belongs to; the same fields as
    :class:`monitrace.FunctionStats` (``kind`` is ``"python"`` or ``"c"``).
    ``code`` is the code object (Python), or for a C function the key the
    core describes it by: ``(name, owner type or None, module, binding)``."""

    name: str
    qualname: str
    module: str
    filename: str
    firstlineno: int
    kind: str
    code: Any = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def full_name(self) -> str:
        return f"{self.module}.{self.qualname}" if self.module else self.qualname

    @property
    def display_name(self) -> str:
        """The name the call tree prints: the qualname without
        ``<locals>`` parts (``outer.inner``, ``Class.method``, ``len``)."""
        return self.qualname.replace(".<locals>", "")


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One recorded event.

    ``time_ns`` is on the ``time.monotonic_ns()`` timeline (add
    ``Session.record_info().wall_offset_ns`` for Unix time). ``depth`` is
    the number of traced activations below this one on its thread's stack
    (0 = outermost seen); for ``line`` events, the depth of the running
    activation. ``line`` is the call-site line for enter kinds (0 when no
    Python frame called it), the line number for ``line`` events, else 0.
    ``args`` (``(name, repr)`` pairs, with ``args=True``), ``retval``
    (returned or yielded value's repr, with ``retval=True``),
    ``exception`` (the exception type's name, for ``raise`` and ``throw``),
    ``exception_repr`` (with ``retval=True``) and ``caller_filename`` (with
    ``path=True``) are None when not captured. Reprs are cut to
    ``repr_limit`` characters; a repr that raises shows as
    ``<T object; repr raised E>``.
    """

    kind: str
    time_ns: int
    thread_id: int
    thread_native_id: int
    thread_name: str
    depth: int
    function: FunctionInfo
    line: int
    args: tuple[tuple[str, str], ...] | None = None
    retval: str | None = None
    exception: str | None = None
    exception_repr: str | None = None
    caller_filename: str | None = None

    @property
    def is_enter(self) -> bool:
        return self.kind in ENTER_KINDS

    @property
    def is_exit(self) -> bool:
        return self.kind in EXIT_KINDS


@dataclasses.dataclass(frozen=True, slots=True)
class RecordInfo:
    """How much record mode kept: ``recorded`` events, ``dropped`` after the
    limit (``limit``, None when unbounded), and ``wall_offset_ns``."""

    recorded: int
    dropped: int
    limit: int | None
    wall_offset_ns: int


def exception_name(exc_type: Any) -> str | None:
    if exc_type is None:
        return None
    module = getattr(exc_type, "__module__", "") or ""
    qualname = getattr(exc_type, "__qualname__", None) or exc_type.__name__
    return qualname if module == "builtins" else f"{module}.{qualname}"


class LogReader:
    """A tracer's C log, read a batch at a time as :class:`LogEvent` tuples
    that keep C's indexes. ``threads`` (by C thread index) and ``records``
    (the snapshot's record numbering) grow as events name new ones.

    The log's generation changes when it is cleared (clear(), a fork):
    after that its positions and indexes name other events and functions,
    so each read checks it and fails rather than mix them."""

    def __init__(self, tracer: Any) -> None:
        self._tracer = tracer
        info = tracer.log_info()
        self.generation: int = info["generation"]
        self.wall_offset_ns: int = int(info["wall_offset_ns"])
        self.records: Sequence[Any] = info["records"]
        self.threads: list[ThreadInfo] = [ThreadInfo(*t) for t in info["threads"]]

    def _refresh(self) -> None:
        info = self._tracer.log_info()
        if info["generation"] != self.generation:
            self._tracer.log_batch(0, 0, self.generation)  # raises
        self.records = info["records"]
        self.threads[len(self.threads) :] = [
            ThreadInfo(*t) for t in info["threads"][len(self.threads) :]
        ]

    def all_records(self) -> Sequence[Any]:
        self._refresh()
        return self.records

    def events(self) -> Iterator[LogEvent]:
        """All recorded events in order, from the first (events recorded
        while iterating are included)."""
        tracer, generation, make = self._tracer, self.generation, LogEvent._make
        pos = 0
        while True:
            batch = tracer.log_batch(pos, _BATCH, generation)
            if not batch:
                return
            pos += len(batch)
            for raw in batch:
                if raw[3] >= len(self.records) or raw[2] >= len(self.threads):
                    self._refresh()
                yield make(raw)


class _Events:
    """LogEvents to the public :class:`Event`, one :class:`FunctionInfo`
    per record, made from the name table."""

    def __init__(self, reader: LogReader) -> None:
        self._reader = reader
        self._names = NameTable(reader.records)
        self._functions: dict[int, FunctionInfo] = {}

    def function(self, index: int) -> FunctionInfo:
        info = self._functions.get(index)
        if info is None:
            if index >= len(self._names):
                self._names.reset(self._reader.records)
            n = self._names[index]
            info = self._functions[index] = FunctionInfo(
                name=n.name,
                qualname=n.qualname,
                module=n.module,
                filename=n.filename,
                firstlineno=n.firstlineno,
                kind=n.kind,
                code=self._names.key(index),
            )
        return info

    def event(self, ev: LogEvent) -> Event:
        th = self._reader.threads[ev.thread]
        return Event(
            kind=KIND_NAMES[ev.kind],
            time_ns=ev.time_ns,
            thread_id=th.ident,
            thread_native_id=th.native_id,
            thread_name=th.name or f"Thread-{th.ident}",
            depth=ev.depth,
            function=self.function(ev.function),
            line=ev.line,
            args=ev.args,
            retval=ev.retval,
            exception=exception_name(ev.exc_type),
            exception_repr=ev.exc_repr,
            caller_filename=ev.caller_filename,
        )


class MinDuration:
    """Drops activations shorter than ``min_ns`` (and everything inside
    them) from a stream of events, as ``min_duration=`` asks for trees and
    event logs. An activation is known to be long once any later event of
    its thread comes ``min_ns`` after it started, so events are held back
    for at most about ``min_ns`` of program time, never longer."""

    def __init__(self, min_ns: int) -> None:
        self.min_ns = min_ns
        # per thread: open activations [start_ns, decided, index in pending]
        self._open: dict[int, list[list[Any]]] = {}
        self._pending: dict[int, list[LogEvent]] = {}

    def feed(self, ev: LogEvent) -> list[LogEvent]:
        """The events that can be passed on now."""
        stack = self._open.setdefault(ev.thread, [])
        pending = self._pending.setdefault(ev.thread, [])
        out: list[LogEvent] = []
        self._decide(stack, pending, ev.time_ns, out)
        if ev.kind in ENTERS:
            del stack[ev.depth :]
            stack.append([ev.time_ns, False, len(pending)])
            pending.append(ev)
        elif ev.kind in EXITS and len(stack) > ev.depth:
            del stack[ev.depth + 1 :]
            start, decided, index = stack.pop()
            if decided or ev.time_ns - start >= self.min_ns:
                pending.append(ev)
            else:
                del pending[index:]  # the short activation and its insides
        else:
            pending.append(ev)
        if not any(not frame[1] for frame in stack):
            out.extend(pending)
            pending.clear()
        return out

    def _decide(
        self, stack: list[list[Any]], pending: list[LogEvent], now: int, out: list[LogEvent]
    ) -> None:
        """Mark activations that have lasted long enough; pass on the events
        before the first one still undecided."""
        first = None
        for frame in stack:
            if not frame[1]:
                if now - frame[0] >= self.min_ns:
                    frame[1] = True
                elif first is None:
                    first = frame
        cut = len(pending) if first is None else first[2]
        if cut:
            out.extend(pending[:cut])
            del pending[:cut]
            for frame in stack:
                frame[2] = max(0, frame[2] - cut)

    def flush(self) -> list[LogEvent]:
        """Everything held back (at the end: unfinished activations stay)."""
        out = [ev for pending in self._pending.values() for ev in pending]
        out.sort(key=lambda ev: ev.time_ns)
        self._pending.clear()
        self._open.clear()
        return out


def log_events(reader: LogReader, min_duration_ns: int = 0) -> Iterator[LogEvent]:
    """The log's events in order, leaving out activations shorter than
    ``min_duration_ns``."""
    if min_duration_ns <= 0:
        yield from reader.events()
        return
    keep = MinDuration(min_duration_ns)
    for ev in reader.events():
        yield from keep.feed(ev)
    yield from keep.flush()


def iter_events(tracer: Any, min_duration_ns: int = 0) -> Iterator[Event]:
    """Stream the recorded events of a ``_core.Tracer`` as :class:`Event`
    objects, a batch at a time (see :func:`log_events`)."""
    reader = LogReader(tracer)
    make = _Events(reader).event
    for ev in log_events(reader, min_duration_ns):
        yield make(ev)


def record_info(tracer: Any) -> RecordInfo:
    info = tracer.log_info()
    return RecordInfo(
        recorded=info["count"],
        dropped=info["dropped"],
        limit=info["limit"] if info["record"] else 0,
        wall_offset_ns=info["wall_offset_ns"],
    )
