"""Collapsed stacks (``outer;inner;leaf 42``), the input of flamegraph.pl,
inferno and speedscope.

One line per distinct call stack, with the self time spent in the stack's
leaf, in whole microseconds (summed in ns over the whole trace, then
rounded: stacks whose total rounds to 0 are left out). Frames are named
``module.qualname`` (C functions by their cProfile label); threads are
merged. Built from recorded events, which know exact stacks: the caller
edges that pstats uses cannot tell which path led to a function, so a
flame graph drawn from them would be invented.

Memory is proportional to the number of distinct stacks, not to the
number of calls.
"""

from __future__ import annotations

from typing import IO, Any

from ..model import NameTable
from .chrome import binary_writer
from .source import Source
from .timeline import walk


def _frame(name: str) -> str:
    return name.replace(";", ":").replace("\n", " ").replace("\r", " ")


def aggregate(source: Source) -> dict[tuple[int, ...], int]:
    """{stack of function indexes, outermost first: self ns}."""
    events = source.need_events("the collapsed stacks format")
    totals: dict[tuple[int, ...], int] = {}
    # The path of each open activation, kept alongside the walker's stacks
    # so that building the key costs one tuple per activation.
    paths: dict[int, tuple[int, ...]] = {}
    for begin, _thread, act, stack in walk(events()):
        if begin:
            below = paths.get(id(stack[-1]), ()) if stack else ()
            paths[id(act)] = below + (act.function,)
            continue
        path = paths.pop(id(act))
        totals[path] = totals.get(path, 0) + act.self_ns
    return totals


def write(source: Source, out: IO[str]) -> None:
    """Write `source`'s recorded events as collapsed stacks to `out`."""
    names: dict[int, str] = {}
    for path, ns in sorted(aggregate(source).items()):
        us = (ns + 500) // 1000
        if us <= 0:
            continue
        for f in path:
            if f not in names:
                names[f] = _frame(source.function(f).full_name)
        out.write(";".join(names[f] for f in path))
        out.write(f" {us}\n")


def write_log(source: Source, out: IO[str], tracer: Any, min_ns: int = 0) -> None:
    """write() for a session's own recorded events, aggregated and
    written by the C writer (src/ccore/folded.c) from its event log.
    Activations shorter than `min_ns` are left out (min_duration=)."""
    table = NameTable(tracer.log_info()["records"])
    names = [_frame(table[i].full_name) for i in range(len(table))]
    tracer.log_write_collapsed(binary_writer(out), names, min_ns)
