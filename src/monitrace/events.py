"""Recorded events as typed objects: the stable interface between record
mode (``trace(record=True)``) and whatever reads it (the call tree,
exporters, your own code)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any, Final

from .model import ENTERS, EXITS, KIND_NAMES
from .model import identity as _identity

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


class Decoder:
    """Turns the C log's tuples into :class:`Event` objects, caching one
    :class:`FunctionInfo` per function."""

    def __init__(self) -> None:
        self._functions: dict[int, FunctionInfo] = {}
        self._records: Sequence[Any] = ()
        self._threads: Sequence[Any] = ()

    def reset(self, records: Sequence[Any], threads: Sequence[Any]) -> None:
        self._records = records
        self._threads = threads

    def forget(self) -> None:
        self._functions.clear()

    def function(self, index: int, key: Any = None, module: Any = None) -> FunctionInfo:
        info = self._functions.get(index)
        if info is None:
            if key is None:
                kind, key, module = self._records[index][:3]
            else:
                kind = "py" if hasattr(key, "co_code") else "c"
            info = FunctionInfo(**_identity(kind, key, module), code=key)
            self._functions[index] = info
        return info

    def thread(self, index: int) -> tuple[int, int, str]:
        ident, native_id, name = self._threads[index]
        return ident, native_id, name or f"Thread-{ident}"

    def knows(self, record: int, thread: int) -> bool:
        return record < len(self._records) and thread < len(self._threads)

    def event(
        self, raw: Sequence[Any], function: FunctionInfo, ident: int, native_id: int, name: str
    ) -> Event:
        kind, t, _thread, _record, depth, line, args, retval, exc_type, exc_repr, caller = raw
        return Event(
            kind=KINDS[kind],
            time_ns=t,
            thread_id=ident,
            thread_native_id=native_id,
            thread_name=name,
            depth=depth,
            function=function,
            line=line,
            args=args,
            retval=retval,
            exception=exception_name(exc_type),
            exception_repr=exc_repr,
            caller_filename=caller,
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
        self._pending: dict[int, list[Event]] = {}

    def feed(self, ev: Event) -> list[Event]:
        """The events that can be passed on now."""
        stack = self._open.setdefault(ev.thread_id, [])
        pending = self._pending.setdefault(ev.thread_id, [])
        out: list[Event] = []
        self._decide(stack, pending, ev.time_ns, out)
        if ev.is_enter:
            del stack[ev.depth:]
            stack.append([ev.time_ns, False, len(pending)])
            pending.append(ev)
        elif ev.is_exit and len(stack) > ev.depth:
            del stack[ev.depth + 1:]
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

    def _decide(self, stack: list[list[Any]], pending: list[Event], now: int, out: list[Event]) -> None:
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

    def flush(self) -> list[Event]:
        """Everything held back (at the end: unfinished activations stay)."""
        out = [ev for pending in self._pending.values() for ev in pending]
        out.sort(key=lambda ev: ev.time_ns)
        self._pending.clear()
        self._open.clear()
        return out


def iter_events(tracer: Any, min_duration_ns: int = 0) -> Iterator[Event]:
    """Stream the recorded events of a ``_core.Tracer`` in order, a batch
    at a time (events recorded while iterating are included), leaving out
    activations shorter than ``min_duration_ns``."""
    if min_duration_ns > 0:
        keep = MinDuration(min_duration_ns)
        for ev in _iter_raw(tracer):
            yield from keep.feed(ev)
        yield from keep.flush()
        return
    yield from _iter_raw(tracer)


def _iter_raw(tracer: Any) -> Iterator[Event]:
    # The log's generation changes when it is cleared (clear(), a fork):
    # after that its positions and record indexes name other events and
    # functions, so each read checks it and fails rather than mix them.
    decoder = Decoder()
    info = tracer.log_info()
    generation = info["generation"]
    decoder.reset(info["records"], info["threads"])
    pos = 0
    while True:
        batch = tracer.log_batch(pos, _BATCH, generation)
        if not batch:
            return
        pos += len(batch)
        for raw in batch:
            record, thread = raw[3], raw[2]
            if not decoder.knows(record, thread):
                info = tracer.log_info()
                if info["generation"] != generation:
                    tracer.log_batch(0, 0, generation)  # raises
                decoder.reset(info["records"], info["threads"])
            ident, native_id, name = decoder.thread(thread)
            yield decoder.event(raw, decoder.function(record), ident, native_id, name)


def record_info(tracer: Any) -> RecordInfo:
    info = tracer.log_info()
    return RecordInfo(
        recorded=info["count"],
        dropped=info["dropped"],
        limit=info["limit"] if info["record"] else 0,
        wall_offset_ns=info["wall_offset_ns"],
    )
