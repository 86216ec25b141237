"""Tracing overhead, all tracers side by side in one run.

    python benchmarks/bench.py [--quick] [--markdown FILE] [--json FILE]

Every round runs every workload once under every tracer, in a shuffled
order, and divides each time by the untraced time of the same round; the
tables show medians of those ratios, and the overhead in nanoseconds per
monitoring event (PY_START, PY_RETURN, PY_RESUME, PY_YIELD, PY_UNWIND,
PY_THROW, counted exactly by a counting tracer). Nothing here asserts on
time: the targets section says met or not met, and the exit status is 0
unless the benchmark code itself broke.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import monitrace  # noqa: E402
import monitrace._core  # noqa: E402
import bench_tracers as tracer_mod  # noqa: E402
import bench_workloads as workloads  # noqa: E402

PY_EVENTS = ("PY_START", "PY_RETURN", "PY_RESUME", "PY_YIELD", "PY_UNWIND", "PY_THROW")


@dataclass
class Cell:
    """Measurements of one tracer on one workload."""

    seconds: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    ns_per_event: list[float] = field(default_factory=list)
    round_ids: list[int] = field(default_factory=list)
    spent: float = 0.0

    def ratio(self) -> float:
        return statistics.median(self.ratios) if self.ratios else float("nan")

    def ns(self) -> float:
        return statistics.median(self.ns_per_event) if self.ns_per_event else float("nan")


def count_events(run: Callable[[], object]) -> int:
    """Exact number of Python-function events one run delivers."""
    counter = monitrace._core.Tracer(filter=lambda key: True)
    counter.start()
    try:
        run()
    finally:
        counter.stop()
    counts = counter.snapshot()["event_counts"]
    return sum(counts[name] for name in PY_EVENTS)


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "cpu": model,
        "cpus": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "monitrace_clock": monitrace.trace().clock,
    }


def timed(tracer: tracer_mod.Tracer, run: Callable[[], object]) -> float:
    gc.collect()
    tracer.begin()
    try:
        # One untimed run first, for the baseline and every cheap tracer:
        # after another tool changed sys.monitoring's events, each code
        # object is re-instrumented and re-specialised on its next run,
        # and filters decide on first sight. Times are steady state.
        if tracer.warmup:
            run()
        t0 = time.perf_counter()
        run()
        tracer.finish()  # e.g. save the trace: part of the time
        return time.perf_counter() - t0
    finally:
        tracer.end()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    tracers = [make() for make in tracer_mod.ALL]
    if args.tracers:
        wanted = set(args.tracers.split(",")) | {"untraced"}
        tracers = [t for t in tracers if t.name in wanted]
    if args.no_peers:
        for t in tracers:
            if t.peer and t.unavailable is None:
                t.unavailable = "peers skipped (--no-peers)"
    notes = {t.name: t.unavailable for t in tracers if t.unavailable}
    usable = [t for t in tracers if t.unavailable is None]
    names = args.workloads.split(",") if args.workloads else list(workloads.CATALOGUE)
    runs = {name: workloads.make(name, args.quick) for name in names}
    for run in runs.values():
        run()  # imports, caches, first-call specialisation
    events = {name: count_events(run) for name, run in runs.items()}
    cells = {(w, t.name): Cell() for w in names for t in usable}
    broken: dict[tuple[str, str], str] = {}
    rng = random.Random(args.seed)
    started = time.perf_counter()
    for rnd in range(args.rounds):
        for w in names:
            order = list(usable)
            rng.shuffle(order)
            times: dict[str, float] = {}
            for t in order:
                cell = cells[(w, t.name)]
                if (w, t.name) in broken:
                    continue
                if t.name != "untraced" and rnd >= args.min_rounds and cell.spent > args.budget:
                    continue
                try:
                    dt = timed(t, runs[w])
                except Exception as exc:
                    # A peer that breaks on one workload is skipped there
                    # and still measured on the others.
                    broken[(w, t.name)] = f"{type(exc).__name__}: {exc}"
                    if args.verbose or not t.peer:
                        traceback.print_exc(file=sys.stderr)
                    continue
                cell.spent += dt
                times[t.name] = dt
            base = times.get("untraced")
            if base is None:
                continue
            for name, dt in times.items():
                cell = cells[(w, name)]
                cell.seconds.append(dt)
                cell.ratios.append(dt / base)
                cell.ns_per_event.append((dt - base) * 1e9 / events[w])
                cell.round_ids.append(rnd)
        if args.verbose:
            print(
                f"round {rnd + 1}/{args.rounds} done after {time.perf_counter() - started:.1f}s",
                file=sys.stderr,
            )
    for (w, name), why in broken.items():
        notes[name] = (
            notes.get(name, "") + ("; " if name in notes else "") + f"broke on {w} ({why})"
        )
    results: dict[str, Any] = {
        "machine": machine(),
        "quick": args.quick,
        "rounds": args.rounds,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "workloads": {
            w: {"description": workloads.CATALOGUE[w][0], "events": events[w]} for w in names
        },
        "tracers": {t.name: t.label for t in tracers},
        "notes": notes,
        "broken": [f"{w}/{t}" for w, t in broken],
        "cells": {},
    }
    for (w, name), cell in cells.items():
        if (w, name) in broken or not cell.ratios:
            continue
        results["cells"].setdefault(w, {})[name] = {
            "ratio": cell.ratio(),
            "ns_per_event": cell.ns(),
            "base_ms": statistics.median(cells[(w, "untraced")].seconds) * 1e3,
            "rounds": len(cell.ratios),
        }
    if any(t.name in ("chrome-save", "collapsed-save", "tree-text") for t in usable):
        results["write_rates"] = {
            w: write_rates(runs[w]) for w in names if w in ("recursion", "stdlib")
        }
    pair = (cells.get(("threads4", "monitrace")), cells.get(("threads1", "monitrace")))
    if all(c is not None and c.ratios for c in pair):
        # Per round: overhead per event with 4 threads over that with 1,
        # both measured in the same round; the median of those.
        four = dict(zip(pair[0].round_ids, pair[0].ns_per_event))
        one = dict(zip(pair[1].round_ids, pair[1].ns_per_event))
        paired = [four[r] / one[r] for r in four if r in one and one[r] > 0]
        if paired:
            results["threads_ratio"] = statistics.median(paired)
    return results


def write_rates(run: Callable[[], object]) -> dict[str, float]:
    """Events written per second by each way of writing a recorded run
    out (the run recorded once; the best of three writes each)."""
    import tempfile

    session = monitrace.trace(record=4_000_000)
    with session:
        run()
    events = session.record_info().recorded
    directory = tempfile.mkdtemp(prefix="monitrace-bench-")
    writers: dict[str, Callable[[], object]] = {
        "save Chrome .json": lambda: session.save(os.path.join(directory, "t.json")),
        "save .folded": lambda: session.save(os.path.join(directory, "t.folded")),
        "tree() text": session.tree,
    }
    rates = {}
    try:
        for what, write in writers.items():
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                write()
                best = min(best, time.perf_counter() - t0)
            rates[what] = events / best
    finally:
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)
    return rates


# ---- the targets of issue 7 -------------------------------------------------


def targets(res: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) rows. Verdicts are information only."""
    rows: list[tuple[str, str, str]] = []
    rec = res["cells"].get("recursion", {})

    def ns(w: str, t: str) -> float | None:
        cell = res["cells"].get(w, {}).get(t)
        return None if cell is None else cell["ns_per_event"]

    cprof = ns("recursion", "cprofile")
    for name, limit in (("monitrace", 0.5), ("record", 0.7)):
        mine = ns("recursion", name)
        what = f"{res['tracers'].get(name, name)}: overhead <= {limit}x cProfile's (recursion)"
        if mine is None or cprof is None:
            rows.append((what, "not measured: " + res["notes"].get(name, "no data"), "-"))
            continue
        frac = mine / cprof
        rows.append(
            (
                what,
                f"{mine:.1f} vs {cprof:.1f} ns/event = {frac:.2f}x",
                "met" if frac <= limit else "NOT met",
            )
        )
    live, pyf = ns("recursion", "live-file"), ns("recursion", "pyftrace")
    base_live = rec.get("live-file")
    if live is not None and pyf is not None:
        frac = live / pyf
        rows.append(
            (
                "live tree to a file: overhead per event <= 0.1x pyftrace's (recursion)",
                f"{live:.1f} vs {pyf:.1f} ns/event = {frac:.3f}x",
                "met" if frac <= 0.1 else "NOT met",
            )
        )
    if base_live is not None:
        rows.append(
            (
                "live tree to a file: <= 25x untraced (recursion)",
                f"{base_live['ratio']:.1f}x",
                "met" if base_live["ratio"] <= 25 else "NOT met",
            )
        )
    for w in res["cells"]:
        cells = res["cells"][w]
        viz = cells.get("viztracer-save")
        if viz is None:
            continue
        for name in ("chrome-save", "collapsed-save", "tree-text"):
            mine = cells.get(name)
            if mine is None:
                continue
            frac = mine["ratio"] / viz["ratio"]
            rows.append(
                (
                    f"{res['tracers'][name]}: time <= 0.5x VizTracer trace + save ({w})",
                    f"{mine['ratio']:.2f}x vs {viz['ratio']:.2f}x untraced = {frac:.2f}x",
                    "met" if frac <= 0.5 else "NOT met",
                )
            )
    for w, rates in res.get("write_rates", {}).items():
        for what, rate in rates.items():
            rows.append(
                (
                    f"{what}: writing >= 2 M events/s ({w}, recorded once, best of 3)",
                    f"{rate / 1e6:.1f} M events/s",
                    "met" if rate >= 2e6 else "NOT met",
                )
            )
    filt = rec.get("filtered")
    if filt is not None:
        worst = max(c["filtered"]["ratio"] for c in res["cells"].values() if "filtered" in c)
        rows.append(
            (
                "everything filtered out: within 3% of untraced",
                f"recursion {filt['ratio']:.3f}x; worst workload {worst:.3f}x",
                "met" if filt["ratio"] <= 1.03 else "NOT met",
            )
        )
    one, four = ns("threads1", "monitrace"), ns("threads4", "monitrace")
    frac = res.get("threads_ratio")
    if one is not None and four is not None and frac is not None:
        verdict = "met" if frac <= 1.0 else "within noise (<= 5%)" if frac <= 1.05 else "NOT met"
        rows.append(
            (
                "4 threads cost no more per event than 1 (stats mode)",
                f"{four:.1f} vs {one:.1f} ns/event; median of per-round ratios {frac:.2f}x",
                verdict,
            )
        )
    return rows


