"""Reentrancy: Python code that a callback runs (the filter, today; repr
capture when it lands) calling monitrace's API, starting another trace,
raising, or being interrupted."""

import signal
import sys
import weakref

import pytest
from hostile_util import PROBE_CALLS, assert_consistent, probe

import monitrace
from monitrace import _core

PROBE_CALLS_3 = 5  # probe(3): fib-shaped calls
PROBE_CALLS_5 = 15  # probe(5)


def target(x):
    return x * 2


def run_target():
    return [target(i) for i in range(10)]


def test_filter_calling_every_control_method_is_refused_and_harmless():
    tr = None
    refused = {}

    def meddling(code):
        for name in ("start", "stop", "pause", "resume", "clear", "snapshot"):
            try:
                getattr(tr, name)()
            except RuntimeError as exc:
                refused[name] = "inside a tracer callback" in str(exc)
        return True

    tr = _core.Tracer(filter=meddling)
    tr.start()
    assert run_target() == [2 * i for i in range(10)]
    probe(10)
    assert tr.stop() == []
    assert refused == dict.fromkeys(("start", "stop", "pause", "resume", "clear", "snapshot"), True)
    assert_consistent(tr)


def test_filter_that_starts_and_stops_another_session():
    inner_sessions = []

    def starts_another(code):
        if code is target.__code__:
            inner = monitrace.trace()
            with inner:
                probe(10)  # not seen: no events while a callback runs
            inner_sessions.append(inner)
        return True

    tr = _core.Tracer(filter=starts_another)
    tr.start()
    assert run_target() == [2 * i for i in range(10)]
    probe(10)
    assert tr.stop() == []
    (inner,) = inner_sessions
    assert not inner.running
    assert_consistent(inner)
    assert_consistent(tr)
    assert sys.monitoring.get_tool(4) is None


def test_filter_that_starts_another_session_and_leaves_it_running():
    left = []

    def starts_another(code):
        if code is target.__code__ and not left:
            left.append(monitrace.trace().start())
        return True

    tr = _core.Tracer(filter=starts_another)
    tr.start()
    try:
        assert run_target() == [2 * i for i in range(10)]
        probe(10)
    finally:
        assert tr.stop() == []
    (inner,) = left
    assert inner.running  # it runs on, and sees calls made after the filter
    inner.stop()
    assert inner.calls("hostile_util.probe") == PROBE_CALLS[10]
    assert inner.calls("test_reentrancy_hostile.target") == 9
    assert_consistent(inner)
    assert_consistent(tr)


@pytest.mark.parametrize("how", ["raise", "signal"])
def test_filter_raising_keyboard_interrupt_reaches_user_code(how):
    # A Ctrl-C that lands while the filter runs must not be swallowed. A
    # real one (SIGINT) is held back until the filter is done, and the
    # program's handler raises it in the program: the filter did not
    # fail. A KeyboardInterrupt the filter raises itself is a failure of
    # the filter, and still handed to the program as a Ctrl-C.
    def interrupted(code):
        if code is target.__code__:
            if how == "raise":
                raise KeyboardInterrupt
            signal.raise_signal(signal.SIGINT)
            for _ in range(100):  # the handler would raise here
                pass
        return True

    tr = _core.Tracer(filter=interrupted)
    tr.start()
    reached = []
    try:
        with pytest.raises(KeyboardInterrupt):
            target(1)
            for i in range(100):  # the interrupt lands at the next check
                reached.append(i)
    finally:
        errors = tr.stop()
    assert len(reached) < 100
    if how == "raise":
        assert len(errors) == 1 and "KeyboardInterrupt" in errors[0]
    else:
        assert errors == []
    assert_consistent(tr)


class BadBool:
    def __bool__(self):
        raise ValueError("no truth")


def test_filter_returning_an_object_whose_truth_raises():
    tr = _core.Tracer(filter=lambda code: BadBool())
    tr.start()
    try:
        value = run_target()
    finally:
        errors = tr.stop()
    assert value == [2 * i for i in range(10)]
    assert errors and "filter result" in errors[0] and "no truth" in errors[0]
    assert_consistent(tr)


def test_filter_raising_keeps_the_programs_exception():
    def raising_filter(code):
        raise OSError("filter broke")

    def fails():
        raise LookupError("user error")

    tr = _core.Tracer(filter=raising_filter)
    tr.start()
    try:
        with pytest.raises(LookupError, match="user error"):
            fails()
    finally:
        errors = tr.stop()
    assert errors and all("filter broke" in e for e in errors)


