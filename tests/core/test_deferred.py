"""Record mode's deferred numbers (src/ccore/deferred.c): the rows, edges
and latency of logged events are worked out from the log when read. They
must come out as stats mode counts them as they happen, through every
boundary: stats read while running, stop and start again, a thread's end,
a code object's death, reset, and the log filling up mid-run (where the
tracer settles into stats mode's accounting)."""

import gc

import pytest

import monitrace
import monitrace.exporters.pstats
import workloads
from monitrace import _core

WORKLOADS = {
    "fib": lambda: workloads.fib(12),
    "mutual": workloads.mutual,
    "exceptions": workloads.exceptions,
    "objects": workloads.objects,
    "decorators": workloads.decorators,
    "lambdas": workloads.lambdas,
    "from_c": workloads.from_c,
    "generator": workloads.consume_generator,
    "threads": lambda: workloads.run_threads([10, 20]),
    "everything": workloads.everything,
}

FILE = workloads.__file__


def _shape(session):
    """Per function of the workload: calls, primitive calls, latency
    samples and segments, and its callers' (calls, primitive calls)."""
    rows = {
        (r.filename, r.firstlineno, r.name): (r.calls, r.primitive_calls, r.samples, r.segments)
        for r in session.stats()
        if r.filename == FILE or r.kind == "c"
    }
    edges = {
        key: {c: v[:2] for c, v in entry[4].items() if c[0] == FILE}
        for key, entry in monitrace.exporters.pstats.build(session.snapshot()).items()
        if key[0] == FILE
    }
    return rows, edges


def _problems(session):
    return _core.selfcheck(session._tracer)["problems"]


def _stats_mode(run, **options):
    with monitrace.trace(**options) as s:
        run()
    return _shape(s)


@pytest.mark.parametrize("name", sorted(WORKLOADS))
@pytest.mark.parametrize("c_calls", [False, True])
def test_deferred_numbers_equal_stats_modes(name, c_calls):
    run = WORKLOADS[name]
    expected = _stats_mode(run, c_calls=c_calls)
    s = monitrace.trace(record=1_000_000, c_calls=c_calls)
    s.start()
    assert s._tracer.log_info()["deferred"]
    run()
    s.stop()
    assert s._tracer.log_info()["deferred"]
    assert _problems(s) == []
    assert _shape(s) == expected


@pytest.mark.filterwarnings("ignore::monitrace.RecordLimitWarning")
@pytest.mark.parametrize("limit", [1, 7, 40, 200])
def test_a_full_log_settles_into_live_accounting(limit):
    expected = _stats_mode(workloads.everything, c_calls=True)
    s = monitrace.trace(record=limit, c_calls=True)
    s.start()
    workloads.everything()
    info = s._tracer.log_info()
    s.stop()
    assert info["count"] == limit and info["dropped"] > 0
    assert not info["deferred"]
    assert _problems(s) == []
    assert _shape(s) == expected


def test_reading_while_running_then_going_on():
    expected = _stats_mode(lambda: [workloads.fib(10) for _ in range(3)])
    s = monitrace.trace(record=1_000_000)
    s.start()
    seen = []
    for _ in range(3):
        workloads.fib(10)
        # Read from inside traced code: the fold sees frames still open.
        seen.append({r.name: r.calls for r in s.stats() if r.filename == FILE})
        assert _problems(s) == []
    s.stop()
    assert [d["fib"] for d in seen] == [177, 354, 531]
    assert _shape(s) == expected


def _open_frames(depth, session, out):
    """Recurse `depth` deep, then read the numbers with every frame open."""
    if depth:
        return _open_frames(depth - 1, session, out)
    out.append({r.name: (r.calls, r.total_time) for r in session.stats()})
    return None


def test_stop_ends_open_frames_at_the_stop():
    s = monitrace.trace(record=1_000_000)
    s.start()
    seen = []
    _open_frames(5, s, seen)
    s.stop()
    assert seen[0]["_open_frames"][0] == 6
    # Open then: no total yet. Ended by the return before stop.
    assert seen[0]["_open_frames"][1] == 0
    final = {r.name: (r.calls, r.total_time) for r in s.stats()}
    assert final["_open_frames"][0] == 6 and final["_open_frames"][1] > 0
    assert _problems(s) == []


def _open_at_stop(session):
    session.stop()


def test_frames_open_at_a_stop_end_there_and_runs_add_up():
    s = monitrace.trace(record=1_000_000)
    for _ in range(3):
        s.start()
        workloads.fib(8)
        _open_at_stop(s)  # stop() from inside a traced frame
    assert _problems(s) == []
    got = {r.name: (r.calls, r.primitive_calls, r.samples) for r in s.stats()}
    assert got["fib"] == (3 * 67, 3, 3 * 67)
    assert got["_open_at_stop"] == (3, 3, 3)
    # Each stop ended the open frame at the stop: its time is its own.
    row = next(r for r in s.stats() if r.name == "_open_at_stop")
    assert row.total_time > 0