# ---- output -----------------------------------------------------------------


def fmt(x: float, spec: str) -> str:
    return "-" if x != x else format(x, spec)


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    out = [
        f"Python {m['python']} on {m['cpu']} ({m['cpus']} CPUs, "
        f"{m['system']}), monitrace clock `{m['monitrace_clock']}`; "
        f"{'quick' if res['quick'] else 'full'} run, {res['rounds']} "
        f"interleaved rounds, {res['elapsed_s']} s.",
        "",
    ]
    names = list(res["workloads"])
    order = [t for t in res["tracers"] if any(t in res["cells"].get(w, {}) for w in names)]
    out.append("Time / untraced time (median of per-round ratios):")
    out.append("")
    out.append("| tracer | " + " | ".join(names) + " |")
    out.append("| --- |" + " ---: |" * len(names))
    for t in order:
        cells = [res["cells"].get(w, {}).get(t) for w in names]
        out.append(
            f"| {res['tracers'][t]} | "
            + " | ".join(
                ("broke" if f"{w}/{t}" in res["broken"] else "-")
                if c is None
                else fmt(c["ratio"], ".2f") + "x"
                for w, c in zip(names, cells)
            )
            + " |"
        )
    out.append("")
    out.append("Overhead in ns per event (median of per-round (traced - untraced) / events):")
    out.append("")
    out.append("| tracer | " + " | ".join(names) + " |")
    out.append("| --- |" + " ---: |" * len(names))
    for t in order:
        if t == "untraced":
            continue
        cells = [res["cells"].get(w, {}).get(t) for w in names]
        out.append(
            f"| {res['tracers'][t]} | "
            + " | ".join(
                ("broke" if f"{w}/{t}" in res["broken"] else "-")
                if c is None
                else fmt(c["ns_per_event"], ".1f")
                for w, c in zip(names, cells)
            )
            + " |"
        )
    out.append("")
    out.append("| workload | events per run | untraced ms |")
    out.append("| --- | ---: | ---: |")
    for w in names:
        base = res["cells"].get(w, {}).get("untraced")
        out.append(
            f"| {w}: {res['workloads'][w]['description']} | "
            f"{res['workloads'][w]['events']:,} | "
            f"{'-' if base is None else fmt(base['base_ms'], '.2f')} |"
        )
    out.append("")
    out.append("| target | measured | verdict |")
    out.append("| --- | --- | --- |")
    for what, measured, verdict in targets(res):
        out.append(f"| {what} | {measured} | {verdict} |")
    if res["notes"]:
        out.append("")
        out.append("Notes (skipped or broken):")
        out.append("")
        for name, why in res["notes"].items():
            out.append(f"- {res['tracers'].get(name, name)}: {why}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--quick", action="store_true", help="small workloads and few rounds (under a minute)"
    )
    p.add_argument(
        "--rounds", type=int, default=None, help="interleaved rounds (default 15, quick 5)"
    )
    p.add_argument(
        "--min-rounds",
        type=int,
        default=None,
        help="rounds every tracer runs before its time budget applies (default 3, quick 1)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds one tracer may spend on one workload "
        "before later rounds skip it (default 15, quick 1)",
    )
    p.add_argument("--tracers", help="comma-separated tracer names")
    p.add_argument("--workloads", help="comma-separated workload names")
    p.add_argument("--no-peers", action="store_true", help="skip pyftrace, hunter and viztracer")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--markdown", help="also write the tables to this file")
    p.add_argument("--json", help="also write raw results to this file")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    if args.rounds is None:
        args.rounds = 5 if args.quick else 15
    if args.min_rounds is None:
        args.min_rounds = 1 if args.quick else 3
    if args.budget is None:
        args.budget = 1.0 if args.quick else 15.0
    if not args.verbose:
        # A peer that breaks half-way leaves half-built objects whose
        # finalizers complain at collection time; the break itself is in
        # the notes.
        sys.unraisablehook = lambda unraisable: None
        warnings.filterwarnings("ignore", message="coroutine .* was never")
    res = measure(args)
    text = markdown(res)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    if "hunter" in res["cells"].get(next(iter(res["workloads"]), ""), {}):
        # hunter's thread support leaves threading._DummyThread objects
        # whose finalizers fail noisily at interpreter exit on 3.13.0;
        # everything is written, so leave without finalization.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status(res))
    return status(res)


def status(res: dict[str, Any]) -> int:
    """1 when one of monitrace's own configurations broke (a bug to fix),
    else 0. Peers that break are only noted; times never matter."""
    peers = {make.name for make in tracer_mod.ALL if make.peer}
    ours = [b for b in res["broken"] if b.split("/")[1] not in peers]
    if ours:
        print(f"monitrace broke while benchmarking: {', '.join(ours)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
