"""Memory of a tracing session as the traced run gets longer.

    python benchmarks/memory.py [--quick] [--calls N] [--markdown FILE]

Stats mode: resident set size sampled every tenth of N calls (default 10
million) while one session stays open; it should stay flat, because the
per-function tables are sized by the number of functions, not of calls.
Record mode (`trace(record=...)`, when this build has it): growth of the
resident set per recorded call. Reports only; never fails on a number.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import sys
from typing import Any

import monitrace

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """Current resident set size in bytes (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def leaf(x: int) -> int:
    return x + 1


def middle(x: int) -> int:
    return leaf(x) + leaf(x + 1)


def top(x: int) -> int:
    return middle(x) + leaf(x)


def chunk(n: int) -> None:
    """Exactly n traced calls of top/middle/leaf: each top() makes 5."""
    for i in range(n // 5):
        top(i)


def stats_mode(calls: int, samples: int = 10) -> list[tuple[int, int]]:
    """[(calls so far, RSS bytes)] with one session open all along."""
    step = calls // samples
    chunk(step)  # warm up allocator, code objects and the tracer's tables
    gc.collect()
    out = [(0, rss())]
    with monitrace.trace() as session:
        done = 0
        for _ in range(samples):
            chunk(step)
            done += step
            out.append((done, rss()))
    assert session.calls("leaf") == calls // 5 * 3, session.calls("leaf")
    return out


def record_mode(calls: int) -> dict[str, Any] | None:
    """RSS growth per recorded call, or None when record mode is missing."""
    names = {f.name for f in dataclasses.fields(monitrace.Options)}
    if "record" not in names:
        return None
    chunk(calls)
    gc.collect()
    before = rss()
    # Two events per call, and room for the few the harness itself makes.
    session = monitrace.trace(record=calls * 2 + 10_000)
    with session:
        chunk(calls)
        during = rss()
    recorded = session.calls("top") + session.calls("middle") + session.calls("leaf")
    return {
        "calls": recorded,
        "bytes": during - before,
        "bytes_per_call": (during - before) / max(recorded, 1),
    }


def markdown(calls: int, stats: list[tuple[int, int]], record: dict[str, Any] | None) -> str:
    mib = 1 << 20
    lines = [
        f"Python {sys.version.split()[0]}: RSS of one stats-mode session over {calls:,} calls",
        "",
        "| calls so far | RSS (MiB) |",
        "| ---: | ---: |",
    ]
    lines += [f"| {n:,} | {b / mib:.2f} |" for n, b in stats]
    spread = max(b for _, b in stats[1:]) - min(b for _, b in stats[1:])
    lines += ["", f"Spread after the first sample: {spread / 1024:.0f} KiB.", ""]
    if record is None:
        lines.append("Record mode: not in this build yet (trace() has no `record` option).")
    else:
        lines.append(
            f"Record mode: {record['calls']:,} recorded calls grew the RSS "
            f"by {record['bytes'] / mib:.1f} MiB = "
            f"{record['bytes_per_call']:.1f} bytes per recorded call."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1 million calls")
    p.add_argument(
        "--calls", type=int, default=None, help="calls for stats mode (default 10 million)"
    )
    p.add_argument("--record-calls", type=int, default=2_000_000)
    p.add_argument("--markdown", help="also write the tables to this file")
    args = p.parse_args(argv)
    calls = args.calls or (1_000_000 if args.quick else 10_000_000)
    calls -= calls % 50
    stats = stats_mode(calls)
    record = record_mode(args.record_calls // 10 if args.quick else args.record_calls)
    text = markdown(calls, stats, record)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
