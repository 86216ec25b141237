"""The benchmark harness itself (benchmarks/): exact event counts, every
tracer configuration starts and stops cleanly, and the hot-path shortcut
for co_extra is in use. Nothing here looks at a time."""

import os
import sys
import threading

import pytest

import monitrace
import monitrace._core

BENCH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks")
sys.path.insert(0, BENCH)

import bench  # noqa: E402
import hotspots  # noqa: E402
import memory  # noqa: E402
import bench_tracers as tracers  # noqa: E402
import bench_workloads as workloads  # noqa: E402


def test_direct_code_extra_layout_verified():
    # On 3.12-3.15 the hot path reads co_extra in place; the import-time
    # probe must have confirmed CPython's layout, or we silently lost it.
    if sys.version_info < (3, 16):
        assert monitrace._core.DIRECT_CODE_EXTRA == 1


@pytest.mark.parametrize("n", [0, 1, 2, 5, 12])
def test_event_count_is_exact(n):
    # fib's calls, plus the lambda's own PY_START and PY_RETURN.
    run = lambda: workloads.fib(n)  # noqa: E731
    assert bench.count_events(run) == 2 * hotspots.calls(n) + 2


def _fib_calls(run):
    """Calls of workloads.fib alone: threading's own calls (barrier and
    join waits) vary with scheduling, fib's do not."""
    with monitrace.trace(live=False) as s:
        run()
    return sum(st.calls for st in s.stats() if st.qualname == "fib")


def test_thread_workloads_do_the_same_work():
    one = _fib_calls(lambda: workloads.fib_in_threads(1, 8, 4))
    four = _fib_calls(lambda: workloads.fib_in_threads(4, 8, 1))
    assert one == four == 4 * hotspots.calls(8)
    # Starting threads costs events of its own: the benchmark's threads4
    # row carries that, threads1 does not.
    assert bench.count_events(lambda: workloads.fib_in_threads(4, 8, 1)) > bench.count_events(
        lambda: workloads.fib_in_threads(1, 8, 4)
    )


def test_every_workload_runs_and_counts():
    for name in workloads.CATALOGUE:
        run = workloads.make(name, quick=True)
        assert bench.count_events(run) > 1000, name


@pytest.mark.parametrize("make", tracers.ALL, ids=lambda m: m.name)
def test_tracer_starts_and_stops_cleanly(make):
    tracer = make()
    if tracer.unavailable:
        pytest.skip(tracer.unavailable)
    tracer.begin()
    try:
        workloads.fib(6)
    finally:
        tracer.end()
    assert sys.getprofile() is None and sys.gettrace() is None
    assert threading.getprofile() is None and threading.gettrace() is None
    assert [sys.monitoring.get_tool(i) for i in range(6)] == [None] * 6


def test_measure_one_round_gives_every_cell():
    ns = type(
        "Args",
        (),
        dict(
            quick=True,
            rounds=1,
            min_rounds=1,
            budget=0.0,
            seed=1,
            tracers="untraced,monitrace,filtered",
            workloads="recursion",
            no_peers=True,
            verbose=False,
        ),
    )()
    res = bench.measure(ns)
    cells = res["cells"]["recursion"]
    assert set(cells) == {"untraced", "monitrace", "filtered"}
    assert cells["untraced"]["ratio"] == 1.0
    assert res["workloads"]["recursion"]["events"] == 2 * hotspots.calls(22) + 2
    assert bench.status(res) == 0
    assert "| monitrace stats mode |" in bench.markdown(res)


def test_memory_stats_mode_counts_exactly():
    samples = memory.stats_mode(5_000, samples=5)
    assert [n for n, _ in samples] == [0, 1000, 2000, 3000, 4000, 5000]
