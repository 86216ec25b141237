"""Recorded events as well-nested activations, per thread.

The event formats (Chrome trace, collapsed stacks, OpenTelemetry spans)
all need what :func:`walk` gives: for every thread, begin and end of each
activation, properly nested, in time order, one at a time. It trusts the
log no more than the core trusts sys.monitoring: an exit that does not
match the top of its thread's stack ends the activations above the match
first; an exit that matches nothing (the function began before recording
did) is dropped; activations still open at the end are ended at the last
time seen on their thread. Memory is the depth of the stacks, not the
length of the log.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from .source import CALLS, ENTERS, EXITS, LogEvent


@dataclasses.dataclass(slots=True)
class Activation:
    """One stretch of a function on a thread's stack: a call, or the part
    of a generator or coroutine between a resume and a yield."""

    function: int
    start_ns: int
    is_call: bool  # a new call (not a resume)
    begin: LogEvent
    child_ns: int = 0  # time spent in nested activations
    end_ns: int = 0
    end: LogEvent | None = None  # None: ended without an event of its own

    @property
    def elapsed_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)

    @property
    def self_ns(self) -> int:
        return max(0, self.elapsed_ns - self.child_ns)


class Step(NamedTuple):
    """``begin`` is True when `activation` starts, False when it ends;
    `stack` is the thread's stack below it (read-only, live)."""

    begin: bool
    thread: int
    activation: Activation
    stack: list[Activation]


def walk(events: Iterable[LogEvent]) -> Iterator[Step]:
    """Begin and end steps, well nested per thread (see the module doc)."""
    stacks: dict[int, list[Activation]] = {}
    last: dict[int, int] = {}
    for ev in events:
        kind = ev.kind
        thread = ev.thread
        last[thread] = ev.time_ns
        if kind in ENTERS:
            stack = stacks.setdefault(thread, [])
            act = Activation(ev.function, ev.time_ns, kind in CALLS, ev)
            yield Step(True, thread, act, stack)
            stack.append(act)
        elif kind in EXITS:
            stack = stacks.get(thread, [])
            if not stack:
                continue
            i = len(stack) - 1
            while i >= 0 and stack[i].function != ev.function:
                i -= 1
            if i < 0:
                continue  # began before recording did
            while len(stack) > i + 1:
                yield _end(stack, thread, ev.time_ns, None)
            yield _end(stack, thread, ev.time_ns, ev)
    for thread, stack in stacks.items():
        while stack:
            yield _end(stack, thread, last[thread], None)


def _end(stack: list[Activation], thread: int, time_ns: int, ev: LogEvent | None) -> Step:
    act = stack.pop()
    act.end_ns = max(time_ns, act.start_ns)
    act.end = ev
    if stack:
        stack[-1].child_ns += act.elapsed_ns
    return Step(False, thread, act, stack)
