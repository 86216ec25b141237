"""monitrace._core driven directly."""

import gc
import random
import sys

import pytest

from monitrace import _core


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def test_snapshot_shape():
    tr = _core.Tracer()
    tr.start()
    fib(6)
    errors = tr.stop()
    assert errors == []
    snap = tr.snapshot()
    assert set(snap) == {
        "clock",
        "ns_per_tick",
        "records",
        "threads",
        "event_counts",
        "total_ns",
        "finished",
        "retired",
    }
    assert snap["finished"] == {"rows": [], "edges": []}
    assert snap["retired"] == []
    kinds = {rec[0] for rec in snap["records"]}
    assert kinds == {"py"}
    index = [i for i, rec in enumerate(snap["records"]) if rec[1] is fib.__code__]
    assert len(index) == 1
    (main,) = snap["threads"]
    assert main["name"] == "MainThread"
    (row,) = [r for r in main["rows"] if r[0] == index[0]]
    _, calls, prim, total, self_, mn, mx, samples, hist, _segments, wall = row
    assert (calls, prim, samples) == (25, 1, 25)
    assert wall == 0  # fib never suspends
    assert sum(c for _, _, c in hist) == 25
    assert 0 < mn <= mx <= total
    assert snap["event_counts"]["PY_START"] >= 25
    assert snap["event_counts"]["CALL"] == 0


def test_filter_called_once_per_code_object_and_excluded_code_disabled():
    seen = []

    def only_fib(code):
        seen.append(code)
        return code is fib.__code__

    def other(n):
        return n

    tr = _core.Tracer(filter=only_fib)
    tr.start()
    for i in range(50):
        other(i)
    fib(5)
    tr.stop()
    assert seen.count(other.__code__) == 1
    assert seen.count(fib.__code__) == 1
    snap = tr.snapshot()
    # `other` answered DISABLE at its first PY_START and PY_RETURN: those
    # two callbacks are all it ever cost.
    other_rec = [r for r in snap["records"] if r[1] is other.__code__]
    assert other_rec and other_rec[0][3] is False
    assert snap["event_counts"]["PY_START"] <= 15 + 1 + 3


def test_callbacks_ignore_bad_arguments():
    tr = _core.Tracer()
    tr.start()
    try:
        mon = sys.monitoring
        cb = mon.register_callback(tr.tool_id, mon.events.PY_START, None)
        mon.register_callback(tr.tool_id, mon.events.PY_START, cb)
        assert type(cb).__name__ == "Callback"
        assert cb() is None
        assert cb("not code", 0) is None
        assert cb(fib.__code__) is None
        assert cb(fib.__code__, 0, 1, 2, 3) is None
        ret = mon.register_callback(tr.tool_id, mon.events.PY_RETURN, None)
        mon.register_callback(tr.tool_id, mon.events.PY_RETURN, ret)
        assert ret(42, 0, None) is None
    finally:
        tr.stop()


def test_tool_id_released_and_callbacks_unregistered():
    tr = _core.Tracer(c_calls=True)
    tr.start()
    tool = tr.tool_id
    tr.stop()
    assert sys.monitoring.get_tool(tool) is None
    sys.monitoring.use_tool_id(tool, "probe")
    try:
        for name in ("PY_START", "PY_RETURN", "PY_UNWIND", "CALL", "C_RETURN", "C_RAISE"):
            ev = getattr(sys.monitoring.events, name)
            assert sys.monitoring.register_callback(tool, ev, None) is None, name
        assert sys.monitoring.get_events(tool) == 0
    finally:
        sys.monitoring.free_tool_id(tool)


def _mask(*names):
    bits = 0
    for name in names:
        bits |= getattr(sys.monitoring.events, name)
    return bits


PY_EVENTS = ("PY_START", "PY_RESUME", "PY_THROW", "PY_RETURN", "PY_YIELD", "PY_UNWIND")


@pytest.mark.parametrize("c_calls", [False, True])
def test_enabled_events_are_the_named_ones(c_calls):
    # 3.14 inserted BRANCH_LEFT/BRANCH_RIGHT and renumbered what follows:
    # the mask must come from sys.monitoring.events, never from numbers.
    tr = _core.Tracer(c_calls=c_calls)
    tr.start()
    try:
        got = sys.monitoring.get_events(tr.tool_id)
    finally:
        tr.stop()
    # C_RETURN and C_RAISE come with CALL; they cannot be set on their own
    assert got == _mask(*PY_EVENTS, *(("CALL",) if c_calls else ()))


def test_line_events_are_the_named_one():
    import monitrace

    with monitrace.trace(lines=True) as s:
        fib(2)
        local = sys.monitoring.get_local_events(s.tool_id, fib.__code__)
    assert local == sys.monitoring.events.LINE


