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
    r = run("--path", EXAMPLE)
    assert r.stderr.splitlines()[0] == f"Called foo@{EXAMPLE}:1 from {EXAMPLE}:8"
    r = run("--c-calls", "-c", "def f():\n    return len('ab')\nf()\n")
    assert r.stderr == (
        "Called f:1 from line 3\n"
        "    Called len from line 2\n"
        "    Returning len\n"
        "Returning f\n"
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
        "file, filename")
    r = run("--within", "funtion:foo", EXAMPLE)
    assert r.returncode == 2
    assert "argument --within: unknown field 'funtion' in 'funtion:foo' (did you mean " \
        "'function'?)" in r.stderr
    # `--within foo` names a module: nothing is traced, and one line says why
    r = run("--within", "foo", "--include", "__main__", EXAMPLE)
    assert (r.returncode, r.stderr) == (0, (
        "monitrace: --within spec 'foo' matched no function (a bare name means a module or "
        "a full name module.qualname; for a function named so use 'function:foo')\n"))
    r = run("--within", "function:foo", EXAMPLE)
    assert (r.returncode, r.stderr) == (0, "Called foo:1 from line 8\n    Called bar:5 from "
                                        "line 2\n    Returning bar\nReturning foo\n")


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
