"""Statement snapshots (monitrace.snapshot, trace(watch=...)), checked
against tracefunc (the tool whose result shape they copy) as the oracle."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import textwrap
import warnings

import pytest

import monitrace
from monitrace import _core

import snapshot_targets as T

tracefunc = pytest.importorskip("tracefunc").tracefunc

_ADDR = re.compile(r" at 0x[0-9a-f]+")


def _norm(res):
    """Results with object addresses blanked (they differ between runs)."""
    return [
        (
            stack,
            {
                key: (
                    hits,
                    {n: [(t, _ADDR.sub(" at 0x?", r)) for t, r in v] for n, v in names.items()},
                )
                for key, (hits, names) in data.items()
            },
        )
        for stack, data in res
    ]


def _both(fn, *args, target=None, **kwargs):
    extra = {} if target is None else {"target_func": target}
    want = tracefunc(fn, *args, **extra, **kwargs)
    got = monitrace.snapshot(fn, *args, target=target, repr_limit=50, **kwargs)
    return want, got


SHAPES = [
    pytest.param(T.one_line, (), None, id="one-line-statements"),
    pytest.param(T.loops, (5,), None, id="for-while-if"),
    pytest.param(T.loops, (30,), None, id="samples-capped"),
    pytest.param(T.handlers, (0,), None, id="except-handler"),
    pytest.param(T.handlers, (2,), None, id="no-exception"),
    pytest.param(T.comprehensions, (4,), None, id="comprehensions"),
    pytest.param(T.nested, (3,), None, id="nested-def"),
    pytest.param(T.run_fact, (4,), T.fact, id="recursion"),
    pytest.param(T.run_gen, (3,), T.gen, id="generator"),
    pytest.param(T.run_coro, (3,), T.coro, id="coroutine"),
    pytest.param(T.raises, (5,), None, id="raises"),
    pytest.param(T.many_calls, (13,), T.one_line, id="calls-capped"),
    pytest.param(T.hostile_values, (), None, id="hostile-repr"),
    pytest.param(T.loop_heavy, (20,), None, id="loop-heavy"),
]


@pytest.mark.parametrize("fn, args, target", SHAPES)
def test_same_as_tracefunc(fn, args, target):
    want, got = _both(fn, *args, target=target)
    assert _norm(got) == _norm(want)
    assert repr(got.exc) == repr(want.exc)
    assert len(got) >= 1


def test_incl_unhit_same_as_tracefunc():
    want, got = _both(T.handlers, 2, incl_unhit=True)
    assert _norm(got) == _norm(want)
    assert got[0][1]["except ZeroDivisionError as e:"] == (0, {"ZeroDivisionError": [], "e": []})


def test_values_are_taken_after_the_statement():
    res = monitrace.snapshot(T.loops, 4)
    ((stack, data),) = res
    assert stack == ""
    assert data["total = 0"] == (1, {"total": [("int", "0")]})
    # i = 0..3: odd i add, even i subtract one: -1, 0, -1, 2.
    assert data["total += i"] == (
        2,
        {"i": [("int", "1"), ("int", "3")], "total": [("int", "0"), ("int", "2")]},
    )
    assert data["total -= 1"][1]["total"] == [("int", "-1"), ("int", "-1")]
    assert data["while k < 3:"][0] == 4
    assert data["k += 1"][1]["k"] == [("int", "1"), ("int", "2"), ("int", "3")]


def test_recursion_gives_one_result_per_call_with_its_stack():
    res = monitrace.snapshot(T.run_fact, 3, target=T.fact)
    assert [d["if n <= 1:"][1]["n"] for _, d in res] == [
        [("int", "3")],
        [("int", "2")],
        [("int", "1")],
    ]
    assert res[0][0] == "run_fact (snapshot_targets.py:76)\nfact (snapshot_targets.py:68)"
    assert res[2][0].splitlines() == [
        "run_fact (snapshot_targets.py:76)",
        "fact (snapshot_targets.py:71)",
        "fact (snapshot_targets.py:71)",
        "fact (snapshot_targets.py:68)",
    ]
    assert "return 1" not in res[0][1] and res[2][1]["return 1"][0] == 1


def test_generators_and_coroutines_keep_their_call_across_suspensions():
    res = monitrace.snapshot(T.run_gen, 3, target=T.gen)
    assert len(res) == 2
    assert res[0][1]["sq = i * i"][1]["sq"] == [("int", "0"), ("int", "1"), ("int", "4")]
    assert res[1][1]["sq = i * i"][1]["sq"] == [("int", "0"), ("int", "1")]
    assert res[0][1]['tail = "end"'][0] == 1
    res = monitrace.snapshot(T.run_coro, 3, target=T.coro)
    assert [d["total += i"][1]["total"][-1] for _, d in res] == [("int", "3"), ("int", "6")]


def test_match_cases_are_snippets():
    # tracefunc fails on match statements: checked by hand.
    ((_, data),) = monitrace.snapshot(T.matcher, {"k": 3})
    assert data == {
        "match v:": (1, {"v": [("dict", "{'k': 3}")]}),
        "case [a, b]:": (
            1,
            {"a": [("NameError", "<unavailable>")], "b": [("NameError", "<unavailable>")]},
        ),
        'case {"k": k}:': (1, {"k": [("int", "3")]}),
        "out = k": (1, {"k": [("int", "3")], "out": [("int", "3")]}),
        "return out": (1, {"out": [("int", "3")]}),
    }
    ((_, data),) = monitrace.snapshot(T.matcher, 5)
    assert data["case int() if v > 3:"] == (
        1,
        {"int": [("type", "<class 'int'>")], "v": [("int", "5")]},
    )
    assert data["out = v * 2"][1]["out"] == [("int", "10")]


def test_comprehension_snapshot_per_iteration():
    ((_, data),) = monitrace.snapshot(T.comprehensions, 4)
    assert data["[x * x for x in range(n)]"][0] == 4
    assert data["[x * x for x in range(n)]"][1]["x"] == [("int", str(i)) for i in range(4)]
    assert data["(y for y in range(n))"][0] == 4
    assert data["{x for x in range(n) if x % 2 == 0}"][0] == 2


def test_threads_calling_the_target_at_once():
    n = 4
    want = tracefunc(T.threaded, n, target_func=T.work)
    got = monitrace.snapshot(T.threaded, n, target=T.work)
    assert len(got) == len(want) == n

    def per_call(res):
        return sorted(str(d["s += i * t"]) for _, d in res)

    assert per_call(got) == per_call(want)
    totals = sorted(d["return s"][1]["s"][0][1] for _, d in got)
    assert totals == sorted(str(sum(i * j for i in range(5))) for j in range(n))


def test_caps_and_drops_are_counted():
    res = monitrace.snapshot(T.many_calls, 30, target=T.one_line, max_calls=3)
    assert len(res) == 3
    assert res.dropped["dropped_calls"] == 27
    res = monitrace.snapshot(T.loops, 100, max_samples=2)
    hits, values = res[0][1]["total += i"]
    assert hits == 50 and values["i"] == [("int", "1"), ("int", "3")]
    # A budget of 3 values: "total = 0" takes one, the first for header
    # three (i, n, range) would take the rest: two are stored, one dropped,
    # and every later sample is dropped too.
    res = monitrace.snapshot(T.loops, 2, max_values=3)
    data = res[0][1]
    stored = sum(len(v) for _, names in data.values() for v in names.values())
    assert stored == 3
    wanted = sum(min(h, 10) * len(names) for h, names in data.values())
    assert res.dropped["dropped_values"] == wanted - 3


def test_a_hostile_repr_never_breaks_the_program():
    res = monitrace.snapshot(T.hostile_values, repr_limit=20)
    data = res[0][1]
    assert res.exc is None
    assert data["bad = BadRepr()"][1]["bad"] == [("BadRepr", "<repr-error Runti...")]
    assert data["deep = DeepRepr()"][1]["deep"][0][1] == "<repr-error Recur..."
    assert data['long = "x" * 500'][1]["long"] == [("str", "'" + "x" * 16 + "...")]
    assert res.errors == []


def test_exception_in_fn_is_kept_with_the_results_so_far():
    res = monitrace.snapshot(T.raises, 5)
    assert isinstance(res.exc, ValueError) and str(res.exc) == "too big"
    assert res[0][1]['raise ValueError("too big")'][0] == 1
    assert "return x" not in res[0][1]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_calls": -1}, "max_calls must be 0 or more"),
        ({"max_samples": "3"}, "max_samples must be an int"),
        ({"repr_limit": 0}, "repr_limit must be 1 or more"),
    ],
)
def test_bad_arguments_name_the_option(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        monitrace.snapshot(T.one_line, **kwargs)


def test_bad_targets():
    with pytest.raises(TypeError, match="fn must be a Python function"):
        monitrace.snapshot(len, [])
    with pytest.raises(ValueError, match="watch: cannot find the definition"):
        monitrace.snapshot(lambda: 1)


def test_no_tool_id_left_taken():
    before = [sys.monitoring.get_tool(i) for i in range(6)]
    monitrace.snapshot(T.loops, 3)
    monitrace.snapshot(T.raises, 9)
    assert [sys.monitoring.get_tool(i) for i in range(6)] == before


# ---- trace(watch=...) ----------------------------------------------------------


def test_session_watch_matches_snapshot():
    with monitrace.trace(watch="function:loops") as s:
        T.loops(4)
        T.one_line()
        T.loops(2)
    res = s.snapshots()
    assert len(res) == 2
    for (stack, data), n in zip(res, (4, 2)):
        assert stack.splitlines()[-1] == "loops (snapshot_targets.py:13)"
        assert data == monitrace.snapshot(T.loops, n)[0][1]
    # The other functions of the session are timed as usual.
    assert s.calls(T.one_line) == 1


def test_only_watched_code_gets_instruction_events():
    ev = sys.monitoring.events
    with monitrace.trace(watch="function:loop_heavy", lines=True, record=True) as s:
        T.loop_heavy(3)
        T.one_line()
        tool = s.tool_id
        watched = sys.monitoring.get_local_events(tool, T.loop_heavy.__code__)
        other = sys.monitoring.get_local_events(tool, T.one_line.__code__)
        assert sys.monitoring.get_events(tool) & ev.INSTRUCTION == 0
    # Union with what lines=True switched on for the same code.
    assert watched == ev.INSTRUCTION | ev.LINE
    assert other == ev.LINE
    # Every INSTRUCTION event came from the watched function: as many as
    # a reference counter on that code object alone sees.
    counts = s.snapshot()["event_counts"]
    assert counts["INSTRUCTION"] == _reference_instructions(T.loop_heavy, 3)


def _reference_instructions(fn, *args):
    tool = next(i for i in range(6) if sys.monitoring.get_tool(i) is None)
    seen = []
    sys.monitoring.use_tool_id(tool, "reference")
    try:
        sys.monitoring.register_callback(
            tool, sys.monitoring.events.INSTRUCTION, lambda code, off: seen.append(off)
        )
        sys.monitoring.set_local_events(tool, fn.__code__, sys.monitoring.events.INSTRUCTION)
        fn(*args)
    finally:
        sys.monitoring.set_local_events(tool, fn.__code__, 0)
        sys.monitoring.register_callback(tool, sys.monitoring.events.INSTRUCTION, None)
        sys.monitoring.free_tool_id(tool)
    return len(seen)


def test_watch_spec_is_checked_at_start():
    with pytest.raises(TypeError, match="watch must be a str"):
        monitrace.trace(watch=5)
    with pytest.raises(ValueError, match="watch"):
        monitrace.trace(watch="re:(")


def test_snapshots_needs_watch():
    with monitrace.trace() as s:
        pass
    with pytest.raises(ValueError, match="watch="):
        s.snapshots()


def test_cli_watch(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text(
        textwrap.dedent("""\
        def loops(n):
            total = 0
            for i in range(n):
                total += i
            return total
        loops(3)
    """)
    )
    out = subprocess.run(
        [sys.executable, "-m", "monitrace", "--watch", "function:loops", str(prog)],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    assert "watch: call 1 of 1: loops (prog.py:1)" in out
    assert re.search(r"^\s+3  total \+= i\s+i=2 total=3$", out, re.M)
    env = dict(os.environ, MONITRACE="watch=function:loops")
    out = subprocess.run(
        [sys.executable, str(prog)], capture_output=True, text=True, check=True, env=env
    ).stderr
    assert re.search(r"^\s+4  for i in range\(n\):\s+i=2 n=3", out, re.M)


def test_write_text():
    buf = io.StringIO()
    from monitrace.watch import write_text

    write_text(monitrace.snapshot(T.one_line), buf)
    assert buf.getvalue().splitlines() == [
        "watch: call 1 of 1",
        "       1  a = 1      a=1",
        "       1  b = 2      b=2",
        "       1  c = a + b  a=1 b=2 c=3",
        "       1  return c   c=3",
    ]


def test_watched_code_frees_cleanly_with_the_tracer():
    tr = _core.Tracer(filter=lambda code, module=None: 0, filter_module=True)
    tr.watch_configure(lambda code: None)
    tr.start()
    T.loops(2)
    tr.stop()
    assert tr.watch_results() == (
        [],
        {"values": 0, "dropped_calls": 0, "dropped_values": 0, "dropped_frames": 0},
    )


def _stmt(line, text, changes=""):
    """A watched statement's line in a tree, one level in: the line number
    right-aligned, the statement, then what it changed from column 20."""
    shown = f"    {line:5d} | {text}"
    if changes:
        shown += " " * max(20 - len(text) + 2, 2) + changes
    return shown


def test_tree_shows_each_statement_with_what_changed():
    with monitrace.trace(record=True, watch="function:loops", include="*snapshot_targets*") as s:
        T.loops(2)
        T.one_line()
    lines = s.tree().splitlines()
    assert lines[1:4] == [
        _stmt(14, "total = 0", "total=0"),
        _stmt(15, "for i in range(n):", "i=0 n=2 range=<class 'range'>"),
        _stmt(16, "if i % 2:", "i=0"),
    ]
    assert lines[0].startswith("Called loops:13 from line ")
    # total += i ran once (i=1): total went from -1 to 0.
    assert _stmt(17, "total += i", "i=1 total=0") in lines
    # The header's second run: only i changed.
    assert lines.count(_stmt(15, "for i in range(n):", "i=1")) == 1
    assert _stmt(23, "return total + k", "k=3 total=0") in lines
    # An unwatched function shows no statements.
    i = next(n for n, line in enumerate(lines) if line.startswith("Called one_line"))
    assert lines[i + 1] == "Returning one_line"
    # Statements run, one line each, in order.
    stmts = [line for line in lines if " | " in line]
    assert len(stmts) == sum(hits for hits, _ in monitrace.snapshot(T.loops, 2)[0][1].values())


def test_snapshots_keep_no_reference_to_the_programs_objects():
    refs = []
    res = monitrace.snapshot(T.make_tracked, refs)
    assert res[0][1]["obj = Tracked()"][1]["obj"][0][0] == "Tracked"
    assert refs[0]() is None
    with monitrace.trace(watch="function:make_tracked", record=True) as s:
        T.make_tracked(refs)
    assert refs[1]() is None
    assert len(s.snapshots()) == 1


def test_a_watch_spec_that_matches_nothing_is_said():
    # The classic trap: a bare name is a module or module.qualname.
    with pytest.warns(
        monitrace.UnmatchedSpecWarning, match="watch spec 'loops' matched no function"
    ):
        with monitrace.trace(watch="loops") as s:
            T.loops(2)
    assert s.snapshots() == []
    assert s.unmatched_specs({"watch": "--watch"}) == [
        "monitrace: --watch spec 'loops' matched no function (a bare name means a module or a "
        "full name module.qualname; for a function named so use 'function:loops')"
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with monitrace.trace(watch="function:loops") as s:
            T.loops(2)
    assert len(s.snapshots()) == 1
    # Watching alone (profile=False): the watch spec is still checked, and
    # the include= spec, which such a session never asks, is not reported.
    with pytest.warns(monitrace.UnmatchedSpecWarning) as caught:
        with monitrace.trace(watch="loops", include=["nothing_here"], profile=False):
            T.loops(2)
    assert [str(w.message).split(" matched")[0] for w in caught] == [
        "monitrace: watch spec 'loops'"
    ]


def test_watch_alone_with_profile_false_pays_only_in_the_watched_function():
    """watch= and nothing else (profile=False): the watched function gets
    its snapshots, and every other function is disabled after its first
    call: a second run of it delivers no event at all."""
    with monitrace.trace(watch="function:loops", profile=False) as s:
        T.loops(2)
        T.one_line()
        before = dict(s._tracer.snapshot()["event_counts"])
        T.one_line()
        after = dict(s._tracer.snapshot()["event_counts"])
    assert after == before
    with monitrace.trace(watch="function:loops") as full:
        T.loops(2)
    assert [d for _, d in s.snapshots()] == [d for _, d in full.snapshots()]
    assert [st.qualname for st in s.stats()] == ["loops"]
