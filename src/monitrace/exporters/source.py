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
from typing import Any

from ..model import CALLS, ENTERS, EXITS, FunctionName, Kind, LogEvent, NameTable, ThreadInfo

__all__ = ["CALLS", "ENTERS", "EXITS", "Kind", "LogEvent", "Source", "ThreadInfo"]


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
    more_records: Callable[[], Sequence[Any]] | None = None
    _names: NameTable = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_names", NameTable(self.snapshot["records"]))

    @classmethod
    def of(cls, session: Any) -> Source:
        """The data of `session` (a monitrace Session); its events when it
        records them (``trace(record=...)``)."""
        snapshot = session.snapshot()
        options = getattr(session, "options", None)
        log = getattr(session, "event_log", None)
        if not getattr(options, "record", False) or log is None:
            return cls(snapshot=snapshot)
        from ..events import log_events

        reader = log()
        min_ns = int(round(getattr(options, "min_duration", 0.0) * 1e9))
        return cls(
            snapshot=snapshot,
            events=lambda: log_events(reader, min_ns),
            threads=reader.threads,
            wall_offset_ns=reader.wall_offset_ns,
            more_records=reader.all_records,
        )

    def need_events(self, what: str) -> Callable[[], Iterable[LogEvent]]:
        if self.events is None:
            raise ValueError(
                f"{what} needs recorded events: trace with monitrace.trace(record=True)"
            )
        return self.events

    def function(self, index: int) -> FunctionName:
        """The names of record `index` (model.NameTable: what every reader
        calls the function)."""
        if index >= len(self._names) and self.more_records is not None:
            # A function first seen after the snapshot was taken (the
            # session still runs): the log knows the records since.
            self._names.reset(self.more_records())
        return self._names[index]

    def thread(self, index: int) -> ThreadInfo:
        if 0 <= index < len(self.threads) and self.threads[index] is not None:
            return self.threads[index]
        return ThreadInfo(index, index, None)
