"""The monitrace command, run in a subprocess like a user would."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

DATA = os.path.join(os.path.dirname(__file__), "data")
EXAMPLE = os.path.join(DATA, "example.py")
CONSOLE = os.path.join(os.path.dirname(sys.executable), "monitrace")

EXAMPLE_TREE = """\
Called foo:1 from line 8
    Called bar:5 from line 2
    Returning bar-> 20
Returning foo-> 10
"""


def run(*args, cwd=None, env=None, command=(sys.executable, "-m", "monitrace")):
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    full_env.update(env or {})
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, cwd=cwd, env=full_env, timeout=60
    )


def plain(*args, cwd=None):
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return str(path)


SHOW = """\
import json, os, sys, __main__
print(json.dumps({
    "argv": sys.argv,
    "path0": sys.path[0],
    "name": __name__,
    "file": globals().get("__file__"),
    "package": __package__,
    "spec": getattr(__spec__, "name", None),
    "main_is_module": sys.modules["__main__"] is __main__,
    "main_names": sorted(n for n in vars(__main__) if n.startswith("__")),
    "annotations": __import__("__future__").annotations.compiler_flag
        & sys._getframe().f_code.co_flags != 0,
}))
"""


def test_issue_example_exact_tree_on_stderr():
    r = run("--retval", EXAMPLE)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", EXAMPLE_TREE)


def test_console_script_and_python_m_agree():
    r = run("--retval", EXAMPLE, command=(CONSOLE,))
    assert (r.returncode, r.stderr) == (0, EXAMPLE_TREE)


def test_output_file(tmp_path):
    out = tmp_path / "trace.txt"
    r = run("-o", str(out), "--retval", EXAMPLE)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert out.read_text() == EXAMPLE_TREE


def test_unwritable_output_is_a_usage_error(tmp_path):
    r = run("-o", str(tmp_path / "missing-dir" / "t.txt"), EXAMPLE)
    assert r.returncode == 2
    assert "argument -o/--output: cannot write" in r.stderr
    assert "Called" not in r.stderr


def test_script_sees_what_plain_python_gives(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    script = write(sub / "show.py", SHOW)
    expected = plain("sub/show.py", "a", "--b", cwd=tmp_path)
    got = run("sub/show.py", "a", "--b", cwd=tmp_path)
    assert got.returncode == expected.returncode == 0
    assert got.stdout == expected.stdout
    assert '"argv": ["sub/show.py", "a", "--b"]' in got.stdout
    assert f'"path0": "{os.path.dirname(script)}"' in got.stdout
    # our own `from __future__ import annotations` must not leak into it
    assert '"annotations": false' in got.stdout


def test_dash_m_sees_what_plain_python_gives(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    write(pkg / "__init__.py", "")
    write(pkg / "show.py", SHOW)
    expected = plain("-m", "pkg.show", "x", "-y", cwd=tmp_path)
    got = run("-m", "pkg.show", "x", "-y", cwd=tmp_path)
    assert got.returncode == expected.returncode == 0
    assert got.stdout == expected.stdout
    assert '"spec": "pkg.show"' in got.stdout


def test_dash_m_package_main_and_tree(tmp_path):
    pkg = tmp_path / "app"
    pkg.mkdir()
    write(pkg / "__init__.py", "")
    write(
        pkg / "__main__.py",
        """\
        def hello(name):
            return "hi " + name

        print(hello("you"))
        """,
    )
    r = run("--args", "--retval", "-m", "app", cwd=tmp_path)
    assert r.returncode == 0
    assert r.stdout == "hi you\n"
    assert r.stderr == "Called hello:1 from line 4 with name='you'\nReturning hello-> 'hi you'\n"


def test_dash_m_missing_module(tmp_path):
    r = run("-m", "no_such_module_here", cwd=tmp_path)
    assert r.returncode == 1
    assert "No module named no_such_module_here" in r.stderr


def test_dash_c(tmp_path):
    code = SHOW.replace("\n", "\n")
    expected = plain("-c", code, "1", "2", cwd=tmp_path)
    got = run("-c", code, "1", "2", cwd=tmp_path)
    assert got.returncode == expected.returncode == 0
    assert got.stdout == expected.stdout
    assert '"argv": ["-c", "1", "2"]' in got.stdout and '"path0": ""' in got.stdout
    r = run("--retval", "-c", "def f():\n    return 3\nf()\n")
    assert r.stderr == "Called f:1 from line 3\nReturning f-> 3\n"


def test_uncaught_exception_traceback_and_exit_code_1(tmp_path):
    script = write(
        tmp_path / "zd.py",
        """\
        def divide(a, b):
            return a / b

        def compute():
            return divide(1, 0)

        compute()
        """,
    )
    expected = plain(script)
    got = run(script)
    assert got.returncode == expected.returncode == 1
    tree = (
        "Called compute:4 from line 7\n"
        "    Called divide:1 from line 5\n"
        "    Raised ZeroDivisionError from divide\n"
        "Raised ZeroDivisionError from compute\n"
    )
    assert got.stderr == tree + expected.stderr
    assert expected.stderr.startswith("Traceback (most recent call last):\n")


@pytest.mark.parametrize(
    "code, status",
    [("raise SystemExit(3)", 3), ("import sys; sys.exit('bye')", 1), ("import sys; sys.exit()", 0)],
)
def test_system_exit_passes_through(code, status):
    expected = plain("-c", code)
    got = run("-c", code)
    assert got.returncode == expected.returncode == status
    assert got.stderr == expected.stderr


def test_syntax_error_in_script(tmp_path):
    script = write(tmp_path / "bad.py", "def (:\n")
    expected = plain(script)
    got = run(script)
    assert got.returncode == expected.returncode == 1
    assert got.stderr == expected.stderr


def test_missing_script_and_no_target(tmp_path):
    r = run(str(tmp_path / "nope.py"))
    assert r.returncode == 2
    assert "can't open file" in r.stderr and "No such file or directory" in r.stderr
    r = run("--retval")
    assert r.returncode == 2 and "give a script to run, -m MODULE or -c CODE" in r.stderr


def test_bad_option_value_is_a_usage_error():
    r = run("--depth", "0", EXAMPLE)
    assert r.returncode == 2
    assert "depth must be a positive int or None, not 0" in r.stderr


def test_repr_that_raises_does_not_break_the_program(tmp_path):
    script = write(
        tmp_path / "bad_repr.py",
        """\
        class Bad:
            def __repr__(self):
                raise RuntimeError("boom")

        def take(x):
            return x

        take(Bad())
        print("still fine")
        """,
    )
    r = run("--args", "--retval", script)
    assert (r.returncode, r.stdout) == (0, "still fine\n")
    assert r.stderr == (
        "Called Bad:1 from line 1\n"  # the class body runs
        "Returning Bad-> None\n"
        "Called take:5 from line 8 with x=<Bad object; repr raised RuntimeError>\n"
        "Returning take-> <Bad object; repr raised RuntimeError>\n"
    )


def test_report_instead_of_tree(tmp_path):
    r = run("--report", EXAMPLE)
    assert r.returncode == 0
    lines = r.stderr.splitlines()
    assert lines[0].strip() == "3 function calls in " + lines[0].split(" in ")[1]
    rows = [line for line in lines if "example.py" in line]
    assert [row.split()[0] for row in rows] == ["1", "1", "1"]
    assert [row.rsplit(":", 1)[1] for row in rows] == ["1(<module>)", "1(foo)", "5(bar)"]


def test_depth_lines_path_c_calls(tmp_path):
    r = run("--depth", "1", EXAMPLE)
    assert r.stderr == "Called foo:1 from line 8\nReturning foo\n"
    r = run("--lines", EXAMPLE)
    assert r.stderr == (
        "example.py:1  def foo():\n"
        "example.py:5  def bar():\n"
        "example.py:8  foo()\n"
        "Called foo:1 from line 8\n"
        "    example.py:2  bar()\n"
        "    Called bar:5 from line 2\n"
        "        example.py:6  return 20\n"
        "    Returning bar\n"
        "    example.py:3  return 10\n"
        "Returning foo\n"
    )
    r = run("--path", "--full-paths", EXAMPLE)
    assert r.stderr.splitlines()[0] == f"Called foo@{EXAMPLE}:1 from {EXAMPLE}:8"
    # Short paths by default: relative to the working directory.
    r = run("--path", EXAMPLE, cwd=os.path.dirname(EXAMPLE))
    assert r.stderr.splitlines()[0] == "Called foo@example.py:1 from example.py:8"
    r = run("--c-calls", "-c", "def f():\n    return len('ab')\nf()\n")
    assert r.stderr == (
        "Called f:1 from line 3\n    Called len from line 2\n    Returning len\nReturning f\n"
    )


def test_colors_follow_force_color_and_no_color():
    r = run(EXAMPLE, env={"FORCE_COLOR": "1"})
    assert r.stderr.splitlines()[0] == "\x1b[36mCalled\x1b[0m foo:1 from line 8"
    r = run("--no-color", EXAMPLE, env={"FORCE_COLOR": "1"})
    assert "\x1b[" not in r.stderr
    r = run(EXAMPLE, env={"NO_COLOR": "1"})
    assert "\x1b[" not in r.stderr


def test_program_options_after_the_script_are_not_ours():
    r = run("-c", "import sys; print(sys.argv)", "--report", "-o", "x")
    assert r.returncode == 0
    assert r.stdout == "['-c', '--report', '-o', 'x']\n"
    assert r.stderr == ""


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="POSIX signals")
def test_keyboard_interrupt_dies_by_sigint():
    r = run("-c", "raise KeyboardInterrupt")
    expected = plain("-c", "raise KeyboardInterrupt")
    assert r.returncode == expected.returncode == -signal.SIGINT
    assert r.stderr == expected.stderr


def test_filter_flags_apply_to_the_tree():
    r = run("--retval", "--exclude", "function:bar", EXAMPLE)
    assert r.stderr == "Called foo:1 from line 8\nReturning foo-> 10\n"
    r = run("--min-duration", "1000s", EXAMPLE)
    assert (r.returncode, r.stderr) == (0, "")
    r = run("--max-depth", "1", "--retval", EXAMPLE)
    assert r.stderr == "Called foo:1 from line 8\nReturning foo-> 10\n"


def test_spec_flags_are_checked_and_unmatched_specs_said_once():
    r = run("--include", "bogus:foo", EXAMPLE)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines()[-1] == (
        "monitrace: error: argument --include: unknown field 'bogus' in 'bogus:foo'; a spec "
        "is [field:][re:]pattern with field one of module, function, qualname, fullname, "
        "file, filename"
    )
    r = run("--within", "funtion:foo", EXAMPLE)
    assert r.returncode == 2
    assert (
        "argument --within: unknown field 'funtion' in 'funtion:foo' (did you mean "
        "'function'?)" in r.stderr
    )
    # `--within foo` names a module: nothing is traced, and one line says why
    r = run("--within", "foo", "--include", "__main__", EXAMPLE)
    assert (r.returncode, r.stderr) == (
        0,
        (
            "monitrace: --within spec 'foo' matched no function (a bare name means a module or "
            "a full name module.qualname; for a function named so use 'function:foo')\n"
        ),
    )
    r = run("--within", "function:foo", EXAMPLE)
    assert (r.returncode, r.stderr) == (
        0,
        "Called foo:1 from line 8\n    Called bar:5 from "
        "line 2\n    Returning bar\nReturning foo\n",
    )


DEPTHS = """\
import threading
def c():
    return 1
