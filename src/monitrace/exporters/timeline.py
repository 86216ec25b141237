"""Recorded events as well-nested activations, per thread: the one place
where a thread's entries and exits are paired.

Every reader of the log that needs activations (the Chrome trace,
collapsed stacks, OpenTelemetry spans, the HTML report's trees and
timelines, a Chrome trace read back, the tree by asyncio task) takes them
from :func:`walk` (or a :class:`Walker`, to read the walk's state as it
goes): for every thread, begin and end of each activation, properly
nested, in time order, one at a time. It trusts the log no more than the
core trusts sys.monitoring: an exit that does not match the top of its
thread's stack ends the activations above the match first; an exit that
matches nothing (the function began before recording did) is dropped;
activations still open at the end are ended at the last time seen on
their thread (or, asked so, where they began). Memory is the depth of the
stacks, not the length of the log.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

from .source import CALLS, ENTERS, EXITS, LogEvent

#: The function of an exit that ends the innermost activation of its
#: thread, whichever function that is (a Chrome trace's "E" event).
INNERMOST = -1


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
    mark: Any = None  # the reader's own data about it (a tree node, ...)

    @property
    def elapsed_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)

    @property
    def self_ns(self) -> int:
        return max(0, self.elapsed_ns - self.child_ns)


#: One step of a walk: ``(begin, thread, activation, stack)``. `begin` is
#: True when `activation` starts, False when it ends; `stack` is the
#: thread's stack below it (read-only, live). A plain tuple: a walk makes
#: one per event, and a NamedTuple costs several times as much to make.
Step = tuple[bool, int, Activation, list[Activation]]


def walk(events: Iterable[LogEvent]) -> Iterator[Step]:
    """Begin and end steps, well nested per thread (see the module doc)."""
    return Walker().steps(events)


class Walker:
    """:func:`walk`, with what it has seen readable while it runs:
    ``last`` maps each thread to the time of its last event (threads in
    the order of their first event, activations or not), ``first_ns`` is
    the time of the log's first event, ``read`` counts the events read
    (kept current at begin steps, where the step's event is number
    ``read - 1``, and at the end), and ``ending``
    turns True once the log is read and the activations still open are
    being ended. With ``end_unfinished_at_start``, those end where they
    began (no time), not at their thread's last event."""

    __slots__ = ("last", "first_ns", "read", "ending", "_at_start")

    def __init__(self, end_unfinished_at_start: bool = False) -> None:
        self.last: dict[int, int] = {}
        self.first_ns: int | None = None
        self.read = 0
        self.ending = False
        self._at_start = end_unfinished_at_start

    def steps(self, events: Iterable[LogEvent]) -> Iterator[Step]:
        # Written for speed: it runs once per event of logs of millions.
        stacks: dict[int, list[Activation]] = {}
        last = self.last
        enters, exits, calls = ENTERS, EXITS, CALLS
        read = self.read
        first = self.first_ns
        for ev in events:
            read += 1
            # By position: faster than the named fields.
            kind, now, thread = ev[0], ev[1], ev[2]
            if first is None:
                first = self.first_ns = now
            last[thread] = now
            if kind in enters:
                stack = stacks.get(thread)
                if stack is None:
                    stack = stacks[thread] = []
                act = Activation(ev[3], now, kind in calls, ev)
                self.read = read
                yield (True, thread, act, stack)
                stack.append(act)
            elif kind in exits:
                stack = stacks.get(thread)
                if not stack:
                    continue
                function = ev[3]
                top = stack[-1]
                if function != INNERMOST and top.function != function:
                    i = len(stack) - 2
                    while i >= 0 and stack[i].function != function:
                        i -= 1
                    if i < 0:
                        continue  # began before recording did
                    while len(stack) > i + 1:
                        yield _end(stack, thread, now, None)
                    yield _end(stack, thread, now, ev)
                    continue
                # _end(), inline for the common case: the exit matches the top.
                stack.pop()
                start = top.start_ns
                end = top.end_ns = now if now > start else start
                top.end = ev
                if stack:
                    stack[-1].child_ns += end - start
                yield (False, thread, top, stack)
        self.read = read
        self.ending = True
        for thread, stack in stacks.items():
            while stack:
                end = stack[-1].start_ns if self._at_start else last[thread]
                yield _end(stack, thread, end, None)


def _end(stack: list[Activation], thread: int, time_ns: int, ev: LogEvent | None) -> Step:
    act = stack.pop()
    start = act.start_ns
    end = act.end_ns = time_ns if time_ns > start else start
    act.end = ev
    if stack:
        stack[-1].child_ns += end - start
    return (False, thread, act, stack)
