"""Record mode, the call tree (post hoc and live), captures, line events."""

import io
import os
import sys
import textwrap
import threading
import time
import warnings

import pytest

import monitrace

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "data"))
import cases  # noqa: E402
import example  # noqa: E402  (its module-level foo() runs untraced)


def traced(fn, *args, **options):
    """Run fn(*args) in a recording session; the session. Only the test's
    own threads are recorded: pytest-xdist's receiver thread runs library
    code in the same process whenever a message arrives."""
    options.setdefault("record", True)
    options.setdefault("threads", ["MainThread", "worker-*"])
    with monitrace.trace(**options) as s:
        fn(*args)
    return s


SITE = traced.__code__.co_firstlineno + 7  # the `fn(*args)` line above


def tree(fn, *args, **options):
    return traced(fn, *args, **options).tree()


def golden(text):
    return textwrap.dedent(text).lstrip("\n").replace("{SITE}", str(SITE))


# ---- golden trees ----------------------------------------------------------


def test_issue_example_exact():
    assert tree(example.foo, retval=True) == golden(
        """
        Called foo:1 from line {SITE}
            Called bar:5 from line 2
            Returning bar-> 20
        Returning foo-> 10
        """
    )


def test_without_retval_returns_have_no_value():
    assert tree(example.foo) == golden(
        """
        Called foo:1 from line {SITE}
            Called bar:5 from line 2
            Returning bar
        Returning foo
        """
    )


def test_uncaught_exception_two_calls_deep():
    with monitrace.trace(record=True) as s:
        try:
            cases.compute()
        except ZeroDivisionError:
            pass
    line = test_uncaught_exception_two_calls_deep.__code__.co_firstlineno + 3
    assert s.tree() == golden(
        f"""
        Called compute:11 from line {line}
            Called divide:7 from line 12
            Raised ZeroDivisionError from divide
        Raised ZeroDivisionError from compute
        """
    )


def test_exception_caught_one_level_up_with_reprs():
    assert tree(cases.catches, retval=True) == golden(
        """
        Called catches:87 from line {SITE}
            Called compute:11 from line 89
                Called divide:7 from line 12
                Raised ZeroDivisionError('division by zero') from divide
            Raised ZeroDivisionError('division by zero') from compute
        Returning catches-> 'handled'
        """
    )


def test_nested_functions():
    assert tree(cases.outer, 3, retval=True) == golden(
        """
        Called outer:15 from line {SITE}
            Called outer.inner:16 from line 19
            Returning outer.inner-> 4
        Returning outer-> 8
        """
    )


def _close_throws_into_simple():
    """Whether this interpreter throws GeneratorExit into `simple` when
    drive_generator closes it, as a bare sys.monitoring tool listening to
    the same exit events sees it. A generator suspended outside any try
    block: 3.12 throws (PY_THROW, PY_UNWIND), 3.13 closes it without running
    it, 3.14 does that only while no tool listens to PY_UNWIND."""
    mon = sys.monitoring
    tool = next(t for t in range(6) if mon.get_tool(t) is None)
    throws = []

    def on_throw(code, offset, exc):
        if code is cases.simple.__code__:
            throws.append(type(exc))

    mon.use_tool_id(tool, "reference")
    try:
        mon.register_callback(tool, mon.events.PY_THROW, on_throw)
        mon.set_events(tool, mon.events.PY_THROW | mon.events.PY_UNWIND)
        cases.drive_generator()
    finally:
        mon.set_events(tool, 0)
        mon.register_callback(tool, mon.events.PY_THROW, None)
        mon.free_tool_id(tool)
    assert throws in ([], [GeneratorExit])
    return bool(throws)


def test_generators_send_throw_close():
    simple_close = (
        "    Throwing GeneratorExit into simple:31 from line 44\n"
        "    Raised GeneratorExit() from simple\n"
        if _close_throws_into_simple()
        else ""
    )
    assert (
        tree(cases.drive_generator, retval=True)
        == golden(
            """
        Called drive_generator:36 from line {SITE}
            Called gen:22 from line 38
            Yielding gen-> 1
            Resuming gen:22 from line 39
            Yielding gen-> 10
            Throwing ValueError into gen:22 from line 40
            Yielding gen-> 'caught'
            Throwing GeneratorExit into gen:22 from line 41
            Raised GeneratorExit() from gen
            Called simple:31 from line 43
            Yielding simple-> 1
        """
        )
        + simple_close
        + "Returning drive_generator-> None\n"
    )