def test_a_dead_code_objects_numbers_are_kept():
    s = monitrace.trace(record=1_000_000)
    s.start()
    for i in range(3):
        namespace = {}
        exec(f"def gone{i}(n):\n    return n + 1\n", namespace)
        namespace[f"gone{i}"](i)
        namespace[f"gone{i}"](i)
        del namespace
        gc.collect()
    # The deaths did not fold the log there and then (its time would
    # land in the frames open at the death): the rows waited.
    info = s._tracer.log_info()
    s.stop()
    assert info["deferred"] and info["folded"] == 0 < info["count"]
    assert _problems(s) == []
    got = {r.name: (r.calls, r.samples) for r in s.stats() if r.name.startswith("gone")}
    assert got == {"gone0": (2, 2), "gone1": (2, 2), "gone2": (2, 2)}
    assert s._tracer.log_info()["folded"] == s._tracer.log_info()["count"]
    # Their rows went into the totals of their names: none is left per thread.
    snap = s.snapshot()
    gone = {i for i, r in enumerate(snap["records"]) if "gone" in str(r[1])}
    assert len(gone) == 3
    assert not [row for t in snap["threads"] for row in t["rows"] if row.function in gone]


def test_reset_while_paused_forgets_the_unfolded_events():
    s = monitrace.trace(record=1_000_000)
    s.start()
    workloads.fib(8)
    s.pause()
    s.reset()
    s.resume()
    workloads.fib(6)
    s.stop()
    assert _problems(s) == []
    got = {r.name: r.calls for r in s.stats() if r.filename == FILE}
    assert got == {"fib": 25}


def test_threads_ending_while_deferred_keep_their_numbers():
    s = monitrace.trace(record=1_000_000)
    s.start()
    workloads.run_threads([5, 7, 9])
    # The workers ended: their numbers went to the finished threads' totals.
    mid = {r.name: r.calls for r in s.stats() if r.filename == FILE}
    workloads.run_threads([1])
    s.stop()
    assert mid["work"] == 21 and mid["thread_worker"] == 3
    assert {r.name: r.calls for r in s.stats() if r.filename == FILE}["work"] == 22
    # Named although no row was made while they ran (rows come from the
    # fold); a later thread may reuse an earlier one's ident, so only the
    # names and the sum are fixed.
    by_thread = [r for r in s.stats(by_thread=True) if r.name == "work"]
    assert sum(r.calls for r in by_thread) == 22
    assert {r.thread_name for r in by_thread} <= {"worker-0", "worker-1", "worker-2"}
    assert "worker-2" in {r.thread_name for r in by_thread}
    assert _problems(s) == []


def test_times_agree_with_the_log():
    """The fold's times are the log's: the outermost call's inclusive time
    is its return's time minus its call's."""
    s = monitrace.trace(record=1_000_000)
    s.start()
    workloads.fib(9)
    s.stop()
    fib = next(r for r in s.stats() if r.name == "fib")
    events = [e for e in s.events() if e.function.name == "fib"]
    assert events[0].kind == "call" and events[-1].kind == "return"
    span = (events[-1].time_ns - events[0].time_ns) / 1e9
    assert fib.total_time == pytest.approx(span, abs=2e-9)
    assert fib.samples == fib.calls == 109


def test_lines_are_not_deferred():
    s = monitrace.trace(record=1000, lines=True)
    s.start()
    info = s._tracer.log_info()
    s.stop()
    assert not info["deferred"]


def test_generators_resumed_out_of_order_count_each_activation():
    """Two generators interleaved: the parked slot holds one, the table the
    other; each activation's latency is sampled once, at its end."""

    def gen(n):
        yield from range(n)

    def interleave():
        a, b = gen(4), gen(4)
        out = []
        for _ in range(4):
            out.append(next(a))
            out.append(next(b))
        out.extend(a)
        out.extend(b)
        return out

    for record in (None, 1_000_000):
        s = monitrace.trace(record=record) if record else monitrace.trace()
        s.start()
        interleave()
        s.stop()
        row = next(r for r in s.stats() if r.name == "gen")
        assert (row.calls, row.samples, row.segments) == (2, 2, 10), record
        assert row.wall_time > 0
        assert _problems(s) == []


def _async_workload():
    import asyncio

    async def pipeline():
        async def numbers(n):
            for i in range(n):
                await asyncio.sleep(0)
                yield i

        total = 0
        async for i in numbers(20):
            total += i
        return total + sum(await workloads.gather_many(6))

    return asyncio.run(pipeline())


def _pstats_counts(tracer):
    """pstats keys -> (calls, primitive calls, {caller: (calls,
    primitive)}), without the tracers' own start and stop (a C method one
    tracer sees called and the other only returning)."""
    built = monitrace.exporters.pstats.build(tracer.snapshot())
    return {
        key: (entry[0], entry[1], {c: v[:2] for c, v in entry[4].items()})
        for key, entry in built.items()
        if "Tracer" not in key[2]
    }


@pytest.mark.parametrize("limit", [50_000_000, 400])
@pytest.mark.parametrize(
    "run", [_async_workload, workloads.everything, lambda: workloads.run_threads([30, 40])]
)
def test_two_tracers_at_once_count_alike(run, limit):
    """The same events, seen by a stats-mode tracer and a deferred (or,
    with the small limit, settled) record-mode one running together."""
    live = _core.Tracer(c_calls=True)
    deferred = _core.Tracer(c_calls=True)
    deferred.log_configure(record=True, limit=limit)
    live.start()
    deferred.start()
    assert deferred.log_info()["deferred"]
    run()
    info = deferred.log_info()
    deferred.stop()
    live.stop()
    assert info["deferred"] == (limit > 400)
    assert _core.selfcheck(live)["problems"] == []
    assert _core.selfcheck(deferred)["problems"] == []
    got, expected = _pstats_counts(deferred), _pstats_counts(live)
    assert sum(calls for calls, _p, _c in got.values()) > 100
    assert got == expected
