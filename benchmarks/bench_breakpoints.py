"""What breakpoints cost (issue 16): a session with ``profile=False``.

Times are taken while the session runs (its start and stop, a fixed cost of
a few milliseconds, are left out).

- ``elsewhere``: a call-heavy workload (fib) and a loop, with a breakpoint in
  a function that never runs. Target: within 3% of untraced.
- ``false condition``: a loop whose body line holds a breakpoint whose
  condition is never true. Target: at most 5x untraced.

For scale, the same two under a minimal ``sys.settrace`` line tracer that
checks for the breakpoint line itself (what a settrace debugger pays at the
least). Interleaved rounds, each time divided by the untraced time of the same
round; the median ratio is printed. Not a test: nothing here fails.

    python benchmarks/bench_breakpoints.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from typing import Any
from collections.abc import Callable

import monitrace


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def loop(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def never_called(x: int) -> int:
    return x + 1


LOOP_LINE = loop.__code__.co_firstlineno + 3  # total += i * i
NEVER_LINE = never_called.__code__.co_firstlineno + 1
HERE = __file__


def elsewhere() -> None:
    fib(22)
    loop(200_000)


def false_condition() -> None:
    loop(300_000)


def untraced(work: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    work()
    return time.perf_counter() - t0


def with_monitrace(where: str) -> Callable[[Callable[[], None]], float]:
    def run(work: Callable[[], None]) -> float:
        session = monitrace.trace(
            breakpoints=[monitrace.Breakpoint(where, action=print)], profile=False
        )
        # The program's time while the session runs: starting and stopping
        # (instrumenting every code object once) is a fixed cost.
        with session:
            t0 = time.perf_counter()
            work()
            return time.perf_counter() - t0

    return run


def with_settrace(line: int) -> Callable[[Callable[[], None]], float]:
    condition = compile("i < 0", "<condition>", "eval")

    def local(frame: Any, event: str, arg: Any) -> Any:
        if (
            event == "line"
            and frame.f_lineno == line
            and eval(condition, frame.f_globals, frame.f_locals)
        ):
            print("hit")
        return local

    def global_(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == HERE else None

    def run(work: Callable[[], None]) -> float:
        t0 = time.perf_counter()
        sys.settrace(global_)
        try:
            work()
        finally:
            sys.settrace(None)
        return time.perf_counter() - t0

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    ns = parser.parse_args()
    # The breakpoint in never_called never matches: that is the point.
    warnings.simplefilter("ignore", monitrace.BreakpointWarning)
    cases: dict[str, tuple[Callable[[], None], dict[str, Callable[..., float]]]] = {
        "elsewhere": (
            elsewhere,
            {
                "monitrace profile=False": with_monitrace(f"{HERE}:{NEVER_LINE}"),
                "settrace (minimal)": with_settrace(NEVER_LINE),
            },
        ),
        "false condition": (
            false_condition,
            {
                "monitrace profile=False": with_monitrace(f"{HERE}:{LOOP_LINE} if i < 0"),
                "settrace (minimal)": with_settrace(LOOP_LINE),
            },
        ),
    }
    print(f"Python {sys.version.split()[0]}, {ns.rounds} rounds, median of traced/untraced")
    for name, (work, tracers) in cases.items():
        ratios: dict[str, list[float]] = {t: [] for t in tracers}
        base_times = []
        for _ in range(ns.rounds):
            base = untraced(work)
            base_times.append(base)
            for tname, runner in tracers.items():
                ratios[tname].append(runner(work) / base)
        print(f"{name} (untraced {statistics.median(base_times) * 1e3:.1f} ms):")
        for tname, values in ratios.items():
            print(f"  {tname:<26} {statistics.median(values):6.3f}x")


if __name__ == "__main__":
    main()