def test_session_api_from_a_settrace_function_is_not_refused():
    # Control methods are refused only on the thread running one of this
    # tracer's callbacks; a legacy trace function is not one of them.
    session = monitrace.trace()
    seen = []

    def tracefunc(frame, event, arg):
        if event == "call" and frame.f_code is target.__code__:
            seen.append(session.calls("test_reentrancy_hostile.target"))
        return None

    with session:
        sys.settrace(tracefunc)
        try:
            run_target()
        finally:
            sys.settrace(None)
    assert seen == list(range(10))


# ---- argument reprs (record=True, args=True) ------------------------------


def takes(arg):
    return 1


def arg_reprs(session):
    return [
        dict(e.args)["arg"]
        for e in session.events()
        if e.kind == "call" and e.function.name == "takes"
    ]


class CallsTheApi:
    session = None

    def __repr__(self):
        return f"calls={self.session.calls('test_reentrancy_hostile.takes')}"


class StartsAnotherTrace:
    inner = []

    def __repr__(self):
        with monitrace.trace() as s:
            probe(5)
        self.inner.append(s)
        return "started another"


class RaisingRepr:
    def __repr__(self):
        raise ValueError("no repr for you")


class HugeRepr:
    def __repr__(self):
        return "x" * 10_000_000


def test_repr_calling_the_api_is_refused_and_recorded_as_such():
    s = monitrace.trace(record=True, args=True)
    CallsTheApi.session = s
    with s:
        assert takes(CallsTheApi()) == 1
    (text,) = arg_reprs(s)
    assert "repr raised RuntimeError" in text
    assert s.calls("test_reentrancy_hostile.takes") == 1
    assert_consistent(s)


def test_repr_starting_another_trace_raising_or_huge():
    StartsAnotherTrace.inner.clear()
    s = monitrace.trace(record=True, args=True, repr_limit=50)
    with s:
        results = [takes(StartsAnotherTrace()), takes(RaisingRepr()), takes(HugeRepr())]
    assert results == [1, 1, 1]
    started, raised, huge = arg_reprs(s)
    assert started == "started another"
    assert "repr raised ValueError" in raised
    assert huge == "x" * 47 + "..."
    (inner,) = StartsAnotherTrace.inner
    assert not inner.running
    assert_consistent(s)
    assert_consistent(inner)


def test_repr_blocking_while_another_thread_stops_and_clears():
    import threading

    entered, release = threading.Event(), threading.Event()

    class Blocking:
        def __repr__(self):
            entered.set()
            release.wait(10)
            return "blocking"

    s = monitrace.trace(record=True, args=True)
    s.start()
    results = []
    worker = threading.Thread(target=lambda: results.append(takes(Blocking())))
    worker.start()
    assert entered.wait(10)
    s.stop()  # refused before: another thread was inside a callback
    s.clear()
    s.start()
    release.set()
    worker.join()
    takes(1)
    s.stop()
    assert results == [1]
    assert arg_reprs(s) == ["1"]
    assert_consistent(s)


def _transient_function():
    """A function whose code object nothing but the caller (and then the
    tracer's record) keeps alive."""
    namespace = {}
    exec("def transient(x):\n    return x + 1\n", namespace)
    return namespace.pop("transient")


@pytest.mark.parametrize("c_calls", [False, True])
def test_code_death_calls_back_into_the_session(c_calls):
    """A traced code object dies while the session holds its record: the
    record is retired (its numbers kept by name), and then code that runs
    because of the death (here a weakref callback on the code object) reads,
    restarts and clears the same session. It finds the dead function's
    numbers, a working session and, after clear(), an empty one; never
    freed records."""
    if sys.monitoring.get_tool(sys.monitoring.COVERAGE_ID) is not None:
        pytest.skip("a coverage tool keeps every code object it saw alive")
    session = monitrace.trace(c_calls=c_calls)
    seen = []

    def on_code_death(_ref):
        try:
            seen.append(("stats", {s.name: s.calls for s in session.stats()}))
            with session:
                probe(5)
            seen.append(("calls", session.calls("hostile_util.probe")))
            session.clear()
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            seen.append(("raised", repr(exc)))

    fn = _transient_function()
    ref = weakref.ref(fn.__code__, on_code_death)
    with session:
        probe(3)  # records made before the transient one's
        sorted([fn(1), 0])
    del fn  # the session's record does not keep the code object alive
    assert ref() is None
    assert len(seen) == 2, seen
    stats = seen[0][1]
    assert stats["transient"] == 1 and stats["probe"] == PROBE_CALLS_3
    assert seen[1] == ("calls", PROBE_CALLS_3 + PROBE_CALLS_5)
    assert session.stats() == []
    assert_consistent(session)