def b():
    return c() + c()
def a():
    return b()
def work():
    a()
    t = threading.Thread(target=a)
    t.start()
    t.join()
if __name__ == "__main__":
    work()
"""


@pytest.mark.parametrize(
    "flags, options, calls",
    [
        # a: the thread's top level
        (["--max-depth", "1"], dict(max_depth=1), {"work": 1, "a": 1}),
        (["--max-depth", "2"], dict(max_depth=2), {"work": 1, "a": 2, "b": 1}),
        (
            ["--within", "function:a", "--max-depth", "1"],
            dict(within="function:a", max_depth=1),
            {"a": 2},
        ),
        (
            ["--within", "function:b", "--max-depth", "2"],
            dict(within="function:b", max_depth=2),
            {"b": 2, "c": 4},
        ),
        (
            ["--include", "function:a", "--include", "function:b", "--max-depth", "1"],
            dict(include=("function:a", "function:b"), max_depth=1),
            {"a": 2},
        ),
    ],
    ids=["depth1", "depth2", "within-a-1", "within-b-2", "include-1"],
)
def test_max_depth_records_the_same_calls_as_the_api(tmp_path, flags, options, calls):
    """--max-depth N counts levels as trace(max_depth=N) does: from the
    calls the program's code makes, from a within= target, from the first
    included call, and from the top of every thread."""
    import pstats
    import runpy

    import monitrace

    script = write(tmp_path / "depths.py", DEPTHS)
    out = tmp_path / "run.pstats"
    r = run(*flags, "--no-stdlib", "-o", str(out), script)
    assert (r.returncode, r.stderr) == (0, f"monitrace: wrote pstats to {out}\n")
    by_cli = {func[2]: stat[1] for func, stat in pstats.Stats(str(out)).stats.items()}
    by_cli.pop("<module>", None)  # the program's code: recorded, not a level
    work = runpy.run_path(script)["work"]
    with monitrace.trace(stdlib=False, **options) as s:
        work()
    by_api = {row.name: row.calls for row in s.stats()}
    assert by_cli == by_api == calls


OUTLIVER = """\
import sys, threading
def f(i):
    return i