def test_recursion():
    assert tree(cases.fact, 3, retval=True) == golden(
        """
        Called fact:47 from line {SITE}
            Called fact:47 from line 48
                Called fact:47 from line 48
                Returning fact-> 1
            Returning fact-> 2
        Returning fact-> 6
        """
    )


def _thread_run_line():
    """The line of Thread.run that calls the target."""
    code = threading.Thread.run.__code__
    lines = [line for _, _, line in code.co_lines() if line]
    import linecache

    for line in sorted(set(lines)):
        if "self._target(" in linecache.getline(code.co_filename, line):
            return line
    raise AssertionError("Thread.run has no self._target( call")


def test_two_threads_prefixed_by_name():
    run = _thread_run_line()
    assert tree(cases.two_threads, retval=True, stdlib=False) == golden(
        f"""
        [MainThread] Called two_threads:59 from line {{SITE}}
        [worker-1] Called work:55 from line {run}
        [worker-1]     Called leaf:51 from line 56
        [worker-1]     Returning leaf-> 8
        [worker-1] Returning work-> 8
        [worker-2] Called work:55 from line {run}
        [worker-2]     Called leaf:51 from line 56
        [worker-2]     Returning leaf-> 8
        [worker-2] Returning work-> 8
        [MainThread] Returning two_threads-> None
        """
    )


def test_c_calls():
    assert tree(cases.uses_c, c_calls=True) == golden(
        """
        Called uses_c:94 from line {SITE}
            Called len from line 95
            Returning len
            Called abs from line 95
            Returning abs
        Returning uses_c
        """
    )


def test_args_safe_bounded_repr():
    def call():
        cases.take(cases.Bad(), cases.Huge(), 1, key="k", extra=2)

    s = traced(call, args=True)
    line = call.__code__.co_firstlineno + 1
    first = s.tree().splitlines()[1]
    assert first == (
        f"    Called take:83 from line {line} with a=<Bad object; repr raised ValueError>, "
        f"b={'y' * 77}..., rest=(1,), key='k', extra={{'extra': 2}}"
    )
    (call,) = [e for e in s.events() if e.kind == "call" and e.function.name == "take"]
    assert dict(call.args)["b"] == "y" * 77 + "..."
    assert len(dict(call.args)["b"]) == 80


def test_repr_limit_option():
    s = traced(cases.take, "abcdefghij", 2, args=True, retval=True, repr_limit=6)
    assert s.tree().splitlines() == [
        f"Called take:83 from line {SITE} with a='ab..., b=2, rest=(), key=None, extra={{}}",
        "Returning take-> 'ab...",
    ]


def test_repr_that_calls_the_tracer_cannot_stop_it():
    class Sneaky:
        def __repr__(self):
            session.stop()
            return "stopped?"

    session = monitrace.trace(record=True, args=True)
    with session:
        cases.take(Sneaky(), 1)
        assert session.running
    line = session.tree().splitlines()[0]
    assert line.endswith(
        "with a=<Sneaky object; repr raised RuntimeError>, b=1, rest=(), key=None, extra={}"
    )


def test_depth_limit_path_and_elapsed():
    s = traced(cases.fact, 4)
    assert s.tree(depth=2) == golden(
        """
        Called fact:47 from line {SITE}
            Called fact:47 from line 48
            Returning fact
        Returning fact
        """
    )
    lines = s.tree(elapsed=True, depth=1).splitlines()
    assert lines[0] == f"Called fact:47 from line {SITE}"
    assert lines[1].startswith("Returning fact [") and lines[1].endswith("s]")
    assert len(lines) == 2
    with_path = traced(example.foo, path=True, full_paths=True).tree().splitlines()
    assert with_path == [
        f"Called foo@{example.__file__}:1 from {__file__}:{SITE}",
        f"    Called bar@{example.__file__}:5 from {example.__file__}:2",
        f"    Returning bar @ {example.__file__}",
        f"Returning foo @ {example.__file__}",
    ]
    # Without full_paths, paths are short (model.short_path).
    from monitrace.model import short_path

    short, here = short_path(example.__file__), short_path(__file__)
    assert traced(example.foo, path=True).tree().splitlines() == [
        f"Called foo@{short}:1 from {here}:{SITE}",
        f"    Called bar@{short}:5 from {short}:2",
        f"    Returning bar @ {short}",
        f"Returning foo @ {short}",
    ]


