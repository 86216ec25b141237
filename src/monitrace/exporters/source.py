"""What an exporter reads: one snapshot of a session, plus its recorded
events when it recorded any."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Source:
    """A session's data, taken once so every part of an export agrees.

    ``snapshot`` is ``Tracer.snapshot()``; ``events`` returns a fresh
    iterable over the recorded events (None when the session recorded
    none)."""

    snapshot: dict[str, Any]
    events: Callable[[], Iterable[Any]] | None = None

    @classmethod
    def of(cls, session: Any) -> Source:
        events = getattr(session, "events", None)
        recorded = getattr(session, "recorded", None)
        has_events = callable(events) and bool(recorded() if callable(recorded) else recorded)
        return cls(snapshot=session.snapshot(), events=events if has_events else None)