def worker():
    threading.main_thread().join()  # returns once the main code has ended
    for i in range(25):
        f(i)
    print("worker done", flush=True)
threading.Thread(target=worker).start()
print("main done", flush=True)
"""


@pytest.mark.parametrize(
    "ending, status",
    [
        ("", 0),
        ("sys.exit('bye')\n", 1),
        ("sys.exit(3)\n", 3),
        ("raise ValueError('boom')\n", 1),
    ],
    ids=["end", "exit-message", "exit-3", "exception"],
)
def test_threads_that_outlive_the_main_code_are_traced_until_joined(tmp_path, ending, status):
    """A non-daemon thread that works after the main code has ended is
    traced until the interpreter would join it: --report counts all of
    its calls and the tree shows them; the program's output, exit status
    and traceback are python's."""
    script = write(tmp_path / "outlive.py", OUTLIVER + ending)
    expected = plain(script)
    assert expected.returncode == status
    assert expected.stdout == "main done\nworker done\n"
    r = run("--report", "--no-stdlib", script)
    assert (r.returncode, r.stdout) == (status, expected.stdout)
    assert r.stderr.startswith(expected.stderr)  # the report comes last
    rows = {
        line.rsplit("(", 1)[1]: line.split()[0]
        for line in r.stderr[len(expected.stderr) :].splitlines()
        if "outlive.py:" in line
    }
    assert rows == {"<module>)": "1", "worker)": "1", "f)": "25"}
    # With the standard library traced: what the main thread does once its
    # code has ended (printing, joining) is not the program's, and is left out.
    r = run("--report", script)
    assert (r.returncode, r.stdout) == (status, expected.stdout)
    assert r.stderr.startswith(expected.stderr)
    report = r.stderr[len(expected.stderr) :]
    (f_row,) = [line for line in report.splitlines() if line.endswith("outlive.py:2(f)")]
    assert f_row.split()[0] == "25"
    assert "(_shutdown)" not in report and "traceback.py" not in report
    r = run("--no-stdlib", script)
    assert (r.returncode, r.stdout) == (status, expected.stdout)
    # The worker's first line is written while the main code runs (where,
    # depends on the tree's buffer); python's message or traceback comes
    # whole when the main code ends, then the rest of the worker.
    lines = r.stderr.splitlines(True)
    called = [line for line in lines if line.startswith("Called worker:4 from line ")]
    assert len(called) == 1
    lines.remove(called[0])
    assert (
        "".join(lines)
        == expected.stderr
        + "    Called f:2 from line 7\n    Returning f\n" * 25
        + "Returning worker\n"
    )


