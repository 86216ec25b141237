"""Bad input everywhere: wrong types, negative limits, unknown options,
unwritable outputs. Each raises a clear exception naming the option, before
anything is traced, and leaves no tool id, no running session, nothing
written."""

import io
import sys

import pytest
from hostile_util import probe

import monitrace
from monitrace import _core
from monitrace import api as _api

BAD_OPTIONS = [
    ({"c_calls": "yes"}, TypeError, "c_calls must be True or False"),
    ({"c_calls": 1}, TypeError, "c_calls must be True or False"),
    ({"c_calls": None}, TypeError, "c_calls must be True or False"),
    ({"clock": "fast"}, ValueError, "clock must be one of"),
    ({"clock": 3}, ValueError, "clock must be one of"),
    ({"tool_id": -1}, ValueError, "tool_id must be between 0 and 5, not -1"),
    ({"tool_id": 6}, ValueError, "tool_id must be between 0 and 5, not 6"),
    ({"tool_id": "3"}, TypeError, "tool_id must be an int or None"),
    ({"tool_id": 3.0}, TypeError, "tool_id must be an int or None"),
    ({"tool_id": True}, TypeError, "tool_id must be an int or None"),
    ({"fork": "sometimes"}, ValueError, "fork must be one of 'stop', 'continue'"),
    ({"fork": True}, ValueError, "fork must be one of"),
    # Out of range for the core: refused by name, never wrapped or overflowed.
    (
        {"record": 2**64 + 5},
        ValueError,
        "record must be True, False or a positive int up to 9223372036854775807",
    ),
    ({"record": 2**64}, ValueError, "record must be True, False or a positive int up to"),
    ({"record": 2**63}, ValueError, "record must be True, False or a positive int up to"),
    (
        {"record": True, "repr_limit": 10**30},
        ValueError,
        "repr_limit must be a positive int, not 10{30} \\(at most 9223372036854775807\\)",
    ),
    ({"max_depth": 10**30}, ValueError, "max_depth must be 1 or more, up to 9223372036854775807"),
    (
        {"min_duration": 1e300},
        ValueError,
        "min_duration must be 0 or more seconds, up to 9223372036, not 1e\\+300",
    ),
    (
        {"min_duration": 10**400},
        ValueError,
        "min_duration must be 0 or more seconds, up to 9223372036",
    ),
    ({"min_duration": float("nan")}, ValueError, "min_duration must be 0 or more seconds"),
    ({"min_duration": float("inf")}, ValueError, "min_duration must be 0 or more seconds"),
    ({"colour": "red"}, TypeError, "unknown trace\\(\\) option 'colour'"),
    (
        {"clocks": "tsc", "forks": "stop"},
        TypeError,
        "unknown trace\\(\\) options 'clocks', 'forks'",
    ),
]


def nothing_running():
    assert [sys.monitoring.get_tool(t) for t in (3, 4)] == [None, None]
    assert not any(s.running for s in _api._running)


@pytest.mark.parametrize(
    "kwargs,exc,message", BAD_OPTIONS, ids=[repr(k) for k, _, _ in BAD_OPTIONS]
)
def test_bad_option_raises_naming_it_before_anything_runs(kwargs, exc, message):
    last = monitrace.last_session()
    with pytest.raises(exc, match=message):
        monitrace.trace(**kwargs)
    nothing_running()
    assert monitrace.last_session() is last


@pytest.mark.parametrize(
    "kwargs,exc,message", BAD_OPTIONS[:12], ids=[repr(k) for k, _, _ in BAD_OPTIONS[:12]]
)
def test_bad_option_as_decorator_fails_at_decoration_time(kwargs, exc, message):
    calls = []
    with pytest.raises(exc, match=message):

        @monitrace.trace(**kwargs)
        def never():
            calls.append(1)

    assert calls == []
    nothing_running()


@pytest.mark.parametrize(
    "kwargs,exc,message",
    [
        ({"sort": "speed"}, ValueError, "sort must be one of"),
        ({"sort": 3}, ValueError, "sort must be one of"),
        ({"limit": -1}, ValueError, "limit must be a non-negative int"),
        ({"limit": "10"}, ValueError, "limit must be a non-negative int"),
        ({"limit": 2.5}, ValueError, "limit must be a non-negative int"),
    ],
)
def test_bad_report_arguments_write_nothing(kwargs, exc, message):
    with monitrace.trace() as s:
        probe(5)
    out = io.StringIO()
    with pytest.raises(exc, match=message):
        s.report(file=out, **kwargs)
    assert out.getvalue() == ""


def test_unwritable_report_file_raises_and_session_is_intact():
    with monitrace.trace() as s:
        probe(6)
    closed = io.StringIO()
    closed.close()
    with pytest.raises(ValueError, match="closed file"):
        s.report(file=closed)
    with open("/dev/null", "rb") as read_only:
        with pytest.raises((io.UnsupportedOperation, TypeError)):
            s.report(file=read_only)
    assert s.calls("hostile_util.probe") == 25


