"""The C event log driven directly: record size, memory per call,
references held by notes, limits, configuration guards."""

import gc
import sys

import pytest

from monitrace import _core


def leaf(x):
    return x


def calls(n):
    for i in range(n):
        leaf(i)


class Boom(Exception):
    pass


def raiser():
    raise Boom("x")


def test_event_record_is_24_bytes():
    assert _core.LOG_EVENT_BYTES == 24


_MEASURE_48 = """
import tracemalloc
from monitrace import _core

def leaf(x):
    return x

def calls(n):
    for i in range(n):
        leaf(i)

n = 4096 * 4 - 1  # with calls() itself, 2n + 2 events fill 8 chunks
tr = _core.Tracer()
tr.log_configure(record=True)
calls(1)  # warm: code objects, records, stats rows exist before measuring
tr.start()
calls(1)
tr.stop()
tr.clear()
tracemalloc.start()
before = tracemalloc.get_traced_memory()[0]
tr.start()
calls(n)
tr.stop()
after = tracemalloc.get_traced_memory()[0]
tracemalloc.stop()
print(tr.log_info()["count"] - (2 * n + 2), (after - before) / n)
"""


def test_memory_per_recorded_call_is_48_bytes():
    # In a process of its own: threads ending or code objects dying that
    # earlier tests left behind would allocate or free inside the window.
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", _MEASURE_48], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    extra_events, per_call = int(out[0]), float(out[1])
    assert extra_events == 0  # leaf pairs plus calls() itself
    assert 48 <= per_call < 52, per_call


def test_notes_hold_and_release_references():
    tr = _core.Tracer()
    tr.log_configure(record=True, retval=True)
    gc.collect()
    base = sys.getrefcount(Boom)
    tr.start()
    for _ in range(50):
        try:
            raiser()
        except Boom:
            pass
    tr.stop()
    assert sys.getrefcount(Boom) == base + 50  # one per recorded raise
    kinds = [e[0] for e in tr.log_batch(0, 1000)]
    assert kinds == [0, 2] * 50
    exc = [(e[8], e[9]) for e in tr.log_batch(0, 2)]
    assert exc == [(None, None), (Boom, "Boom('x')")]
    del exc
    tr.clear()
    assert sys.getrefcount(Boom) == base
    assert tr.log_batch(0, 10) == []


def test_limit_counts_dropped_and_keeps_the_first():
    tr = _core.Tracer()
    tr.log_configure(record=True, limit=7)
    tr.start()
    calls(10)
    tr.stop()
    info = tr.log_info()
    assert (info["count"], info["dropped"], info["limit"]) == (7, 15, 7)
    depths = [e[4] for e in tr.log_batch(0, 100)]
    assert depths == [0, 1, 1, 1, 1, 1, 1]
    assert len(tr.log_batch(3, 100)) == 4
    assert tr.log_batch(7, 100) == []


def _expected_calls_run(n):
    """(kind, record, depth) of one recorded calls(n): calls is record 0,
    leaf record 1; kinds 0 call, 1 return."""
    return [(0, 0, 0)] + [(k, 1, 1) for _ in range(n) for k in (0, 1)] + [(1, 0, 0)]


def test_log_keeps_every_event_in_order_across_chunks_limit_and_restarts():
    # Plain calls take the lean store, which writes through a cursor into
    # the current chunk: events must land in order across chunk ends, after
    # a stop and start that continue a partly filled chunk, after reset()
    # while paused, and stop exactly at a limit inside a chunk. Only this
    # file's code is traced: pytest-xdist's receiver thread may run library
    # code meanwhile.
    tr = _core.Tracer(filter=lambda code: code.co_filename == __file__)
    limit = 4096 * 2 + 100
    tr.log_configure(record=True, limit=limit)
    calls(1)  # warm
    expected = []
    for _ in range(3):  # 3002 events each: the third crosses the limit
        tr.start()
        calls(1500)
        tr.stop()
        expected += _expected_calls_run(1500)
    info = tr.log_info()
    assert (info["count"], info["dropped"]) == (limit, len(expected) - limit)
    events = tr.log_batch(0, limit + 10)
    assert [(e[0], e[3], e[4]) for e in events] == expected[:limit]
    site = calls.__code__.co_firstlineno + 2  # the line of leaf(i)
    assert {e[5] for e in events if e[0] == 0 and e[3] == 1} == {site}
    assert [e[1] for e in events] == sorted(e[1] for e in events)

    tr.clear()
    tr.log_configure(record=True)
    tr.start()
    calls(3000)
    tr.pause()
    tr.reset()  # drops the events and chunks the cursor points into
    tr.resume()
    calls(2500)
    tr.stop()
    events = tr.log_batch(0, 100_000)
    assert [(e[0], e[3], e[4]) for e in events] == _expected_calls_run(2500)
    assert tr.log_info()["dropped"] == 0


def test_log_info_records_are_the_snapshot_records_without_traced():
    tr = _core.Tracer()
    tr.log_configure(record=True)
    tr.start()
    calls(2)
    tr.stop()
    module = __name__
    assert tr.log_info()["records"] == [
        ("py", calls.__code__, module),
        ("py", leaf.__code__, module),
    ]
    assert tr.snapshot()["records"] == [
        ("py", calls.__code__, module, True),
        ("py", leaf.__code__, module, True),
    ]


def test_configure_only_while_stopped_and_validated():
    tr = _core.Tracer()
    with pytest.raises(TypeError, match="live must be a callable or None"):
        tr.log_configure(live=3)
    with pytest.raises(ValueError, match="repr_limit must be >= 0"):
        tr.log_configure(repr_limit=-1)
    tr.start()
    try:
        with pytest.raises(RuntimeError, match="stop the tracer before log_configure"):
            tr.log_configure(record=True)
    finally:
        tr.stop()


def test_live_callable_sees_each_event_and_may_not_control_the_tracer():
    tr = _core.Tracer()
    seen = []

    def live(event, key, module, ident, name):
        seen.append((event[0], key.co_name, event[4], name))
        with pytest.raises(RuntimeError, match="inside a tracer callback"):
            tr.stop()

    tr.log_configure(live=live)
    tr.start()
    calls(2)
    tr.stop()
    assert tr.stop() == []
    assert seen == [
        (0, "calls", 0, "MainThread"),
        (0, "leaf", 1, "MainThread"),
        (1, "leaf", 1, "MainThread"),
        (0, "leaf", 1, "MainThread"),
        (1, "leaf", 1, "MainThread"),
        (1, "calls", 0, "MainThread"),
    ]
    assert tr.log_info()["count"] == 0  # live only: nothing stored


def test_tracer_with_log_is_collected():
    def tracers():
        return sum(isinstance(o, _core.Tracer) for o in gc.get_objects())

    gc.collect()
    before = tracers()
    for _ in range(3):
        tr = _core.Tracer()
        tr.log_configure(record=True, args=True, lines=True, live=lambda *a: None)
        tr.start()
        calls(3)
        tr.stop()
        del tr
    gc.collect()
    assert tracers() == before