def test_output_extension_chooses_an_export(tmp_path):
    import json
    import pstats

    prof = tmp_path / "run.pstats"
    r = run("-o", str(prof), EXAMPLE)
    assert (r.returncode, r.stderr) == (0, f"monitrace: wrote pstats to {prof}\n")
    names = {func[2] for func in pstats.Stats(str(prof)).stats}
    assert {"foo", "bar", "<module>"} <= names
    chrome = tmp_path / "trace.json"
    r = run("-o", str(chrome), EXAMPLE)
    assert (r.returncode, r.stderr) == (0, f"monitrace: wrote chrome to {chrome}\n")
    doc = json.loads(chrome.read_text())
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    begins = [e["name"] for e in events if e.get("ph") == "B"]
    assert begins == ["__main__.<module>", "__main__.foo", "__main__.bar"]
    assert [e.get("ph") for e in events].count("E") == 3
    text = tmp_path / "tree.txt"
    r = run("--retval", "-o", str(text), EXAMPLE)
    assert (r.returncode, r.stderr, text.read_text()) == (0, "", EXAMPLE_TREE)
    r = run("--format", "pstats", EXAMPLE)
    assert r.returncode == 2 and "--format needs -o FILE" in r.stderr


# ---- where -o writes: symlinks, FIFOs, devices, failed writes, chdir -------

from fsnodes import is_device, make_device, needs_root, read_fifo  # noqa: E402

# A program whose live tree is far larger than a stream buffer, so that
# writes fail while it runs as well as at the end.
BIG = "def f(i):\n    return i\nfor i in range(3000):\n    f(i)\n"


