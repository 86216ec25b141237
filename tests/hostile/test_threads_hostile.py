"""Threads: created before and after start, exiting while traced, control
methods called from other threads while a callback runs Python code, and
32 busy threads while the main thread starts and stops 100 times."""

import gc
import sys
import threading

import pytest
from hostile_util import (
    PROBE_CALLS,
    assert_consistent,
    assert_still_exact,
    probe,
)

import monitrace
from monitrace import _core


@pytest.fixture
def fast_switching():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def fresh_function(tag):
    """A function with a code object never seen before, so the tracer's
    slow path (which runs the Python filter) runs for it."""
    ns = {}
    exec(compile(f"def fresh(x):\n    return x + {len(tag)}\n", f"<fresh {tag}>", "exec"), ns)
    return ns["fresh"]


def test_control_methods_work_while_another_thread_is_in_the_filter():
    # The filter is Python code and may release the GIL; another thread's
    # stop(), snapshot(), clear() and start() must work meanwhile (they
    # used to raise "cannot be called from ... a tracer callback"), and the
    # blocked slow path must then drop its event instead of touching data
    # that clear() freed.
    entered, release = threading.Event(), threading.Event()

    def blocked():
        return 42

    def slow_filter(code):
        if code is blocked.__code__:
            entered.set()
            release.wait(10)
        return True

    tr = _core.Tracer(filter=slow_filter)
    tr.start()
    results = []
    worker = threading.Thread(target=lambda: results.append(blocked()))
    worker.start()
    assert entered.wait(10)
    assert tr.stop() == []
    tr.snapshot()
    tr.clear()
    tr.start()
    release.set()
    worker.join()
    probe(10)
    assert tr.stop() == []
    assert results == [42]
    assert_consistent(tr)
    snap = tr.snapshot()
    index = [i for i, r in enumerate(snap["records"]) if r[1] is probe.__code__]
    (main,) = [t for t in snap["threads"] if t["ident"] == threading.get_ident()]
    (row,) = [r for r in main["rows"] if r[0] in index]
    assert row[1:3] == (PROBE_CALLS[10], 1)


def test_tracer_dropped_by_another_thread_while_filter_runs():
    entered, release = threading.Event(), threading.Event()

    def blocked():
        return 7

    def slow_filter(code):
        if code is blocked.__code__:
            entered.set()
            release.wait(10)
        return True

    tr = _core.Tracer(filter=slow_filter)
    tr.start()
    results = []
    worker = threading.Thread(target=lambda: results.append(blocked()))
    worker.start()
    assert entered.wait(10)
    tr.stop()
    del tr
    gc.collect()
    release.set()  # the slow path still holds the tracer: no use after free
    worker.join()
    assert results == [7]


def test_control_methods_work_while_another_thread_is_in_the_threads_filter():
    # Same for the dynamic threads= filter, which is asked on a thread's
    # first events.
    entered, release = threading.Event(), threading.Event()

    def slow_thread_filter(ident, name):
        if name is None:
            return None  # not registered yet: ask again later
        if name == "slow-filter":
            entered.set()
            release.wait(10)
        return True

    tr = _core.Tracer()
    tr.set_scope(thread_filter=slow_thread_filter)
    tr.start()

    results = []
    worker = threading.Thread(target=lambda: results.append(probe(6)), name="slow-filter")
    worker.start()
    assert entered.wait(10)
    assert tr.stop() == []
    tr.clear()
    tr.start()
    release.set()
    worker.join()
    probe(10)
    assert tr.stop() == []
    assert results == [8]
    assert_consistent(tr)


def test_thread_names_read_without_running_python_code():
    class OddName(threading.Thread):
        @property
        def name(self):  # never called by the tracer: it reads _name
            raise AssertionError("property called from a callback")

        @name.setter
        def name(self, value):
            self._name = value

    with monitrace.trace() as session:
        worker = OddName(target=probe, args=(7,), name="odd")
        worker.start()
        worker.join()
    per_thread = {
        s.thread_name: s.calls for s in session.stats(by_thread=True) if s.qualname == "probe"
    }
    assert per_thread == {"odd": 41}
    assert_consistent(session)


def test_32_threads_busy_while_main_starts_and_stops_100_times(fast_switching):
    stop = threading.Event()
    failures = []
    done = []

    def busy(k):
        try:
            n = 0
            while not stop.is_set():
                if probe(8) != 21:
                    failures.append((k, "wrong result"))
                if n % 16 == 0:
                    fresh = fresh_function(f"{k}-{n}")
                    if fresh(1) != 1 + len(f"{k}-{n}"):
                        failures.append((k, "wrong fresh result"))
                n += 1
            done.append(k)
        except BaseException as exc:  # noqa: BLE001
            failures.append((k, repr(exc)))

    workers = [threading.Thread(target=busy, args=(k,), name=f"busy-{k}") for k in range(32)]
    for t in workers:
        t.start()
    session = monitrace.trace()
    try:
        for _ in range(100):
            session.start()
            probe(5)
            session.stop()
    finally:
        stop.set()
        for t in workers:
            t.join()
    assert failures == []
    assert sorted(done) == list(range(32))
    assert_consistent(session)
    assert session.errors == []
    main = [
        s
        for s in session.stats(by_thread=True)
        if s.qualname == "probe" and s.thread_name == "MainThread"
    ]
    assert [(s.calls, s.primitive_calls) for s in main] == [(100 * 15, 100)]
    assert_still_exact(session)


def test_threads_created_before_and_after_start_and_exiting_while_traced():
    go_early = threading.Event()
    early_done = threading.Event()

    def early_body():
        go_early.wait(10)
        for _ in range(3):
            probe(6)
        early_done.set()

    early = threading.Thread(target=early_body, name="early")
    early.start()
    with monitrace.trace() as session:
        go_early.set()
        early_done.wait(10)
        early.join()  # exits while traced
        late = [threading.Thread(target=probe, args=(7,), name=f"late-{i}") for i in range(4)]
        for t in late:
            t.start()
        for t in late:
            t.join()  # exit while traced
        # one more that outlives the session
        hold = threading.Event()
        straddle = threading.Thread(
            target=lambda: (probe(4), hold.wait(10), probe(4)), name="straddle"
        )
        straddle.start()
    hold.set()
    straddle.join()
    assert_consistent(session)
    per_thread = {
        s.thread_name: (s.calls, s.primitive_calls)
        for s in session.stats(by_thread=True)
        if s.qualname == "probe"
    }
    assert per_thread == {
        "early": (3 * 25, 3),
        **{f"late-{i}": (41, 1) for i in range(4)},
        "straddle": (9, 1),
    }
    assert_still_exact(session)


def test_started_in_one_thread_and_stopped_in_another():
    session = monitrace.trace()
    starter = threading.Thread(target=session.start)
    starter.start()
    starter.join()
    assert session.running
    probe(10)
    stopper = threading.Thread(target=session.stop)
    stopper.start()
    stopper.join()
    assert not session.running
    assert sys.monitoring.get_tool(3) is None
    assert session.calls("hostile_util.probe") == PROBE_CALLS[10]
    assert_consistent(session)
    assert_still_exact(session)
