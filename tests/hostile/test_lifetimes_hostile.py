"""Memory follows live code and live threads.

- A thread that ends folds its rows into the session's totals: the tracer
  keeps no row of it (a C-side count says so), while exact counts, per
  thread too, stay.
- A code object that dies releases its record's rows, and its numbers
  stay under its name."""

import gc
import threading
import weakref

from hostile_util import assert_consistent

import monitrace
from monitrace import _core
from monitrace.exporters import pstats as pstats_export

NFUNCS = 300


def make_functions(n):
    ns = {}
    src = "".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(n))
    exec(compile(src, "<many>", "exec"), ns)
    return [ns[f"f{i}"] for i in range(n)]


def test_finished_threads_keep_no_rows():
    funcs = make_functions(NFUNCS)
    expected = {}
    per_thread = {}

    def plan(k):
        # 20 of the functions, the later ones on later threads, so that a
        # thread's row array (sized by the highest index it touched) grows
        return [funcs[(k * 7 + j * 13) % NFUNCS] for j in range(20)]

    for k in range(200):
        for j, f in enumerate(plan(k)):
            expected[f.__name__] = expected.get(f.__name__, 0) + j % 3 + 1
            per_thread[(f"w{k}", f.__name__)] = per_thread.get((f"w{k}", f.__name__), 0) + j % 3 + 1

    def body(k):
        for j, f in enumerate(plan(k)):
            for _ in range(j % 3 + 1):
                f(j)

    with monitrace.trace(include="function:f*") as s:
        for batch in range(10):
            threads = [
                threading.Thread(target=body, args=(k,), name=f"w{k}")
                for k in range(batch * 20, batch * 20 + 20)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        held = _core.selfcheck(s._tracer)
    assert held["problems"] == []
    assert held["finished_threads"] == 200
    # No thread rows are left (the main thread called none of them), and
    # the finished threads' latency takes one row per function.
    assert (held["rows"], held["row_slots"]) == (0, 0)
    assert held["finished_rows"] == len(expected)
    got = {st.name: st.calls for st in s.stats()}
    assert got == expected
    by_thread = {(st.thread_name, st.name): st.calls for st in s.stats(by_thread=True)}
    assert by_thread == per_thread
    # Latency survives in the merged view: one sample per call.
    for st in s.stats():
        assert sum(c for _lo, _hi, c in st.histogram) == st.calls
        assert 0 < st.min_time <= st.p50 <= st.max_time
    # pstats: callers of finished threads (none here: f* call nothing
    # traced) and counts agree.
    assert {k[2]: v[1] for k, v in pstats_export.build(s.snapshot()).items()} == expected
    assert_consistent(s)


def test_finished_threads_keep_their_caller_edges():
    def leaf(n):
        return n

    def branch(n):
        return leaf(n) + leaf(n + 1)

    def body():
        for i in range(5):
            branch(i)

    with monitrace.trace() as s:
        threads = [threading.Thread(target=body, name=f"e{k}") for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    st = pstats_export.build(s.snapshot())
    (leaf_entry,) = [v for k, v in st.items() if k[2] == "leaf"]
    callers = {k[2]: v[0] for k, v in leaf_entry[4].items()}
    assert leaf_entry[1] == 40
    assert callers == {"branch": 40}


def test_dead_code_objects_release_their_records():
    alive = []

    def run(session_options):
        with monitrace.trace(**session_options) as s:
            for i in range(500):
                ns = {}
                exec(compile("def made(n):\n    return n + 1\n", "<made>", "exec"), ns)
                alive.append(weakref.ref(ns["made"].__code__))
                for _ in range(i % 3 + 1):
                    ns["made"](i)
                del ns
            gc.collect()
            held = _core.selfcheck(s._tracer)
        return s, held

    s, held = run({})
    assert [r for r in alive if r() is not None] == []
    # Every exec'd code object (the function's and the module's) died:
    # their records were retired, their rows folded under two names.
    assert held["retired_records"] == 1000
    assert held["retired_names"] == 2
    assert held["live_records"] == held["records"] - 1000
    assert held["rows"] <= held["live_records"]
    (made,) = [st for st in s.stats() if st.name == "made"]
    assert made.calls == sum(i % 3 + 1 for i in range(500))
    assert (made.filename, made.firstlineno, made.qualname) == ("<made>", 1, "made")
    assert sum(c for _lo, _hi, c in made.histogram) == made.calls
    assert s.calls("made") == made.calls
    st = pstats_export.build(s.snapshot())
    assert st[("<made>", 1, "made")][1] == made.calls
    assert_consistent(s)


def test_dead_code_keeps_its_name_in_recorded_events():
    with monitrace.trace(record=True, lines=True) as s:
        for i in range(3):
            ns = {}
            exec(compile(f"def gone{i}(n):\n    return n\n", "<gone>", "exec"), ns)
            ns[f"gone{i}"](i)
            del ns
        gc.collect()
    calls = [e.function.qualname for e in s.events() if e.kind == "call"]
    assert [q for q in calls if q.startswith("gone")] == ["gone0", "gone1", "gone2"]
    assert s.line_stats()[("<gone>", 2)] == 3
    assert {st.name: st.calls for st in s.stats() if st.name.startswith("gone")} == {
        "gone0": 1,
        "gone1": 1,
        "gone2": 1,
    }


def test_a_session_restarts_cleanly_after_its_code_died():
    s = monitrace.trace(lines=True, record=True)
    with s:
        ns = {}
        exec(compile("def brief(n):\n    return n\n", "<brief>", "exec"), ns)
        ns["brief"](1)
        del ns
        gc.collect()
    with s:  # LINE events are switched on again for live code only
        ns = {}
        exec(compile("def brief(n):\n    return n\n", "<brief>", "exec"), ns)
        ns["brief"](2)
    assert s.errors == []
    assert s.calls("brief") == 2
    assert s.line_stats()[("<brief>", 2)] == 2