@pytest.mark.skipif(
    not hasattr(sys.monitoring, "clear_tool_id"), reason="sys.monitoring.clear_tool_id is 3.14+"
)
def test_stop_releases_the_tool_id_through_clear_tool_id(monkeypatch):
    cleared = []
    real = sys.monitoring.clear_tool_id

    def clear_tool_id(tool):
        cleared.append((tool, sys.monitoring.get_events(tool)))
        return real(tool)

    monkeypatch.setattr(sys.monitoring, "clear_tool_id", clear_tool_id)
    tr = _core.Tracer(c_calls=True)
    tr.start()
    tool = tr.tool_id
    assert tr.stop() == []
    assert cleared == [(tool, 0)]
    assert sys.monitoring.get_tool(tool) is None
    sys.monitoring.use_tool_id(tool, "probe")
    try:
        for name in (*PY_EVENTS, "CALL", "C_RETURN", "C_RAISE"):
            ev = getattr(sys.monitoring.events, name)
            assert sys.monitoring.register_callback(tool, ev, None) is None, name
    finally:
        sys.monitoring.free_tool_id(tool)


def _module_slots(module):
    """{slot id: value} of an extension module's PyModuleDef, read through
    the C API with ctypes."""
    import ctypes

    class Slot(ctypes.Structure):
        _fields_ = [("slot", ctypes.c_int), ("value", ctypes.c_void_p)]

    class ModuleDef(ctypes.Structure):
        _fields_ = [
            ("ob_refcnt", ctypes.c_ssize_t),  # PyModuleDef_Base: PyObject_HEAD,
            ("ob_type", ctypes.c_void_p),
            ("m_init", ctypes.c_void_p),  # m_init, m_index, m_copy
            ("m_index", ctypes.c_ssize_t),
            ("m_copy", ctypes.c_void_p),
            ("m_name", ctypes.c_char_p),
            ("m_doc", ctypes.c_char_p),
            ("m_size", ctypes.c_ssize_t),
            ("m_methods", ctypes.c_void_p),
            ("m_slots", ctypes.POINTER(Slot)),
        ]

    get_def = ctypes.pythonapi.PyModule_GetDef
    get_def.restype = ctypes.POINTER(ModuleDef)
    get_def.argtypes = [ctypes.py_object]
    mdef = get_def(module).contents
    assert mdef.m_name == module.__name__.encode()
    slots = {}
    i = 0
    while mdef.m_slots[i].slot != 0:
        slots[mdef.m_slots[i].slot] = mdef.m_slots[i].value or 0
        i += 1
    return slots


# Slot ids (Include/moduleobject.h); 3.15 renumbered them (slots_generated.h)
if sys.version_info >= (3, 15):
    PY_MOD_EXEC, PY_MOD_MULTIPLE_INTERPRETERS, PY_MOD_GIL = 85, 86, 87
else:
    PY_MOD_EXEC, PY_MOD_MULTIPLE_INTERPRETERS, PY_MOD_GIL = 2, 3, 4


def test_module_declares_it_needs_the_gil():
    # On a free-threaded build this makes CPython re-enable the GIL (with a
    # warning) instead of running our unlocked tables from many threads.
    # 3.12 knows no such slot (and would refuse the module).
    slots = _module_slots(_core)
    if sys.version_info >= (3, 13):
        assert set(slots) == {PY_MOD_EXEC, PY_MOD_MULTIPLE_INTERPRETERS, PY_MOD_GIL}
        assert slots[PY_MOD_GIL] == 0  # Py_MOD_GIL_USED
        assert sys._is_gil_enabled()
    else:
        assert set(slots) == {PY_MOD_EXEC, PY_MOD_MULTIPLE_INTERPRETERS}


def test_control_methods_refused_inside_callback():
    tr = None
    refused = []

    def meddling_filter(code):
        for method in (tr.stop, tr.clear, tr.snapshot, tr.pause):
            try:
                method()
            except RuntimeError as e:
                refused.append(str(e))
        return True

    tr = _core.Tracer(filter=meddling_filter)
    tr.start()
    fib(3)
    assert tr.stop() == []
    assert len(refused) >= 4
    assert "cannot be called from code that runs inside a tracer callback" in refused[0]
    assert tr.snapshot()["threads"]


def test_in_flight_exception_preserved_around_filter():
    def filter_that_raises_and_catches(code):
        try:
            raise KeyError("inner")
        except KeyError:
            pass
        return True

    def thrower():
        raise ValueError("outer")

    def catcher():
        try:
            thrower()
        except ValueError as e:
            return e

    tr = _core.Tracer(filter=filter_that_raises_and_catches)
    tr.start()
    err = catcher()
    tr.stop()
    assert isinstance(err, ValueError) and str(err) == "outer"


def test_records_never_hold_a_code_object():
    code = fib.__code__
    gc.collect()  # tracers of earlier tests, kept by reference cycles
    before = sys.getrefcount(code)
    tr = _core.Tracer()
    tr.start()
    fib(4)
    tr.stop()
    assert sys.getrefcount(code) == before  # the program owns it, not us
    del tr
    gc.collect()
    assert sys.getrefcount(code) == before


