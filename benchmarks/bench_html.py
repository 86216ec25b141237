"""The HTML report of a big recorded run: how long the aggregation takes,
how big the page is, and how fast headless Chromium draws it.

    python benchmarks/bench_html.py [--events N] [--chromium PATH]

Traces a program of two threads (recursion, a hot loop) with
``trace(record=N)`` (default 10 M events), then builds the page data
(:func:`monitrace.exporters.html.from_source`), renders the document,
and loads it in headless Chromium, which reports the time from navigation
to a drawn page (``data-render-ms``) and the process's wall time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import monitrace
from monitrace.exporters import Source
from monitrace.exporters.html import from_source, render


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def leaf(i):
    return i * 2


def mid(k):
    s = 0
    for i in range(k):
        s += leaf(i)
    return s


def worker(rounds):
    for _ in range(rounds):
        mid(1000)


def program(scale):
    t = threading.Thread(target=worker, args=(max(1, int(200 * scale)),))
    t.start()
    for _ in range(max(1, int(10 * scale))):
        fib(25)
    for _ in range(max(1, int(900 * scale))):
        mid(2000)
    t.join()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument(
        "--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser")
    )
    ns = p.parse_args()
    scale = ns.events / 8_900_000  # about that many events at scale 1
    t0 = time.perf_counter()
    with monitrace.trace(record=ns.events) as s:
        program(scale)
    traced = time.perf_counter() - t0
    info = s.record_info()
    print(f"recorded {info.recorded:,} events ({info.dropped:,} dropped) in {traced:.2f} s")
    t1 = time.perf_counter()
    page = from_source(Source.of(s))
    t2 = time.perf_counter()
    text = render(page)
    t3 = time.perf_counter()
    print(
        f"aggregation: {t2 - t1:.2f} s ({(t2 - t1) / max(1, info.recorded) * 1e9:.0f} ns/event); "
        f"rendering the document: {t3 - t2:.2f} s; page: {len(text.encode()) / 1e6:.2f} MB"
    )
    if not ns.chromium:
        print("!!! no chromium: load time not measured")
        return 0
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "report.html")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        blank = os.path.join(d, "blank.html")
        with open(blank, "w") as f:
            f.write("<!DOCTYPE html><title>blank</title>")
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={d}/profile",
            "--dump-dom",
        ]
        for name, target in (("blank page", blank), ("report", path), ("report", path)):
            t4 = time.perf_counter()
            out = subprocess.run(
                [ns.chromium, *flags, "file://" + target],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            wall = time.perf_counter() - t4
            m = re.search(r'data-render-ms="(\d+)"', out)
            drawn = f", drawn {m.group(1)} ms after navigation" if m else ""
            print(f"chromium --dump-dom of the {name}: {wall:.2f} s wall{drawn}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
