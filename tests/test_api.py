"""The Python API: options, sessions, decorator, report, errors."""

import asyncio
import inspect
import io
import os
import re
import sys
import warnings

import pytest

import monitrace
import workloads


def test_unknown_option_names_it():
    with pytest.raises(
        TypeError,
        match=r"unknown trace\(\) option 'colour'.*known options: .*c_calls, clock, .*tool_id",
    ):
        monitrace.trace(colour=True)


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        ({"c_calls": 1}, TypeError, "c_calls must be True or False"),
        ({"clock": "sundial"}, ValueError, "clock must be one of 'auto', 'tsc', 'monotonic'"),
        ({"tool_id": "3"}, TypeError, "tool_id must be an int or None"),
        ({"tool_id": 9}, ValueError, "tool_id must be between 0 and 5, not 9"),
        ({"tool_id": -1}, ValueError, "tool_id must be between 0 and 5, not -1"),
    ],
)
def test_bad_option_values(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        monitrace.trace(**kwargs)


def test_tool_id_free_after_normal_exit_and_exception():
    with monitrace.trace() as s:
        assert s.tool_id == 3
        assert sys.monitoring.get_tool(3) == "monitrace"
    assert s.tool_id is None
    assert sys.monitoring.get_tool(3) is None
    with pytest.raises(ZeroDivisionError):
        with monitrace.trace() as s:
            workloads.fib(5)
            1 / 0
    assert sys.monitoring.get_tool(3) is None
    assert s.calls("fib") == 15


def test_exception_passes_through_unchanged():
    err = ValueError("mine")
    with pytest.raises(ValueError) as info:
        with monitrace.trace():
            raise err
    assert info.value is err


def test_nested_sessions_both_correct():
    with monitrace.trace() as outer:
        workloads.fib(6)
        with monitrace.trace() as inner:
            workloads.fib(7)
            assert (outer.tool_id, inner.tool_id) == (3, 4)
    assert inner.calls("fib") == 41
    assert outer.calls("fib") == 25 + 41
    # monitrace's own code never shows up in either (asked by module: the
    # checkout itself may well sit in a folder called monitrace/)
    own = [
        s
        for s in outer.stats() + inner.stats()
        if s.module == "monitrace" or s.module.startswith("monitrace.")
    ]
    assert not own


def test_no_free_tool_id_names_holders():
    sys.monitoring.use_tool_id(3, "alpha")
    sys.monitoring.use_tool_id(4, "beta")
    try:
        s = monitrace.trace()
        with pytest.raises(ValueError, match="3 is held by 'alpha' and 4 by 'beta'"):
            s.start()
        assert not s.running
    finally:
        sys.monitoring.free_tool_id(3)
        sys.monitoring.free_tool_id(4)


def test_explicit_tool_id_taken_is_clear():
    sys.monitoring.use_tool_id(5, "optimizer-ish")
    try:
        with pytest.raises(ValueError, match="tool id 5 is already held by 'optimizer-ish'"):
            monitrace.trace(tool_id=5).start()
    finally:
        sys.monitoring.free_tool_id(5)
    with monitrace.trace(tool_id=5) as s:
        workloads.fib(3)
    assert s.calls("fib") == 5
    assert sys.monitoring.get_tool(5) is None


def test_same_session_twice_is_an_error():
    s = monitrace.trace()
    with s:
        with pytest.raises(RuntimeError, match="already running"):
            s.start()


def test_start_stop_accumulates_and_clear_forgets():
    s = monitrace.trace()
    for _ in range(3):
        with s:
            workloads.fib(4)
    assert s.calls("fib") == 27
    s.clear()
    assert s.calls("fib") == 0
    with s:
        workloads.fib(4)
    assert s.calls("fib") == 9


def test_pause_resume():
    with monitrace.trace() as s:
        workloads.fib(3)
        s.pause()
        assert s.paused
        workloads.fib(10)
        s.resume()
        workloads.fib(3)
    assert s.calls("fib") == 10


def test_decorator_sync_recursion_and_async():
    tracer = monitrace.trace()

    @tracer
    def outer(n):
        return workloads.fib(n) if n < 3 else outer(n - 1)

    assert outer(5) == 1
    assert outer.session is tracer
    assert tracer.calls("fib") == 3
    assert tracer.calls("test_decorator_sync_recursion_and_async.<locals>.outer") == 4
    outer(3)
    assert tracer.calls("fib") == 6

    @monitrace.trace()
    async def coro():
        await asyncio.sleep(0)
        return workloads.fib(4)

    assert asyncio.run(coro()) == 3
    assert coro.session.calls("fib") == 9
    assert not coro.session.running


def cprofile_fib_calls(*ns):
    """How many calls of fib cProfile counts for fib(n) for each n."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    for n in ns:
        workloads.fib(n)
    prof.disable()
    return sum(v[1] for k, v in pstats.Stats(prof).stats.items() if k[2] == "fib")


def test_decorator_traces_generator_while_it_runs():
    @monitrace.trace()
    def fibs(n):
        try:
            for i in range(n):
                got = yield workloads.fib(i)
                if got is not None:
                    workloads.fib(got)
        except KeyError:
            yield "caught"
        finally:
            workloads.fib(4)
        return "done"

    session = fibs.session
    assert inspect.isgeneratorfunction(fibs) and fibs.__name__ == "fibs"
    gen = fibs(10)
    assert not session.running  # nothing runs before the first next()
    assert [next(gen), next(gen), next(gen)] == [0, 1, 1]
    assert not session.running
    workloads.fib(12)  # the consumer's own calls, between resumes, are not traced
    assert gen.send(6) == 2  # fib(6) inside, then fib(3)
    assert gen.throw(KeyError("k")) == "caught"
    with pytest.raises(StopIteration) as stop:
        next(gen)  # the finally block: fib(4)
    assert stop.value.value == "done"
    assert not session.running
    assert session.calls("fibs") == 1
    assert session.calls("fib") == cprofile_fib_calls(0, 1, 2, 6, 3, 4)

    # closing a suspended generator runs its finally block inside the session
    session.clear()
    gen = fibs(10)
    assert next(gen) == 0
    gen.close()
    assert session.calls("fib") == cprofile_fib_calls(0, 4)
    assert not session.running and session.tool_id is None

    # an exception from the generator reaches the caller unchanged
    @monitrace.trace()
    def broken():
        yield 1
        raise ValueError("inside")

    gen = broken()
    next(gen)
    with pytest.raises(ValueError, match="inside"):
        next(gen)
    assert broken.session.calls("broken") == 1 and not broken.session.running


def test_decorator_traces_async_generator_while_it_runs():
    @monitrace.trace()
    async def fibs(n):
        try:
            for i in range(n):
                await asyncio.sleep(0)
                got = yield workloads.fib(i)
                if got is not None:
                    workloads.fib(got)
        finally:
            workloads.fib(4)

    async def consume():
        agen = fibs(10)
        out = [await agen.__anext__(), await agen.__anext__()]
        workloads.fib(12)  # between resumes: not traced
        out.append(await agen.asend(5))
        await agen.aclose()  # the finally block runs inside the session
        return out

    session = fibs.session
    assert inspect.isasyncgenfunction(fibs)
    assert asyncio.run(consume()) == [0, 1, 1]
    assert not session.running
    assert session.calls("fibs") == 1
    assert session.calls("fib") == cprofile_fib_calls(0, 1, 5, 2, 4)

    async def iterate():
        return [x async for x in fibs(4)]

    session.clear()
    assert asyncio.run(iterate()) == [0, 1, 1, 2]
    assert session.calls("fib") == cprofile_fib_calls(0, 1, 2, 3, 4)


def test_calls_names():
    with monitrace.trace() as s:
        workloads.objects()
    assert s.calls("workloads.Shape.area") == 10
    assert s.calls("Shape.area") == 10
    assert s.calls("Shape.make") == 7
    assert s.calls("nothing.like.this") == 0
    assert not s.called("workloads.fib")
    assert s.called("Shape.unit")
    with pytest.raises(TypeError):
        s.calls(3)


def test_calls_ambiguous_bare_name():
    ns1 = {"__name__": "mod_a"}
    ns2 = {"__name__": "mod_b"}
    exec("def f():\n    return 1\n", ns1)
    exec("def f():\n    return 2\n", ns2)
    with monitrace.trace() as s:
        ns1["f"](), ns2["f"](), ns2["f"]()
    assert s.calls("mod_a.f") == 1
    assert s.calls("mod_b.f") == 2
    with pytest.raises(ValueError, match="ambiguous; use one of: mod_a.f, mod_b.f"):
        s.calls("f")


RE_EXPORT_PKG = {
    "__init__.py": "from .core import Converter, convert_all\n",
    "core.py": """\
import functools

def logged(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)
    return wrapper

class Converter:
    def convert(self, text):
        return text.upper()

    @classmethod
    def make(cls):
        return cls()

    @staticmethod
    def clean(text):
        return text.strip()

@logged
def convert_all(texts):
    conv = Converter.make()
    return [conv.convert(Converter.clean(t)) for t in texts]

def unused():
    return 0
""",
}


@pytest.fixture
def mtpkg(tmp_path, monkeypatch):
    """A package whose __init__ re-exports names of its core module (as
    markdown re-exports markdown.core.Markdown)."""
    root = tmp_path / "mtpkg_reexport"
    root.mkdir()
    for name, text in RE_EXPORT_PKG.items():
        (root / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    import mtpkg_reexport

    yield mtpkg_reexport
    for name in [m for m in sys.modules if m.startswith("mtpkg_reexport")]:
        del sys.modules[name]


def test_calls_names_as_users_write_them(mtpkg):
    import cProfile
    import pstats

    texts = [" a", "b ", "c"]
    with monitrace.trace(c_calls=True) as s:
        mtpkg.convert_all(texts)
    prof = cProfile.Profile()
    prof.runcall(mtpkg.convert_all, texts)
    expected = {k[2]: v[1] for k, v in pstats.Stats(prof).stats.items()}
    assert expected["convert"] == 3
    # the full name where it is defined, a bare qualname, a bare co_name
    for name in ("mtpkg_reexport.core.Converter.convert", "Converter.convert", "convert"):
        assert s.calls(name) == expected["convert"], name
    # the name users import it by: a re-export, resolved by importing it
    assert s.calls("mtpkg_reexport.Converter.convert") == expected["convert"]
    with pytest.raises(
        AssertionError,
        match="expected mtpkg_reexport.Converter.convert "
        "not to be called, but it was called 3 times",
    ):
        s.assert_not_called("mtpkg_reexport.Converter.convert")
    # the function object itself: plain, bound, classmethod, staticmethod,
    # behind functools.wraps, and a C function
    conv = mtpkg.Converter()
    assert s.calls(mtpkg.Converter.convert) == s.calls(conv.convert) == expected["convert"]
    assert s.calls(mtpkg.Converter.make) == expected["make"] == 1
    assert s.calls(mtpkg.Converter.clean) == expected["clean"] == 3
    assert s.calls(mtpkg.convert_all) == expected["convert_all"] == 1
    assert s.calls(str.upper) == expected["<method 'upper' of 'str' objects>"] == 3
    assert s.calls(mtpkg.convert_all).name == "mtpkg_reexport.core.convert_all"
    s.assert_called(mtpkg.Converter.convert, times=3)
    # a known function that never ran: counts 0, and assert_not_called passes
    assert s.calls("mtpkg_reexport.core.unused") == 0
    s.assert_not_called("mtpkg_reexport.core.unused")
    s.assert_not_called(mtpkg.core.unused)
    with pytest.raises(AssertionError, match="expected mtpkg_reexport.core.unused to be called"):
        s.assert_called(mtpkg.core.unused)


def test_unknown_names_never_pass(mtpkg):
    with monitrace.trace() as s:
        mtpkg.convert_all(["x"])
    for name in ("mtpkg_reexport.Converter.convrt", "convrt", "Converter.convrt"):
        assert s.calls(name) == 0
        assert not s.calls(name).known
        with pytest.raises(
            ValueError,
            match=re.escape(
                f"{name} names no known function (it was not recorded, and it is not a "
                "dotted name that imports); recorded functions with close names:"
            ),
        ) as info:
            s.assert_not_called(name)
        with pytest.raises(ValueError, match="names no known function"):
            s.assert_called(name)
        # the message shows the closest recorded functions
        assert "mtpkg_reexport/core.py:10(convert)" in str(info.value)
    with pytest.raises(
        ValueError,
        match=r"no_such_module.f names no known function .* \(no "
        r"recorded function has a close name\); pass the function itself",
    ):
        s.assert_not_called("no_such_module.f")
    with monitrace.trace() as empty:
        pass
    with pytest.raises(
        ValueError,
        match=r"convert names no known function .* \(no function "
        r"was recorded\); pass the function itself or its module.qualname",
    ):
        empty.assert_not_called("convert")
    # not functions
    with pytest.raises(TypeError, match="is not a function"):
        s.calls(mtpkg.Converter)
    with pytest.raises(TypeError, match="non-empty str or a function"):
        s.calls("")


def test_calls_ambiguous_function_name():
    ns1 = {"__name__": "mod_a"}
    exec(
        "class A:\n    def run(self):\n        return 1\n"
        "class B:\n    def run(self):\n        return 2\n",
        ns1,
    )
    with monitrace.trace() as s:
        ns1["A"]().run(), ns1["B"]().run()
    assert s.calls("A.run") == 1
    with pytest.raises(
        ValueError, match="'run' is ambiguous; use one of: mod_a.A.run, mod_a.B.run"
    ):
        s.calls("run")


def test_stats_fields():
    with monitrace.trace() as s:
        workloads.fib(8)
    (rec,) = [x for x in s.stats() if x.name == "fib"]
    assert rec.qualname == "fib"
    assert rec.module == "workloads"
    assert rec.filename == workloads.__file__
    assert rec.firstlineno == workloads.fib.__code__.co_firstlineno
    assert rec.kind == "python"
    assert (rec.calls, rec.primitive_calls) == (67, 1)
    assert 0 < rec.min_time <= rec.p50 <= rec.p90 <= rec.p99 <= rec.max_time
    assert rec.max_time <= rec.total_time
    assert rec.self_time == pytest.approx(rec.total_time, rel=1e-6)
    assert sum(c for _, _, c in rec.histogram) == 67
    assert rec.thread_id is None


REPORT_LINE = re.compile(
    r"^\s*(?P<ncalls>\d+(/\d+)?)\s+(?P<tottime>\d+\.\d{6})\s+\d+\.\d{6}\s+"
    r"(?P<cumtime>\d+\.\d{6})\s+\d+\.\d{6}\s+\S+\s+\S+\s+\S+\s+(?P<loc>.+)$"
)


def test_report_table_columns_and_rows(monkeypatch):
    # Files show relative to the working directory (full_paths=True: in full).
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(workloads.__file__))))
    with monitrace.trace(c_calls=True) as s:
        workloads.fib(9)
        workloads.from_c()
    buf = io.StringIO()
    text = s.report(sort="calls", limit=3, file=buf)
    assert buf.getvalue() == text
    lines = text.splitlines()
    assert re.match(
        r"^\s+\d+ function calls \(\d+ primitive calls\) in \d+\.\d{6} seconds$", lines[0]
    )
    assert lines[2] == "   Ordered by: call count"
    assert lines[3].startswith("   List reduced from ")
    header = lines[5].split()
    assert header == [
        "ncalls",
        "tottime",
        "percall",
        "cumtime",
        "percall",
        "p50",
        "p99",
        "max",
        "filename:lineno(function)",
    ]
    rows = [REPORT_LINE.match(line) for line in lines[6:]]
    assert all(rows), lines[6:]
    assert len(rows) == 3
    assert rows[0]["ncalls"] == "109/1"
    line = workloads.fib.__code__.co_firstlineno
    assert rows[0]["loc"] == f"tests/workloads.py:{line}(fib)"
    assert rows[1]["ncalls"] == "29"
    full = s.report(sort="calls", limit=3, file=io.StringIO(), full_paths=True).splitlines()
    assert REPORT_LINE.match(full[6])["loc"] == f"{workloads.fib.__code__.co_filename}:{line}(fib)"
    assert full[:6] == lines[:6] and len(full) == len(lines)
    assert rows[1]["loc"].endswith("(keyfn)")


@pytest.mark.parametrize(
    "sort",
    [
        "calls",
        "ncalls",
        "pcalls",
        "tottime",
        "time",
        "cumtime",
        "cumulative",
        "name",
        "filename",
        "p50",
        "p90",
        "p99",
        "max",
    ],
)
def test_report_sort_keys(sort):
    with monitrace.trace() as s:
        workloads.everything()
    assert "function calls" in s.report(sort=sort, file=io.StringIO())


def test_report_sort_orders():
    with monitrace.trace() as s:
        workloads.everything()
    text = s.report(sort="name", file=io.StringIO())
    names = [REPORT_LINE.match(l)["loc"] for l in text.splitlines()[5:] if REPORT_LINE.match(l)]
    keys = [n.rsplit("(", 1)[1] for n in names]
    assert keys == sorted(keys)
    cum = [
        x.total_time
        for x in monitrace.report.__globals__["render_table"].__globals__["sort_stats"](
            s.stats(), "cumtime"
        )
    ]
    assert cum == sorted(cum, reverse=True)


def test_report_bad_sort_and_limit():
    with monitrace.trace() as s:
        workloads.fib(3)
    with pytest.raises(ValueError, match="sort must be one of"):
        s.report(sort="speed", file=io.StringIO())
    with pytest.raises(ValueError, match="limit must be a non-negative int"):
        s.report(limit=-1, file=io.StringIO())


def test_module_report_uses_last_session(capsys):
    with monitrace.trace():
        workloads.fib(5)
    text = monitrace.report(limit=1)
    assert capsys.readouterr().out == text
    assert "15/1" in text


def test_clock_choice():
    with monitrace.trace(clock="monotonic") as s:
        workloads.fib(6)
    assert s.clock == "monotonic"
    assert s.calls("fib") == 25
    auto = monitrace.trace()
    assert auto.clock == ("tsc" if monitrace._core.tsc_usable() else "monotonic")


def test_filter_failure_reported_at_stop_not_raised():
    s = monitrace.trace()

    def bad_filter(code):
        raise KeyError("boom")

    s._tracer = monitrace._core.Tracer(filter=bad_filter)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with s:
            assert workloads.fib(5) == 5
    assert s.calls("fib") == 15  # traced anyway
    assert any(issubclass(w.category, monitrace.TracerError) for w in caught)
    assert "filter: KeyError('boom')" in s.errors[0]


def test_repr():
    s = monitrace.trace()
    assert repr(s).startswith("<monitrace.Session stopped tool_id=None clock=")


def test_restart_on_another_tool_id_merges_per_thread_rows():
    s = monitrace.trace()
    with s:
        workloads.fib(4)
    sys.monitoring.use_tool_id(3, "squatter")
    try:
        with s:
            assert s.tool_id == 4
            workloads.fib(4)
    finally:
        sys.monitoring.free_tool_id(3)
    rows = [x for x in s.stats(by_thread=True) if x.name == "fib"]
    assert [(r.thread_name, r.calls, r.primitive_calls) for r in rows] == [("MainThread", 18, 2)]


def test_front_end_hooks_are_public():
    """What the monitrace command needs from a Session, as public API:
    hide() a script's module code, ignore_thread(), warn_unmatched."""
    src = "def leaf():\n    return 1\n\nfor _ in range(3):\n    leaf()\n"
    code = compile(src, "<hidden-root>", "exec")
    s = monitrace.trace(record=True, live=False, max_depth=1)
    with pytest.raises(TypeError, match="code object"):
        s.hide("not code")
    s.hide(code)
    with s:
        with pytest.raises(RuntimeError, match="stopped session"):
            s.hide(code)
        exec(code, {"__name__": "hidden_root"})
    text = s.tree()
    # The module code is not printed, and its calls are depth 1 (so
    # max_depth=1 keeps them).
    assert "<module>" not in text
    assert text.count("Called leaf") == 3
    assert {st.qualname: st.calls for st in s.stats()}["leaf"] == 3

    quiet = monitrace.trace(include=["no_such_module_anywhere"], live=False)
    assert quiet.warn_unmatched is True
    quiet.warn_unmatched = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with quiet:
            pass
    assert quiet.unmatched_specs()  # still there, for the front end to say

    with monitrace.trace(live=False) as t:
        t.ignore_thread()
        workloads.fib(5)
    assert not [st for st in t.stats() if st.qualname == "fib"]