def test_output_follows_symlinks_and_writes_fifos_in_place(tmp_path):
    import json
    import pstats

    (tmp_path / "real").mkdir()
    link = tmp_path / "run.pstats"
    link.symlink_to(tmp_path / "real" / "run.pstats")
    r = run("-o", str(link), EXAMPLE)
    assert (r.returncode, r.stderr) == (0, f"monitrace: wrote pstats to {link}\n")
    assert link.is_symlink()
    names = {func[2] for func in pstats.Stats(str(tmp_path / "real" / "run.pstats")).stats}
    assert {"foo", "bar"} <= names
    # The live tree into a FIFO, and an export into another.
    fifo = tmp_path / "tree.fifo"
    os.mkfifo(fifo)
    tree = read_fifo(fifo)
    r = run("--retval", "-o", str(fifo), EXAMPLE)
    assert (r.returncode, r.stderr, tree().decode()) == (0, "", EXAMPLE_TREE)
    assert os.path.exists(fifo) and not os.path.isfile(fifo)
    export = read_fifo(fifo)
    r = run("--format", "json", "-o", str(fifo), EXAMPLE)
    assert (r.returncode, r.stderr) == (0, f"monitrace: wrote json to {fifo}\n")
    doc = json.loads(export())
    assert {f["name"] for f in doc["functions"]} >= {"foo", "bar"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real", "run.pstats", "tree.fifo"]


@needs_root
def test_output_into_a_device_keeps_the_device(tmp_path):
    null = make_device(tmp_path / "null", "null")
    for args in (["--format", "json"], ["--format", "pstats"], [], ["--report"]):
        r = run(*args, "-o", str(null), EXAMPLE)
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr
        assert is_device(null, "null")
    assert [p.name for p in tmp_path.iterdir()] == ["null"]


@needs_root
@pytest.mark.parametrize(
    "args",
    [[], ["--report"], ["--format", "json"], ["--format", "pstats"]],
    ids=["tree", "report", "json", "pstats"],
)
@pytest.mark.parametrize(
    "ending, status", [("", 0), ("import sys; sys.exit(3)\n", 3)], ids=["exit0", "exit3"]
)
def test_failed_output_write_is_one_line_and_keeps_the_exit_status(tmp_path, args, ending, status):
    full = make_device(tmp_path / "full", "full")
    script = write(tmp_path / "big.py", BIG + ending)
    r = run(*args, "-o", str(full), script)
    assert r.returncode == status
    assert r.stdout == ""
    assert r.stderr == f"monitrace: could not write the trace to {full}: No space left on device\n"
    assert is_device(full, "full")


@needs_root
def test_failed_output_write_after_an_uncaught_exception(tmp_path):
    full = make_device(tmp_path / "full", "full")
    script = write(tmp_path / "big.py", BIG + "raise ValueError('boom')\n")
    r = run("-o", str(full), script)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-2:] == [
        "ValueError: boom",
        f"monitrace: could not write the trace to {full}: No space left on device",
    ]
    assert r.stderr.count("Traceback") == 1


@pytest.mark.skipif(not os.path.isfile("/proc/version"), reason="needs Linux /proc")
@pytest.mark.parametrize("args", [[], ["--report"], ["--format", "json"]])
def test_unwritable_regular_file_fails_before_the_program_runs(args):
    r = run(*args, "-o", "/proc/version", "-c", "print('ran')")
    assert r.returncode == 2
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1].startswith(
        "monitrace: error: argument -o/--output: cannot write '/proc/version': "
        "cannot create a file in '/proc'"
    )


CHDIR = """\
import os
os.chdir("sub")
def f():
    return 1
f()
"""


@pytest.mark.parametrize(
    "name, args, message",
    [
        ("out.pstats", [], "monitrace: wrote pstats to {path}\n"),
        ("out.json", ["--format", "json"], "monitrace: wrote json to {path}\n"),
        ("tree.txt", [], ""),
        ("report.txt", ["--report"], ""),
    ],
)
def test_relative_output_is_taken_from_the_start_directory(tmp_path, name, args, message):
    (tmp_path / "sub").mkdir()
    write(tmp_path / "prog.py", CHDIR)
    r = run(*args, "-o", name, "prog.py", cwd=tmp_path)
    path = tmp_path / name
    assert (r.returncode, r.stderr) == (0, message.format(path=path))
    assert list((tmp_path / "sub").iterdir()) == []
    assert path.stat().st_size > 0
    if name.endswith(".txt"):
        assert "f" in path.read_text()


def test_out_of_range_flags_are_usage_errors():
    r = run("--repr-limit", str(10**30), EXAMPLE)
    assert r.returncode == 2
    assert "repr_limit must be a positive int, not 1000000000000000000000000000000" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("--max-depth", str(2**63), EXAMPLE)
    assert r.returncode == 2 and "argument --max-depth: must be less than" in r.stderr