def test_print_tree_writes_the_same_text():
    s = traced(example.foo, retval=True)
    buf = io.StringIO()
    s.print_tree(file=buf)
    assert buf.getvalue() == s.tree()


# ---- events ------------------------------------------------------------------


def test_events_typed_and_ordered():
    before = time.monotonic_ns()
    s = traced(example.foo, retval=True)
    after = time.monotonic_ns()
    events = list(s.events())
    assert [(e.kind, e.function.qualname, e.depth, e.line) for e in events] == [
        ("call", "foo", 0, SITE),
        ("call", "bar", 1, 2),
        ("return", "bar", 1, 0),
        ("return", "foo", 0, 0),
    ]
    foo = events[0].function
    assert (foo.name, foo.module, foo.filename, foo.firstlineno, foo.kind) == (
        "foo",
        "example",
        example.__file__,
        1,
        "python",
    )
    assert foo is events[3].function
    assert [e.retval for e in events] == [None, None, "20", "10"]
    times = [e.time_ns for e in events]
    assert before <= times[0] <= times[1] <= times[2] <= times[3] <= after
    assert {e.thread_id for e in events} == {threading.get_ident()}
    assert {e.thread_name for e in events} == {"MainThread"}
    assert {e.thread_native_id for e in events} == {threading.get_native_id()}
    assert events[0].is_enter and events[3].is_exit
    info = s.record_info()
    assert (info.recorded, info.dropped) == (4, 0)
    wall = info.wall_offset_ns + times[0]
    assert abs(wall - time.time_ns()) < 60e9


def test_events_exception_fields():
    # Only this thread: pytest-xdist's receiver thread may raise and catch
    # in the same process while the session records.
    with monitrace.trace(record=True, retval=True, threads=["MainThread"]) as s:
        with pytest.raises(ZeroDivisionError):
            cases.divide(1, 0)
    raised = [e for e in s.events() if e.kind == "raise"]
    assert [(e.exception, e.exception_repr) for e in raised] == [
        ("ZeroDivisionError", "ZeroDivisionError('division by zero')")
    ]


def test_record_limit_keeps_first_events_and_reports_the_rest():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = traced(cases.fact, 10, record=5)
    assert [str(w.message) for w in caught if w.category is monitrace.RecordLimitWarning] == [
        "monitrace kept the first 5 events and dropped 15 more; pass a larger record= to keep them"
    ]
    assert (s.record_info().recorded, s.record_info().dropped) == (5, 15)
    assert [e.depth for e in s.events()] == [0, 1, 2, 3, 4]
    assert s.tree().splitlines()[-1] == (
        "... 15 more events were not recorded (record limit 5; pass a larger record=)"
    )
    assert s.calls("fact") == 10  # statistics are complete


def test_events_stream_in_batches():
    def many():
        for _ in range(2500):
            example.bar()

    it = traced(many).events()
    first = next(it)
    assert (first.kind, first.function.name, first.depth) == ("call", "many", 0)
    rest = [(e.kind, e.function.name, e.depth) for e in it]
    assert rest == [("call", "bar", 1), ("return", "bar", 1)] * 2500 + [("return", "many", 0)]


def test_record_needed_for_tree_and_events():
    with monitrace.trace() as s:
        example.foo()
    with pytest.raises(
        RuntimeError, match=r"tree\(\) needs a session started with trace\(record=True\)"
    ):
        s.tree()
    with pytest.raises(RuntimeError, match=r"events\(\) needs"):
        s.events()
    with pytest.raises(RuntimeError, match=r"line_stats\(\) needs .*lines=True"):
        s.line_stats()


def test_clear_forgets_events_and_restart_appends():
    s = monitrace.trace(record=True)
    with s:
        example.bar()
    with s:
        example.bar()
    assert [e.kind for e in s.events()] == ["call", "return"] * 2
    s.clear()
    assert list(s.events()) == []
    with s:
        example.foo()
    assert len(list(s.events())) == 4


# ---- live ----------------------------------------------------------------------


def test_live_tree_prints_while_running():
    buf = io.StringIO()
    with monitrace.trace(live=True, file=buf, retval=True):
        example.foo()
        partial = buf.getvalue()
    line = test_live_tree_prints_while_running.__code__.co_firstlineno + 3
    assert partial == golden(
        f"""
        Called foo:1 from line {line}
            Called bar:5 from line 2
            Returning bar-> 20
        Returning foo-> 10
        """
    )


