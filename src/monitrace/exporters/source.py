"""What an exporter reads: one snapshot of a session, plus its recorded
events when it recorded any.

Recorded events reach the exporters as :class:`LogEvent` tuples, in the
order they happened. Their fields follow the C event log (``Tracer.
log_batch``): ``thread`` and ``function`` are indexes into
:attr:`Source.threads` and the snapshot's ``records``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from ..model import CALLS, ENTERS, EXITS, FunctionName, Kind, NameTable

__all__ = ["CALLS", "ENTERS", "EXITS", "Kind", "LogEvent", "Source", "ThreadInfo"]


class LogEvent(NamedTuple):
    """One recorded event. Times are ns on the session's monotonic scale;
    the captures are None unless the session asked for them."""

    kind: int
    time_ns: int
    thread: int
    function: int
    depth: int = 0
    line: int = 0
    args: tuple[tuple[str, str], ...] | None = None
    retval: str | None = None
    exc_type: Any = None
    exc_repr: str | None = None


class ThreadInfo(NamedTuple):
    ident: int
    native_id: int
    name: str | None


@dataclasses.dataclass(frozen=True)
class Source:
    """A session's data, taken once so every part of an export agrees.

    ``snapshot`` is ``Tracer.snapshot()``; ``events`` returns a fresh
    iterable over the recorded events (None when the session recorded
    none); ``threads`` describes the threads the events name, by index;
    ``wall_offset_ns`` turns an event time into Unix time in ns."""

    snapshot: dict[str, Any]
    events: Callable[[], Iterable[LogEvent]] | None = None
    threads: Sequence[ThreadInfo] = ()
    wall_offset_ns: int = 0
    _names: NameTable = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_names", NameTable(self.snapshot["records"]))

    @classmethod
    def of(cls, session: Any) -> Source:
        """The data of `session` (a monitrace Session); its events when it
        records them (``trace(record=...)``)."""
        snapshot = session.snapshot()
        options = getattr(session, "options", None)
        if not getattr(options, "record", False) or not hasattr(session, "events"):
            return cls(snapshot=snapshot)
        # Threads are numbered as the events name them: writers look a
        # thread up only after one of its events went by.
        threads: list[ThreadInfo] = []
        adapter = _EventAdapter(snapshot, threads)
        return cls(
            snapshot=snapshot,
            events=lambda: adapter.adapt(session.events()),
            threads=threads,
            wall_offset_ns=int(session.record_info().wall_offset_ns),
        )

    def need_events(self, what: str) -> Callable[[], Iterable[LogEvent]]:
        if self.events is None:
            raise ValueError(
                f"{what} needs recorded events: trace with "
                "monitrace.trace(record=True)"
            )
        return self.events

    def function(self, index: int) -> FunctionName:
        """The names of record `index` (model.NameTable: what every reader
        calls the function)."""
        return self._names[index]

    def thread(self, index: int) -> ThreadInfo:
        if 0 <= index < len(self.threads) and self.threads[index] is not None:
            return self.threads[index]
        return ThreadInfo(index, index, None)


class _EventAdapter:
    """monitrace.Event objects (Session.events()) to LogEvent tuples:
    functions become snapshot record indexes, threads indexes into
    `threads` (appended as they appear)."""

    def __init__(self, snapshot: dict[str, Any], threads: list[ThreadInfo]) -> None:
        self._records = {id(rec[1]): i for i, rec in enumerate(snapshot["records"])}
        self._threads = threads
        self._thread_index: dict[tuple[int, int], int] = {}

    def adapt(self, events: Iterable[Any]) -> Iterable[LogEvent]:
        records = self._records
        kinds = {k.name.lower(): k for k in Kind}
        for ev in events:
            function = records.get(id(ev.function.code))
            if function is None:
                continue  # a function the snapshot does not know
            key = (ev.thread_id, ev.thread_native_id)
            thread = self._thread_index.get(key)
            if thread is None:
                thread = self._thread_index[key] = len(self._threads)
                self._threads.append(ThreadInfo(ev.thread_id, ev.thread_native_id, ev.thread_name))
            yield LogEvent(
                kinds[ev.kind], ev.time_ns, thread, function, ev.depth, ev.line,
                ev.args, ev.retval, ev.exception, ev.exception_repr,
            )
