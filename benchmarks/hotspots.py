"""Instruction counts per event, for finding hot spots on a noisy machine.

    python benchmarks/hotspots.py [--tool perf|callgrind|both] [--n 20]

Runs fib(n) in child processes under each mode (untraced, monitrace stats
mode, everything filtered out, cProfile), at n and n+2, and reports

- `perf stat`: user-space instructions and cycles per event, from the
  difference between the two sizes (start-up and tracer set-up cancel);
- `valgrind --tool=callgrind`: the same difference in instructions, plus
  the instructions spent inside monitrace's own callbacks per event
  (inclusive cost of mt_on_py_start + mt_on_py_return), which is the part
  monitrace's C code controls; the rest is CPython's event dispatch.

Instruction counts are deterministic: compare them before and after a
change to the C code. Needs perf and valgrind on PATH; a missing tool is
skipped with a note.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

MODES = ("untraced", "monitrace", "filtered", "record", "cprofile")


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def calls(n: int) -> int:
    """Calls fib(n) makes, itself included."""
    a, b = 1, 1  # calls for n = 0, 1
    for _ in range(n - 1):
        a, b = b, a + b + 1
    return b if n >= 1 else a


def threads_fib(threads: int, n: int) -> None:
    """fib(n) four times in all, spread over `threads` threads."""
    import threading

    def work() -> None:
        for _ in range(4 // threads):
            fib(n)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def child(mode: str, n: int, threads: int = 0) -> None:
    """The measured program: set up, warm up untraced, trace one fib(n)
    (with `threads`: fib(n) four times over that many threads)."""
    import cProfile

    import monitrace
    import monitrace._core

    if threads:

        def run() -> None:
            threads_fib(threads, n)
    else:

        def run() -> None:
            fib(n)

    run()
    if mode == "monitrace":
        tracer = monitrace.trace()
    elif mode == "record":
        tracer = monitrace.trace(record=10_000_000)
    elif mode == "filtered":
        tracer = monitrace._core.Tracer(filter=lambda key: False)
    elif mode == "cprofile":
        tracer = cProfile.Profile()
    else:
        tracer = None
    start = {"cprofile": "enable"}.get(mode, "start")
    stop = {"cprofile": "disable"}.get(mode, "stop")
    if tracer is not None:
        getattr(tracer, start)()
    run()
    if tracer is not None:
        getattr(tracer, stop)()


# Fixed hashing keeps dict layouts, and so instruction counts, the same
# from run to run.
CHILD_ENV = dict(os.environ, PYTHONHASHSEED="0")


def perf_counts(mode: str, n: int) -> dict[str, int]:
    cmd = [
        "perf",
        "stat",
        "-x",
        ",",
        "-e",
        "instructions:u,cycles:u",
        sys.executable,
        __file__,
        "--child",
        mode,
        str(n),
        "0",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=CHILD_ENV)
    counts = {}
    for line in out.stderr.splitlines():
        parts = line.split(",")
        if len(parts) > 2 and parts[0].isdigit():
            counts[parts[2].split(":")[0]] = int(parts[0])
    return counts


def callgrind_counts(mode: str, n: int, tmp: str, threads: int = 0) -> dict[str, int]:
    out_file = os.path.join(tmp, f"cg.{mode}.{n}.{threads}")
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out_file}",
        sys.executable,
        __file__,
        "--child",
        mode,
        str(n),
        str(threads),
    ]
    subprocess.run(cmd, capture_output=True, text=True, check=True, env=CHILD_ENV)
    ann = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", "--auto=no", out_file],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = 0
    # The table names some functions twice (with and without the build
    # directory's prefix): keep one number per function name.
    ours: dict[str, int] = {}
    for line in ann.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*)", line)
        if not m:
            continue
        value = int(m.group(1).replace(",", ""))
        what = m.group(2)
        if "PROGRAM TOTALS" in what:
            total = value
        fn = re.search(r":(mt_on_py_(?:start|return))\b", what)
        if fn:
            ours[fn.group(1)] = max(ours.get(fn.group(1), 0), value)
    return {"total": total, "callbacks": sum(ours.values())}


def per_event(get, mode: str, n: int, key: str, runs: int = 1) -> float:
    """Cost per event of `mode` beyond untraced, sizes n and n+2, with
    `runs` fib(n) per program."""
    events = 2 * runs * (calls(n + 2) - calls(n))
    grow = get(mode, n + 2)[key] - get(mode, n)[key]
    base = get("untraced", n + 2)[key] - get("untraced", n)[key]
    return (grow - base) / events


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tool", choices=("perf", "callgrind", "both"), default="both")
    p.add_argument(
        "--n", type=int, default=None, help="fib size (default 24 for perf, 20 for callgrind)"
    )
    p.add_argument("--child", nargs=3, metavar=("MODE", "N", "THREADS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return 0
    print(
        f"Python {sys.version.split()[0]}; per event = (cost of the "
        "traced fib(n+2) - fib(n)) - (the same untraced), divided by the "
        "extra PY_START+PY_RETURN events"
    )
    if args.tool in ("perf", "both"):
        n = args.n or 24
        if shutil.which("perf") is None:
            print("perf: not installed, skipped")
        else:
            cache: dict[tuple[str, int], dict[str, int]] = {}

            def get(mode: str, size: int) -> dict[str, int]:
                if (mode, size) not in cache:
                    cache[(mode, size)] = perf_counts(mode, size)
                return cache[(mode, size)]

            print(f"\nperf stat, n={n}, per event beyond untraced:")
            print(f"{'mode':<12} {'instructions':>13} {'cycles':>10}")
            for mode in MODES[1:]:
                print(
                    f"{mode:<12} {per_event(get, mode, n, 'instructions'):13.1f} "
                    f"{per_event(get, mode, n, 'cycles'):10.1f}"
                )
    if args.tool in ("callgrind", "both"):
        if shutil.which("valgrind") is None:
            print("callgrind: valgrind not installed, skipped")
            return 0
        n = args.n or 20
        with tempfile.TemporaryDirectory() as tmp:
            cg: dict[tuple[str, int], dict[str, int]] = {}

            def cget(mode: str, size: int) -> dict[str, int]:
                if (mode, size) not in cg:
                    cg[(mode, size)] = callgrind_counts(mode, size, tmp)
                return cg[(mode, size)]

            print(f"\ncallgrind, n={n}, instructions per event beyond untraced:")
            print(f"{'mode':<12} {'total':>8} {'in mt_on_py_*':>14}")
            for mode in MODES[1:4]:
                total = per_event(cget, mode, n, "total")
                own = per_event(cget, mode, n, "callbacks")
                print(f"{mode:<12} {total:8.1f} {own:14.1f}")
            m = max(n - 2, 4)
            print(
                f"\ncallgrind, monitrace, fib({m}) x 4 over 1 or 4 "
                "threads, instructions per event beyond untraced:"
            )
            for threads in (1, 4):

                def tget(mode: str, size: int) -> dict[str, int]:
                    key = (f"{mode}/t{threads}", size)
                    if key not in cg:
                        cg[key] = callgrind_counts(mode, size, tmp, threads)
                    return cg[key]

                total = per_event(tget, "monitrace", m, "total", runs=4)
                own = per_event(tget, "monitrace", m, "callbacks", runs=4)
                print(f"{threads} thread{'s' if threads > 1 else '':<6} {total:8.1f} {own:14.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
