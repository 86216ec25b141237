"""Breakpoints, their actions, profile=False and the error snooper (issue 16).

pdb is driven through stdin in a subprocess, as a user at a terminal would
(`p x`, `n`, `c`, `q`), and what it prints is checked."""

import asyncio
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from monitrace import Breakpoint, BreakpointWarning, trace


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return str(path)


def run(args, stdin="", cwd=None, env=None):
    full_env = {k: v for k, v in os.environ.items() if k not in ("MONITRACE", "PYTHONBREAKPOINT")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=60,
    )


def line_of(path, text):
    """The number of the line of `path` holding `text`."""
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if text in line:
                return number
    raise AssertionError(f"{text!r} not in {path}")


PROG = """\
def f(n):
    total = 0
    for i in range(n):
        total += i
    return total

print("result", f(4))
"""


# ---- pdb -------------------------------------------------------------------


def test_pdb_stops_at_the_line_in_its_frame_and_continues(tmp_path):
    write(tmp_path / "prog.py", PROG)
    driver = write(
        tmp_path / "driver.py",
        """\
        import runpy, monitrace
        with monitrace.trace(breakpoints=["prog.py:4 if i == 2"], profile=False):
            runpy.run_path("prog.py")
        print("after")
    """,
    )
    r = run([driver], stdin="p total, i\nc\n", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"> {tmp_path / 'prog.py'}(4)f()"
    assert lines[1] == "-> total += i"
    assert lines[2] == "(Pdb) (1, 2)"
    assert lines[3] == "(Pdb) result 6"
    assert lines[4] == "after"
    assert r.stderr == ""


def test_pdb_next_steps_and_quit_raises_bdbquit(tmp_path):
    write(tmp_path / "prog.py", PROG)
    driver = write(
        tmp_path / "driver.py",
        """\
        import runpy, monitrace
        with monitrace.trace(breakpoints=["prog.py:4 if i == 1"], profile=False):
            runpy.run_path("prog.py")
    """,
    )
    r = run([driver], stdin="n\nn\np i, total\nc\n", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # n: the for line, n: the body again (i == 2), where total is 1.
    assert "-> for i in range(n):" in r.stdout
    assert "(Pdb) (2, 1)" in r.stdout
    assert "result 6" in r.stdout
    r = run([driver], stdin="q\n", cwd=tmp_path)
    assert r.returncode == 1
    assert "bdb.BdbQuit" in r.stderr
    assert "result" not in r.stdout


PLACES = """\
import asyncio, threading

class Box:
    def __init__(self, size):
        self.size = size

    def grow(self, by):
        new = self.size + by
        self.size = new
        return new

def outer(a):
    def inner(b):
        both = a + b
        return both
    return inner(10)

def gen(n):
    for k in range(n):
        sq = k * k
        yield sq

async def coro(x):
    await asyncio.sleep(0)
    doubled = x * 2
    return doubled

print("grow", Box(5).grow(3))
print("outer", outer(1))
print("gen", list(gen(3)))
print("coro", asyncio.run(coro(21)))
"""


def test_pdb_in_method_nested_function_generator_and_coroutine(tmp_path):
    prog = write(tmp_path / "places.py", PLACES)
    where = [
        f"places.py:{line_of(prog, 'self.size = new')}",
        f"places.py:{line_of(prog, 'return both')}",
        f"places.py:{line_of(prog, 'yield sq')} if k == 2",
        f"places.py:{line_of(prog, 'return doubled')}",
    ]
    driver = write(
        tmp_path / "driver.py",
        f"""\
        import runpy, monitrace
        with monitrace.trace(breakpoints={where!r}, profile=False):
            runpy.run_path("places.py")
    """,
    )
    stdin = "p new, self.size\nc\np a, b, both\nc\np k, sq\nc\np doubled\nc\n"
    r = run([driver], stdin=stdin, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert ")grow()\n-> self.size = new\n(Pdb) (8, 5)" in out
    assert ")inner()\n-> return both\n(Pdb) (1, 10, 11)" in out
    assert ")gen()\n-> yield sq\n(Pdb) (2, 4)" in out
    assert ")coro()\n-> return doubled\n(Pdb) 42" in out
    answers = ["(Pdb) (8, 5)", "(Pdb) (1, 10, 11)", "(Pdb) (2, 4)", "(Pdb) 42"]
    assert [out.index(a) for a in answers] == sorted(out.index(a) for a in answers)
    for expected in ("grow 8", "outer 11", "gen [0, 1, 4]", "coro 42"):
        assert expected in out


THREADS = """\
import threading

def work(name):
    label = name.upper()
    return label

threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done")
"""


def test_pdb_in_two_threads_one_at_a_time(tmp_path):
    prog = write(tmp_path / "threads.py", THREADS)
    line = line_of(prog, "return label")
    driver = write(
        tmp_path / "driver.py",
        f"""\
        import runpy, monitrace
        with monitrace.trace(breakpoints=["threads.py:{line}"], profile=False):
            runpy.run_path("threads.py")
    """,
    )
    r = run([driver], stdin="p label\nc\np label\nc\n", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    # Each stop prints its location, then answers its own `p label`: the
    # second stop starts only after the first one's `c`.
    stops = out.split(f"threads.py({line})work()")
    assert len(stops) == 3
    answers = sorted(s for s in out.splitlines() if s.startswith("(Pdb) '"))
    assert answers == ["(Pdb) 'A'", "(Pdb) 'B'"]
    assert "'A'" not in stops[0] and "'B'" not in stops[0]
    assert out.rstrip().endswith("done")


# ---- the CLI and MONITRACE -------------------------------------------------


def test_cli_break_with_script_prints_no_tree(tmp_path):
    prog = write(tmp_path / "prog.py", PROG)
    r = run(
        ["-m", "monitrace", "--break", "prog.py:4", "--break-if", "i == 3", prog, "x"],
        stdin="p total\nc\n",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "-> total += i" in r.stdout
    assert "(Pdb) 3" in r.stdout
    assert "result 6" in r.stdout
    assert r.stderr == ""  # no tree, no report


def test_cli_break_with_module_and_command(tmp_path):
    write(tmp_path / "progmod.py", PROG)
    r = run(
        ["-m", "monitrace", "--break", "progmod.f", "-m", "progmod"], stdin="p n\nc\n", cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert "progmod.py(2)f()" in r.stdout  # the first line of f's body
    assert "(Pdb) 4" in r.stdout
    r = run(
        [
            "-m",
            "monitrace",
            "--break",
            "progmod.f",
            "--break-action",
            "print",
            "-c",
            "import progmod",
        ],
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == f"monitrace: {tmp_path / 'progmod.py'}:2 f() n=4\n"


def test_cli_break_quit_ends_quietly(tmp_path):
    prog = write(tmp_path / "prog.py", PROG)
    r = run(["-m", "monitrace", "--break", "prog.py:2", prog], stdin="q\n", cwd=tmp_path)
    assert r.returncode == 0
    assert "result" not in r.stdout
    assert "Traceback" not in r.stderr


def test_cli_bad_break_is_a_usage_error(tmp_path):
    prog = write(tmp_path / "prog.py", PROG)
    r = run(["-m", "monitrace", "--break", "prog.py:6", prog], cwd=tmp_path)
    assert r.returncode == 2
    assert "'prog.py:6': line 6 of prog.py has no code" in r.stderr
    r = run(["-m", "monitrace", "--break", "prog.py:4", "--break-if", "i ==", prog], cwd=tmp_path)
    assert r.returncode == 2
    assert "condition 'i ==' of 'prog.py:4' is not a valid expression" in r.stderr


def test_cli_break_with_report_keeps_statistics(tmp_path):
    prog = write(tmp_path / "prog.py", PROG)
    r = run(
        ["-m", "monitrace", "--report", "--break", "prog.f", "--break-action", "stack", prog],
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "called from:" in r.stderr
    assert "ncalls" in r.stderr  # the report table


def test_monitrace_env_break(tmp_path):
    prog = write(tmp_path / "prog.py", PROG)
    r = run([prog], cwd=tmp_path, env={"MONITRACE": "break=prog.py:4 if i >= 2;break_action=print"})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "result 6\n"
    path = tmp_path / "prog.py"
    assert r.stderr.splitlines() == [
        f"monitrace: {path}:4 f() n=4 total=1 i=2",
        f"monitrace: {path}:4 f() n=4 total=3 i=3",
    ]


# ---- actions, hits, conditions ----------------------------------------------


def f(n):
    total = 0
    for i in range(n):
        total += i
    return total


F_BODY = f.__code__.co_firstlineno + 3  # total += i
HERE = os.path.basename(__file__)


def collect():
    seen = []

    def action(frame):
        seen.append((frame.f_code.co_name, frame.f_lineno, frame.f_locals["i"]))
        return "ignored"

    return seen, action


def test_callable_action_gets_the_frame_at_the_line():
    seen, action = collect()
    with trace(breakpoints=[Breakpoint(f"{HERE}:{F_BODY}", action=action)], profile=False):
        assert f(3) == 3
    assert seen == [("f", F_BODY, 0), ("f", F_BODY, 1), ("f", F_BODY, 2)]


def test_ignore_and_temporary():
    seen, action = collect()
    bps = [Breakpoint(f"{HERE}:{F_BODY}", action=action, ignore=2)]
    with trace(breakpoints=bps, profile=False):
        f(5)
    assert [i for _, _, i in seen] == [2, 3, 4]
    seen, action = collect()
    bps = [Breakpoint(f"{HERE}:{F_BODY}", action=action, temporary=True, ignore=1)]
    with trace(breakpoints=bps, profile=False):
        f(5)
        f(5)
    assert [i for _, _, i in seen] == [1]


def test_two_breakpoints_on_one_line():
    first, second = [], []
    bps = [
        Breakpoint(
            f"{HERE}:{F_BODY}", action=lambda fr: first.append(fr.f_locals["i"]), temporary=True
        ),
        Breakpoint(f"{HERE}:{F_BODY} if i % 2", action=lambda fr: second.append(fr.f_locals["i"])),
    ]
    with trace(breakpoints=bps, profile=False):
        f(5)
    assert first == [0]
    assert second == [1, 3]


LIMIT = 3


def test_condition_reads_locals_and_globals_once_compiled():
    seen, action = collect()
    bps = [Breakpoint(f"{HERE}:{F_BODY} if i >= LIMIT and total % 2 == 0", action=action)]
    with trace(breakpoints=bps, profile=False):
        f(7)
    # total before the line: i=3 -> 3, i=4 -> 6, i=5 -> 10, i=6 -> 15
    assert [i for _, _, i in seen] == [4, 5]


def test_condition_error_is_reported_at_stop_not_raised():
    seen, action = collect()
    bps = [Breakpoint(f"{HERE}:{F_BODY} if undefined_name > 1", action=action)]
    s = trace(breakpoints=bps, profile=False)
    with pytest.warns(BreakpointWarning, match="condition raised NameError"):
        with s:
            assert f(3) == 3
    assert seen == []


def test_action_error_is_reported_at_stop_not_raised():
    def action(frame):
        raise ZeroDivisionError("in the action")

    s = trace(breakpoints=[Breakpoint(f"{HERE}:{F_BODY}", action=action)], profile=False)
    with pytest.warns(
        BreakpointWarning, match=r"action raised ZeroDivisionError\('in the action'\)"
    ):
        with s:
            assert f(3) == 3


def test_keyboard_interrupt_from_an_action_reaches_the_program():
    def action(frame):
        raise KeyboardInterrupt

    with trace(breakpoints=[Breakpoint(f"{HERE}:{F_BODY}", action=action)], profile=False):
        with pytest.raises(KeyboardInterrupt):
            f(3)


def interrupt():
    raise KeyboardInterrupt


def test_keyboard_interrupt_in_a_condition_reaches_the_program():
    seen, action = collect()
    bps = [Breakpoint(f"{HERE}:{F_BODY} if i == 1 and interrupt()", action=action)]
    with trace(breakpoints=bps, profile=False) as s:
        with pytest.raises(KeyboardInterrupt):
            f(3)
    assert seen == []
    assert s.errors == []


def test_print_and_stack_actions(capsys):
    with trace(
        breakpoints=[Breakpoint(f"{HERE}:{F_BODY} if i == 1", action="print")], profile=False
    ):
        f(2)
    err = capsys.readouterr().err
    assert err == f"monitrace: {__file__}:{F_BODY} f() n=2 total=0 i=1\n"
    with trace(
        breakpoints=[Breakpoint(f"{HERE}:{F_BODY} if i == 1", action="stack")], profile=False
    ):
        f(2)
    err = capsys.readouterr().err
    assert err.startswith(f"monitrace: {__file__}:{F_BODY} f(), called from:\n")
    assert "in test_print_and_stack_actions" in err
    assert f"line {F_BODY}, in f\n" in err


def test_function_spec_breaks_at_its_first_line():
    seen = []
    with trace(
        breakpoints=[Breakpoint(f"{__name__}.f", action=lambda fr: seen.append(fr.f_lineno))],
        profile=False,
    ):
        f(2)
        f(1)
    assert seen == [f.__code__.co_firstlineno + 1] * 2


def test_nested_function_spec_and_generator_and_coroutine():
    def outer():
        def inner(x):
            return x + 1

        return inner(1)

    def gen():
        yield 1
        yield 2

    async def coro():
        await asyncio.sleep(0)
        return 3

    seen = []

    def action(frame):
        seen.append(frame.f_code.co_name)

    bps = [
        Breakpoint(
            f"{__name__}.test_nested_function_spec_and_generator_and_coroutine.outer.inner",
            action=action,
        ),
        Breakpoint(f"{HERE}:{gen.__code__.co_firstlineno + 2}", action=action),  # yield 2
        Breakpoint(f"{HERE}:{coro.__code__.co_firstlineno + 2}", action=action),  # return 3
    ]
    with trace(breakpoints=bps, profile=False):
        assert outer() == 2
        assert list(gen()) == [1, 2]
        assert asyncio.run(coro()) == 3
    assert seen == ["inner", "gen", "coro"]


def test_breakpoints_in_threads():
    seen, action = collect()
    with trace(breakpoints=[Breakpoint(f"{HERE}:{F_BODY}", action=action)], profile=False):
        threads = [threading.Thread(target=f, args=(3,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(i for _, _, i in seen) == [0] * 4 + [1] * 4 + [2] * 4


# ---- bad input ------------------------------------------------------------


def test_file_line_without_code_raises_at_start(tmp_path):
    prog = write(tmp_path / "prog.py", "x = 1\n\n# a comment\ny = 2\n")
    for line, why in ((2, "blank"), (3, "blank, a comment"), (9, "past the end")):
        with pytest.raises(
            ValueError, match=rf"'{prog}:{line}': line {line} of .* has no code \({why}"
        ):
            trace(breakpoints=[f"{prog}:{line}"])
    trace(breakpoints=[f"{prog}:4"])  # fine


def test_unknown_file_warns_at_stop_when_never_matched():
    s = trace(breakpoints=["no/such/file.py:3"], profile=False)
    with pytest.warns(BreakpointWarning, match="'no/such/file.py:3' never matched"):
        with s:
            f(1)


def test_bad_breakpoints_raise_at_start():
    with pytest.raises(ValueError, match="condition 'x ==' of 'a.py:3' is not a valid"):
        trace(breakpoints=["a.py:3 if x =="])
    with pytest.raises(ValueError, match="action of 'a.py:3' must be one of"):
        trace(breakpoints=[Breakpoint("a.py:3", action="dance")])
    with pytest.raises(ValueError, match="neither 'path/file.py:LINE' nor 'pkg.mod.func'"):
        trace(breakpoints=["a b c"])
    with pytest.raises(ValueError, match="ignore of 'a.py:3' must be an int >= 0"):
        trace(breakpoints=[Breakpoint("a.py:3", ignore=-1)])
    with pytest.raises(ValueError, match="record= needs profile=True"):
        trace(breakpoints=["a.py:3"], profile=False, record=True)
    with pytest.raises(ValueError, match="on_error must be None or 'errors'"):
        trace(on_error="loud")


# ---- cost and coexistence ----------------------------------------------------


def g(n):
    return n + 1


def test_profile_false_decides_once_per_code_object():
    seen, action = collect()
    s = trace(breakpoints=[Breakpoint(f"{HERE}:{F_BODY}", action=action)], profile=False)
    with s:
        for k in range(1000):
            g(k)
        f(2)
    counts = s._tracer.snapshot()["event_counts"]
    # g and f once each (then DISABLE), and the session's own __exit__.
    assert counts["PY_START"] <= 4
    assert counts["PY_RETURN"] == 0
    # LINE: f's lines once each, then only the breakpoint line keeps coming.
    assert counts["LINE"] <= 6
    assert s.stats() == []
    assert len(seen) == 2


def test_beside_a_statistics_session_counts_stay_exact():
    seen, action = collect()
    stats = trace()
    brk = trace(
        breakpoints=[Breakpoint(f"{HERE}:{F_BODY} if i == 1", action=action)], profile=False
    )
    with stats:
        with brk:
            for _ in range(50):
                f(3)
                g(1)
        for _ in range(7):
            f(2)
    calls = {row.qualname: row.calls for row in stats.stats()}
    assert calls["f"] == 57
    assert calls["g"] == 50
    assert len(seen) == 50


def test_a_later_session_is_not_left_disabled():
    with pytest.warns(BreakpointWarning, match="never matched"):
        with trace(breakpoints=[f"{HERE}:{F_BODY}"], profile=False):
            pass  # nothing ran there
    with trace(breakpoints=[Breakpoint(f"{HERE}:{F_BODY}", action=lambda fr: None)], profile=False):
        f(2)
    with trace() as s:
        for _ in range(5):
            f(3)
    assert {row.qualname: row.calls for row in s.stats()}["f"] == 5


def test_lines_quiet_for_one_session_come_back_for_the_next():
    seen = []
    with trace(breakpoints=[Breakpoint(f"{HERE}:{F_BODY}", action=lambda fr: None)], profile=False):
        f(3)  # f's other lines answered DISABLE
    with trace(
        breakpoints=[
            Breakpoint(
                f"{HERE}:{F_BODY + 1}",  # return total
                action=lambda fr: seen.append(fr.f_locals["total"]),
            )
        ],
        profile=False,
    ):
        f(3)
    assert seen == [3]


def test_breakpoints_with_profile_and_lines_share_line_events():
    seen, action = collect()
    with trace(lines=True, breakpoints=[Breakpoint(f"{HERE}:{F_BODY}", action=action)]) as s:
        f(4)
    hits = s.line_stats()
    assert hits[(__file__, F_BODY)] == 4
    assert hits[(__file__, F_BODY - 1)] == 5  # the for line: 4 turns and the end
    assert [i for _, _, i in seen] == [0, 1, 2, 3]
    assert {row.qualname: row.calls for row in s.stats()}["f"] == 1


# ---- the error snooper ---------------------------------------------------------


def fails(x):
    y = x * 2
    z = y + 1
    raise ValueError(f"bad {z}")


def catches():
    try:
        fails(3)
    except ValueError:
        return "caught"


def test_errors_prints_the_last_lines_of_the_frame_it_leaves(capsys):
    with trace(on_error="errors", profile=False):
        assert catches() == "caught"
    err = capsys.readouterr().err
    first = fails.__code__.co_firstlineno
    assert err.splitlines() == [
        f"monitrace: ValueError: bad 7 left fails() at {__file__}:{first + 3}; "
        "the last lines it ran:",
        f"  {first + 1:>5} | y = x * 2    # x=3 y=6",
        f"  {first + 2:>5} | z = y + 1    # y=6 z=7",
        f'  {first + 3:>5} | raise ValueError(f"bad {{z}}")    # z=7',
    ]


def test_cli_errors(tmp_path):
    prog = write(
        tmp_path / "boom.py",
        """\
        def boom(n):
            half = n // 2
            return 10 // (half - half)

        boom(8)
    """,
    )
    r = run(["-m", "monitrace", "--errors", prog], cwd=tmp_path)
    assert r.returncode == 1
    try:
        10 // 0
    except ZeroDivisionError as exc:
        message = str(exc)  # its wording changed in 3.14
    assert f"monitrace: ZeroDivisionError: {message} left boom() at {prog}:3" in r.stderr
    assert "      2 | half = n // 2    # n=8 half=4" in r.stderr
    assert "      3 | return 10 // (half - half)    # half=4" in r.stderr
    assert r.stderr.rstrip().endswith(f"ZeroDivisionError: {message}")
