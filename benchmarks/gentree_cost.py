"""Record mode against cProfile on generator-heavy code, in instructions.

    python benchmarks/gentree_cost.py [--small 2] [--big 6] [--keep DIR]

Runs the `gentree` workload (bench_workloads.py: recursion plus a method
tree summed through generator expressions) under callgrind in child
processes, `PYTHONHASHSEED=0`, for each mode (untraced, cProfile, monitrace
stats mode, monitrace record mode, and record mode followed by one read of
its numbers, which folds them from the log) at two sizes, and prints each
mode's cost as instructions(big rounds) - instructions(small rounds) (start-up,
imports and tracer set-up cancel), beyond untraced, and the ratio to
cProfile's: (mode - untraced) / (cProfile - untraced). This is the method
of the "Issue 13" table in benchmarks/README.md.

--keep DIR keeps the callgrind output files, for
`callgrind_annotate --auto=yes` on a build with -g (CFLAGS=-g).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

MODES = ("untraced", "cprofile", "stats", "record", "record+read")
HERE = os.path.dirname(os.path.abspath(__file__))


def child(mode: str, rounds: int) -> None:
    """The measured program: warm up untraced, then gentree(rounds) under
    `mode`."""
    import cProfile
    import gc

    sys.path.insert(0, HERE)
    from bench_workloads import gentree

    import monitrace

    gentree(1)
    # No collection inside the measured part: 3.14's incremental collector
    # otherwise adds a lumpy few million instructions to some runs.
    gc.collect()
    gc.disable()
    if mode == "cprofile":
        prof = cProfile.Profile()
        prof.enable()
        gentree(rounds)
        prof.disable()
    elif mode in ("stats", "record", "record+read"):
        recording = mode != "stats"
        tracer = monitrace.trace(record=10_000_000) if recording else monitrace.trace()
        tracer.start()
        gentree(rounds)
        tracer.stop()
        if mode == "record+read":
            # Record mode works rows, edges and latency out of the log when
            # first read (src/ccore/deferred.c): this is that cost.
            tracer.snapshot()
    else:
        gentree(rounds)


def count(mode: str, rounds: int, out_dir: str) -> int:
    out_file = os.path.join(out_dir, f"cg.{mode}.{rounds}")
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out_file}",
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        mode,
        str(rounds),
    ]
    env = dict(os.environ, PYTHONHASHSEED="0")
    subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    with open(out_file) as f:
        for line in f:
            m = re.match(r"(?:summary|totals):\s+(\d+)", line)
            if m:
                return int(m.group(1))
    raise RuntimeError(f"no totals in {out_file}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--small", type=int, default=2, help="rounds of the small run")
    p.add_argument("--big", type=int, default=6, help="rounds of the big run")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated subset")
    p.add_argument("--keep", metavar="DIR", help="keep callgrind output files here")
    p.add_argument("--child", nargs=2, metavar=("MODE", "ROUNDS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0
    modes = [m for m in MODES if m in args.modes.split(",")]
    # One run outside valgrind first: it writes the .pyc files, whose
    # compiling would otherwise land in whichever measured run came first.
    subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", "untraced", "1"], check=True
    )
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.keep or tmp
        if args.keep:
            os.makedirs(out_dir, exist_ok=True)
        cost = {m: count(m, args.big, out_dir) - count(m, args.small, out_dir) for m in modes}
    print(
        f"Python {sys.version.split()[0]}, gentree({args.big}) - gentree({args.small}), "
        "callgrind instructions"
    )
    base = cost.get("untraced")
    for m in modes:
        line = f"{m:<11} {cost[m]:>12,}"
        if base is not None and m != "untraced":
            line += f"  +{(cost[m] - base) / 1e6:.2f} M"
            if "cprofile" in cost and m != "cprofile":
                line += f" ({(cost[m] - base) / (cost['cprofile'] - base):.2f}x cProfile)"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