class _BrokenStream:
    def __init__(self):
        self.writes = 0

    def write(self, text):
        self.writes += 1
        raise OSError("disk on fire")


def test_live_write_error_never_reaches_the_program():
    stream = _BrokenStream()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with monitrace.trace(live=True, file=stream) as s:
            assert cases.fact(5) == 120
            assert example.foo() == 10
    assert stream.writes == 1  # gave up after the first failure
    messages = [str(w.message) for w in caught if w.category is monitrace.TracerError]
    assert len(messages) == 1 and "live output: OSError('disk on fire')" in messages[0]
    assert s.calls("fact") == 5


def test_live_keeps_the_in_flight_exception():
    buf = io.StringIO()
    with monitrace.trace(live=True, file=buf, retval=True):
        assert cases.catches() == "handled"
    assert "Raised ZeroDivisionError('division by zero') from divide" in buf.getvalue()


# ---- lines -----------------------------------------------------------------------


def test_line_stats_match_the_trace_module():
    import trace as stdlib_trace

    with monitrace.trace(lines=True) as s:
        cases.loop(5)
    t = stdlib_trace.Trace(count=1, trace=0)
    t.runfunc(cases.loop, 5)
    expected = {k: v for k, v in t.results().counts.items() if k[0] == cases.__file__}
    assert (
        s.line_stats()
        == expected
        == {
            (cases.__file__, 67): 1,
            (cases.__file__, 68): 6,
            (cases.__file__, 69): 5,
            (cases.__file__, 70): 1,
        }
    )


def test_lines_in_the_tree():
    assert tree(example.foo, lines=True, retval=True) == golden(
        """
        Called foo:1 from line {SITE}
            example.py:2  bar()
            Called bar:5 from line 2
                example.py:6  return 20
            Returning bar-> 20
            example.py:3  return 10
        Returning foo-> 10
        """
    )