@pytest.mark.parametrize("name", [None, "", 3, b"probe"])
def test_bad_function_names(name):
    with monitrace.trace() as s:
        probe(3)
    with pytest.raises(TypeError, match="name must be a non-empty str"):
        s.calls(name)
    with pytest.raises(TypeError, match="name must be a non-empty str"):
        s.called(name)


def test_control_misuse_is_clear():
    s = monitrace.trace()
    s.stop()  # stopping a session that never ran is a no-op
    with s:
        with pytest.raises(RuntimeError, match="already running"):
            s.start()
        with pytest.raises(RuntimeError, match="stop the tracer before clear"):
            s.clear()
    s.pause()  # pausing or resuming a stopped session changes nothing
    s.resume()
    assert not s.running and not s.paused
    nothing_running()


@pytest.mark.parametrize(
    "call,exc,message",
    [
        (lambda: _core.Tracer(filter=3), TypeError, "filter must be a callable or None"),
        (lambda: _core.Tracer(clock="x"), ValueError, "clock must be 'auto', 'tsc' or 'monotonic'"),
        (lambda: _core.Tracer(clock=None), TypeError, "must be str, not None"),
        (lambda: _core.Tracer(3), TypeError, "positional"),
        (lambda: _core.Tracer(bogus=1), TypeError, "bogus"),
        (
            lambda: _core.Tracer().start(tool_id=6),
            ValueError,
            "tool_id must be between 0 and 5, not 6",
        ),
        (
            lambda: _core.Tracer().start(tool_id=-2),
            ValueError,
            "tool_id must be between 0 and 5, not -2",
        ),
        (lambda: _core.Tracer().start(tool_id="3"), TypeError, "integer"),
        (lambda: _core.Tracer().start(tool_id=2**40), OverflowError, "too large|greater than"),
        (lambda: _core.Tracer()._after_fork_child(), TypeError, "keep"),
        (lambda: _core.selfcheck(object()), TypeError, "selfcheck\\(\\) needs a Tracer"),
        (lambda: _core.hist_bucket(-1), OverflowError, "negative"),
        (lambda: _core.Tracer().log_configure(limit=2**64 + 5), OverflowError, "too big|too large"),
        (lambda: _core.Tracer().log_configure(limit=-1), OverflowError, "negative"),
        (lambda: _core.Tracer().log_configure(limit="5"), TypeError, "integer|int"),
        (lambda: _core.route_signal(0), ValueError, "signal number out of range: 0"),
        (lambda: _core.route_signal(10**6), ValueError, "signal number out of range"),
        (lambda: _core.signal_taken(-3), ValueError, "signal number out of range: -3"),
        (lambda: _core.signal_later(100000), ValueError, "signal number out of range"),
        (lambda: _core.hist_bucket("1"), TypeError, "int"),
    ],
)
def test_core_rejects_bad_arguments(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
    nothing_running()


def _with_lines_up_to(last_line):
    """A loop function whose last line number is `last_line`."""
    namespace = {"__name__": "edge", "__file__": "<edge>"}  # trace.py wants a file
    exec(
        compile(
            "def edge(n):\n    total = 0\n    for i in range(n):\n"
            "        total += i\n    return total\n",
            "<edge>",
            "exec",
        ),
        namespace,
    )
    fn = namespace["edge"]
    fn.__code__ = fn.__code__.replace(co_firstlineno=last_line - 4)
    assert max(line for *_, line in fn.__code__.co_lines() if line) == last_line
    return fn


@pytest.mark.parametrize("last_line", [2**31 - 1, 2**31 - 3])
def test_line_counts_at_the_top_of_the_line_number_range(last_line):
    """Line numbers up to INT32_MAX are counted without overflowing the
    counted range (UBSan flagged signed overflow in count_line)."""
    import trace as stdlib_trace
    import warnings

    edge = _with_lines_up_to(last_line)
    with warnings.catch_warnings():
        warnings.simplefilter("error", _api.TracerError)
        with monitrace.trace(lines=True) as s:
            assert edge(3) == 3
    t = stdlib_trace.Trace(count=1, trace=0)
    t.runfunc(edge, 3)
    expected = {k: v for k, v in t.results().counts.items() if k[0] == "<edge>"}
    first = last_line - 4
    assert (
        s.line_stats()
        == expected
        == {
            ("<edge>", first + 1): 1,
            ("<edge>", first + 2): 4,
            ("<edge>", first + 3): 3,
            ("<edge>", first + 4): 1,
        }
    )


def test_largest_values_are_accepted_and_record_limit_is_exact():
    from monitrace.options import MAX_COUNT, MAX_SECONDS

    s = monitrace.trace(
        record=MAX_COUNT, repr_limit=MAX_COUNT, max_depth=MAX_COUNT, min_duration=MAX_SECONDS
    )
    assert s.options.record_limit == MAX_COUNT
    with s:
        probe(3)
    assert s.record_info().limit == MAX_COUNT
    assert s.tree() == ""  # every call is shorter than 292 years
    assert s.calls("hostile_util.probe") == 5
    # A small limit is kept exactly, not wrapped.
    with monitrace.trace(record=12) as small:
        probe(3)
    info = small.record_info()
    assert (info.limit, info.recorded, info.dropped) == (12, 10, 0)
