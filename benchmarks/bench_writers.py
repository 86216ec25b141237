"""Time and peak memory of each writer for N recorded calls (default 1 M).

    python benchmarks/bench_writers.py [--calls N] [--formats chrome,json,...]

The event log is synthetic (made on the fly by a generator, so the input
itself costs no memory): calls nest three deep (a -> b -> c) across two
threads, with captured arguments on every tenth call. pstats and the
statistics part of JSON depend on the number of functions, not of calls.
Each format runs twice: once for wall time
(no tracing overhead), once under tracemalloc for the peak of Python
allocations. OpenTelemetry sends spans to the SDK with a processor that
drops them, so the number is the cost of making the spans.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator

import monitrace
import monitrace.exporters as exporters
from monitrace.exporters.source import Kind, LogEvent, Source, ThreadInfo


def a(n):
    return b(n)


def b(n):
    return c(n)


def c(n):
    return n


def _snapshot():
    with monitrace.trace() as s:
        a(1)
    snap = s.snapshot()
    idx = {
        key.co_name: i
        for i, (kind, key, _m, traced) in enumerate(snap["records"])
        if kind == "py" and traced
    }
    return snap, (idx["a"], idx["b"], idx["c"])


def _events(calls: int, funcs: tuple[int, int, int]) -> Iterator[LogEvent]:
    fa, fb, fc = funcs
    t = 1_000_000
    args = (("n", "1"),)
    for i in range(calls // 3):
        th = i & 1
        yield LogEvent(Kind.CALL, t, th, fa, 0, 0, args if i % 10 == 0 else None)
        yield LogEvent(Kind.CALL, t + 100, th, fb, 1)
        yield LogEvent(Kind.CALL, t + 200, th, fc, 2)
        yield LogEvent(Kind.RETURN, t + 300, th, fc, 2, 0, None, "1" if i % 10 == 0 else None)
        yield LogEvent(Kind.RETURN, t + 400, th, fb, 1)
        yield LogEvent(Kind.RETURN, t + 500, th, fa, 0)
        t += 600


def _run(fmt: str, source: Source, directory: str) -> int:
    if fmt == "otel":
        from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

        provider = TracerProvider()
        provider.add_span_processor(SpanProcessor())
        from monitrace.exporters.otel import send_spans

        send_spans(source, provider)
        return 0
    suffix = {
        "pstats": ".pstats",
        "json": ".json",
        "json.gz": ".json.gz",
        "chrome": ".json",
        "chrome.gz": ".json.gz",
        "collapsed": ".folded",
    }[fmt]
    path = os.path.join(directory, "out" + suffix)
    exporters.save(source, path, format=fmt.split(".")[0])
    return os.path.getsize(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--formats", default="pstats,json,chrome,chrome.gz,collapsed,otel")
    opts = parser.parse_args()
    snap, funcs = _snapshot()
    source = Source(
        snapshot=snap,
        events=lambda: _events(opts.calls, funcs),
        threads=(ThreadInfo(1, 1, "MainThread"), ThreadInfo(2, 2, "worker")),
    )
    print(f"python {sys.version.split()[0]}, {opts.calls:,} calls ({opts.calls // 3 * 6:,} events)")
    print(f"{'format':<10} {'seconds':>8} {'ns/call':>8} {'peak MiB':>9} {'size MiB':>9}")
    with tempfile.TemporaryDirectory() as directory:
        for fmt in opts.formats.split(","):
            if fmt == "otel":
                try:
                    import opentelemetry.sdk  # noqa: F401
                except ImportError:
                    print(f"{fmt:<10} skipped: pip install 'monitrace[otel]'")
                    continue
            t0 = time.perf_counter()
            size = _run(fmt, source, directory)
            seconds = time.perf_counter() - t0
            tracemalloc.start()
            _run(fmt, source, directory)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            print(
                f"{fmt:<10} {seconds:8.2f} {seconds / opts.calls * 1e9:8.0f} "
                f"{peak / 2**20:9.2f} {size / 2**20:9.1f}"
            )


if __name__ == "__main__":
    main()