@pytest.mark.skipif(sys.version_info < (3, 15), reason="lazy imports (PEP 810) are 3.15+")
def test_lazy_import_body_shows_where_it_first_runs(tmp_path, monkeypatch):
    # `lazy import` defers the module body to the first use of the name:
    # the tree shows it there, inside the function that touched it.
    (tmp_path / "lazy_heavy.py").write_text("def setup():\n    return 42\n\n\nVALUE = setup()\n")
    (tmp_path / "lazy_user.py").write_text(
        "lazy import lazy_heavy\n\n\ndef use():\n    return lazy_heavy.VALUE\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("lazy_heavy", "lazy_user"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with monitrace.trace(record=True, include=["lazy_heavy", "lazy_user"]) as s:
        import lazy_user

        loaded_at_import = "lazy_heavy" in sys.modules
        assert lazy_user.use() == 42
    assert not loaded_at_import
    got = [
        (e.kind, os.path.basename(e.function.filename), e.function.qualname, e.depth)
        for e in s.events()
    ]
    assert got == [
        ("call", "lazy_user.py", "<module>", 0),
        ("return", "lazy_user.py", "<module>", 0),
        ("call", "lazy_user.py", "use", 0),
        ("call", "lazy_heavy.py", "<module>", 1),
        ("call", "lazy_heavy.py", "setup", 2),
        ("return", "lazy_heavy.py", "setup", 2),
        ("return", "lazy_heavy.py", "<module>", 1),
        ("return", "lazy_user.py", "use", 0),
    ]
    assert "    Called <module>:1 from line " in s.tree()
    assert "        Called setup:1 from line 5\n" in s.tree()


def test_stop_clears_local_line_events():
    with monitrace.trace(lines=True) as s:
        cases.loop(2)
        tool = s.tool_id
    sys.monitoring.use_tool_id(tool, "probe")
    try:
        assert sys.monitoring.get_local_events(tool, cases.loop.__code__) == 0
    finally:
        sys.monitoring.free_tool_id(tool)
    # a restart turns them back on for the code it already knows
    with s:
        cases.loop(2)
    assert s.line_stats()[(cases.__file__, 69)] == 4


def test_lines_only_on_traced_code():
    with monitrace.trace(lines=True) as s:
        cases.loop(1)
    assert {f for f, _ in s.line_stats()} == {cases.__file__}


# ---- options -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        ({"record": "yes"}, TypeError, "record must be True, False or a positive int"),
        ({"record": 0}, ValueError, "record must be True, False or a positive int"),
        ({"record": -5}, ValueError, "record must be True, False or a positive int"),
        ({"live": 1}, TypeError, "live must be True or False"),
        ({"args": True}, ValueError, r"args=True only matters for the call tree"),
        ({"retval": True}, ValueError, r"retval=True only matters"),
        ({"depth": 3}, ValueError, "depth= limits the call tree"),
        ({"record": True, "depth": 0}, ValueError, "depth must be a positive int or None, not 0"),
        ({"record": True, "depth": "2"}, TypeError, "depth must be a positive int or None"),
        ({"record": True, "repr_limit": 0}, ValueError, "repr_limit must be a positive int, not 0"),
        ({"file": io.StringIO()}, ValueError, r"file= is where live=True prints"),
        ({"live": True, "file": "out.txt"}, TypeError, "file must be a writable text stream"),
        ({"lines": "on"}, TypeError, "lines must be True or False"),
        ({"record": True, "color": "auto"}, TypeError, "color must be True or False"),
    ],
)
def test_bad_recording_options(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        monitrace.trace(**kwargs)


def test_colors_only_when_asked(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    buf = io.StringIO()
    traced(example.foo, retval=True).print_tree(file=buf)
    assert "\x1b[" not in buf.getvalue()
    buf = io.StringIO()
    traced(example.foo, retval=True, color=True).print_tree(file=buf)
    assert buf.getvalue().splitlines()[0] == f"\x1b[36mCalled\x1b[0m foo:1 from line {SITE}"
    monkeypatch.setenv("FORCE_COLOR", "1")
    buf = io.StringIO()
    traced(example.foo).print_tree(file=buf)
    assert "\x1b[32mReturning\x1b[0m foo" in buf.getvalue()


def test_tree_example_script_output():
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run(
        [sys.executable, os.path.join(root, "examples", "tree.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    with open(os.path.join(os.path.dirname(__file__), "data", "tree_example.txt")) as f:
        assert (r.returncode, r.stderr, r.stdout) == (0, "", f.read())


# ---- min_duration= (filters) on trees and events ------------------------------

_NAMES = ["f", "outer", "short", "long", "tiny", "tail", "a", "b", "c", "x"]


def _ev(kind, t, depth, name="f", thread=1):
    """A log event (MinDuration reads C's events; functions by index)."""
    from monitrace.model import KIND_NAMES, LogEvent

    return LogEvent(KIND_NAMES.index(kind), t, thread, _NAMES.index(name), depth)


def _named(events):
    from monitrace.model import KIND_NAMES

    return [(KIND_NAMES[e.kind], _NAMES[e.function]) for e in events]


def test_min_duration_drops_short_activations_and_their_insides():
    from monitrace.events import MinDuration

    keep = MinDuration(100)
    stream = [
        _ev("call", 0, 0, "outer"),
        _ev("call", 10, 1, "short"),
        _ev("line", 20, 1, "short"),
        _ev("return", 50, 1, "short"),  # 40 ns: dropped with its line
        _ev("call", 60, 1, "long"),
        _ev("call", 70, 2, "tiny"),
        _ev("return", 75, 2, "tiny"),  # dropped
        _ev("return", 300, 1, "long"),  # 240 ns: kept
        _ev("call", 310, 1, "tail"),  # still open at the end: kept
    ]
    out = [e for ev in stream for e in keep.feed(ev)] + keep.flush()
    assert _named(out) == [
        ("call", "outer"),
        ("call", "long"),
        ("return", "long"),
        ("call", "tail"),
    ]


def test_min_duration_holds_events_back_only_until_decided():
    from monitrace.events import MinDuration

    keep = MinDuration(100)
    assert keep.feed(_ev("call", 0, 0, "a")) == []  # undecided yet
    assert keep.feed(_ev("call", 5, 1, "b")) == []
    out = keep.feed(_ev("call", 150, 2, "c"))  # a and b lasted 100
    assert _named(out) == [("call", "a"), ("call", "b")]
    assert keep.feed(_ev("return", 160, 2, "c")) == []  # c was short
    other = keep.feed(_ev("call", 160, 0, "x", thread=2))  # threads are separate
    assert other == []
    assert [name for _k, name in _named(keep.flush())] == ["x"]


def test_min_duration_in_trees():
    assert tree(example.foo, min_duration=1000.0) == ""
    assert tree(example.foo, min_duration=1e-9) == tree(example.foo)
    buf = io.StringIO()
    with monitrace.trace(live=True, file=buf, min_duration=1000.0):
        example.foo()
    assert buf.getvalue() == ""