def test_start_stop_cycles_do_not_leak():
    def cycle():
        tr = _core.Tracer(c_calls=True)
        tr.start()
        fib(8)
        sorted([3, 2, 1])
        tr.stop()
        tr.snapshot()

    for _ in range(200):
        cycle()
    # A leak of one block or object per cycle shows in every round; warm-up
    # noise (caches filling) shows in one at most, so take the best round.
    growth = []
    for _round in range(2):
        gc.collect()
        objects = len(gc.get_objects())
        blocks = sys.getallocatedblocks()
        for _ in range(500):
            cycle()
        gc.collect()
        growth.append((len(gc.get_objects()) - objects, sys.getallocatedblocks() - blocks))
    assert min(g[0] for g in growth) < 50, growth
    assert min(g[1] for g in growth) < 250, growth


def test_histogram_buckets_within_ten_percent():
    rng = random.Random(7)
    values = list(range(0, 200)) + [rng.randrange(1, 1 << 46) for _ in range(20000)]
    previous = {}
    for v in values:
        b, lo, hi = _core.hist_bucket(v)
        assert lo <= v < hi
        assert 0 <= b < _core.HIST_BUCKETS
        previous.setdefault(b, (lo, hi))
        assert previous[b] == (lo, hi)
        if v >= 16:
            assert (hi - lo) / lo <= 0.125
            mid = (lo * hi) ** 0.5
            assert abs(mid - v) / v <= 0.0625
        else:
            assert (lo, hi) == (v, v + 1)
    b, lo, hi = _core.hist_bucket((1 << 63) + 5)
    assert b == _core.HIST_BUCKETS - 1


def test_percentiles_read_from_histogram():
    from monitrace.report import percentile

    hist = [(100.0, 112.5, 50), (1000.0, 1125.0, 40), (10000.0, 11250.0, 10)]
    assert percentile(hist, 50, 90, 11000) == pytest.approx((100 * 112.5) ** 0.5)
    assert percentile(hist, 90, 90, 11000) == pytest.approx((1000 * 1125) ** 0.5)
    assert percentile(hist, 99, 90, 11000) == pytest.approx((10000 * 11250) ** 0.5)
    assert percentile(hist, 99, 90, 10500) == 10500  # clamped to the max seen
    assert percentile([], 50, 0, 0) == 0.0


def test_clock_argument():
    with pytest.raises(ValueError, match="clock must be 'auto', 'tsc' or 'monotonic', not 'x'"):
        _core.Tracer(clock="x")
    with pytest.raises(TypeError, match="filter must be a callable or None"):
        _core.Tracer(filter=3)
    assert _core.Tracer(clock="monotonic").clock == "monotonic"


def test_tracer_dropped_while_running_is_stopped_by_gc_or_exit():
    # A running tracer is kept alive by its registered callbacks; stopping
    # it is the owner's job. Here we check stop() after the only Python
    # reference is gone still works through the callbacks' reference.
    tr = _core.Tracer()
    tr.start()
    tool = tr.tool_id
    cb = sys.monitoring.register_callback(tool, sys.monitoring.events.PY_START, None)
    sys.monitoring.register_callback(tool, sys.monitoring.events.PY_START, cb)
    del tr
    gc.collect()
    assert sys.monitoring.get_tool(tool) == "monitrace"
    # the callback still reaches the tracer; stop it through a new handle
    # the way atexit does in the Python layer
    for obj in gc.get_referents(cb):
        if isinstance(obj, _core.Tracer):
            obj.stop()
            break
    else:  # pragma: no cover
        pytest.fail("callback does not reference its tracer")
    assert sys.monitoring.get_tool(tool) is None


def test_ignore_thread_leaves_out_the_calling_thread_until_stop():
    """ignore_thread(): the calling thread records nothing more while the
    other threads are traced on; after stop() and start() it records
    again, into the same thread state."""
    import threading

    def calls_by_thread(tr):
        snap = tr.snapshot()
        (index,) = [i for i, rec in enumerate(snap["records"]) if rec[1] is fib.__code__]
        return {
            th["name"]: sum(r[1] for r in th["rows"] if r[0] == index) for th in snap["threads"]
        }

    go = threading.Event()

    def worker():
        go.wait()
        fib(4)  # 9 calls, after the main thread ignores itself

    tr = _core.Tracer(filter=lambda code: code is fib.__code__)
    with pytest.raises(RuntimeError, match="needs a running tracer"):
        tr.ignore_thread()
    tr.start()
    t = threading.Thread(target=worker, name="worker")
    t.start()
    fib(3)  # 5 calls
    tr.ignore_thread()
    fib(5)  # not recorded
    go.set()
    t.join()
    fib(2)  # not recorded
    assert tr.stop() == []
    assert calls_by_thread(tr) == {"MainThread": 5, "worker": 9}
    tr.start()
    fib(1)
    tr.stop()
    assert calls_by_thread(tr) == {"MainThread": 6, "worker": 9}
    assert [th["name"] for th in tr.snapshot()["threads"]].count("MainThread") == 1
