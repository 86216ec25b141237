"""MONITRACE=... activation through the installed monitrace.pth, in real
subprocesses, with child processes; the MONITRACE syntax; the CLI flags."""

import argparse
import json
import os
import subprocess
import sys
import sysconfig
import textwrap

import pytest

from monitrace import autostart
from monitrace.filter_args import add_filter_arguments, filter_options_from_args


def python(env_value, cwd, *argv):
    """Run this interpreter with MONITRACE set to env_value (None: unset)."""
    env = dict(os.environ)
    env.pop("MONITRACE", None)
    if env_value is not None:
        env["MONITRACE"] = env_value
    return subprocess.run([sys.executable, *argv], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_pth_file_is_installed_in_site_packages():
    purelib = sysconfig.get_paths()["purelib"]
    with open(os.path.join(purelib, "monitrace.pth")) as f:
        line = f.read()
    assert line.startswith("import os; ")
    assert 'os.environ.get("MONITRACE")' in line


def test_unset_imports_nothing(tmp_path):
    code = "import sys; print(sorted(m for m in sys.modules if 'monitrace' in m))"
    for value in (None, ""):
        res = python(value, tmp_path, "-c", code)
        assert res.returncode == 0, res.stderr
        assert res.stdout == "[]\n"
        assert res.stderr == ""


PROGRAM = textwrap.dedent("""
    import multiprocessing as mp
    import subprocess
    import sys


    def work(n):
        return sum(range(n))


    def child_main():
        work(10)
        work(11)


    if __name__ == "__main__":
        work(5)
        if sys.argv[1:] == ["child"]:
            work(7)
            work(8)
            work(9)
            sys.exit(0)
        proc = subprocess.Popen([sys.executable, __file__, "child"])
        assert proc.wait() == 0
        pids = {"parent": mp.current_process().pid, "subprocess": proc.pid}
        for method in ("fork", "spawn"):
            p = mp.get_context(method).Process(target=child_main)
            p.start()
            p.join()
            assert p.exitcode == 0
            pids[method] = p.pid
        print(pids)
""")


def test_env_activation_traces_the_program_and_its_children(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM)
    value = f"include=__main__,__mp_main__;output={tmp_path}/out-{{pid}}.json"
    res = python(value, tmp_path, str(script))
    assert res.returncode == 0, res.stderr
    pids = eval(res.stdout)

    def calls(pid):
        with open(tmp_path / f"out-{pid}.json") as f:
            doc = json.load(f)
        assert doc["pid"] == pid
        # Session.save()'s JSON (schema monitrace/1): calls per thread row
        names = {f["id"]: f["qualname"] for f in doc["functions"]}
        out = {}
        for th in doc["threads"]:
            for row in th["stats"]:
                name = names[row["function"]]
                if name != "<module>":
                    out[name] = out.get(name, 0) + row["calls"]
        return out

    assert calls(pids["parent"]) == {"work": 1}
    assert calls(pids["subprocess"]) == {"work": 4}
    # The fork child starts afresh: nothing of its parent's calls.
    assert calls(pids["fork"]) == {"child_main": 1, "work": 2}
    assert calls(pids["spawn"]) == {"child_main": 1, "work": 2}


def test_report_to_stderr_by_default(tmp_path):
    code = "def f():\n    return 1\nf(); f()\nprint('ran')"
    res = python("include=__main__;sort=calls", tmp_path, "-c", code)
    assert res.returncode == 0
    assert res.stdout == "ran\n"
    lines = res.stderr.splitlines()
    assert lines[0].startswith("monitrace: pid ")
    assert "Ordered by: call count" in res.stderr
    (row,) = [ln for ln in lines if ln.endswith("(f)")]
    assert row.split()[0] == "2"


def test_text_report_to_a_file(tmp_path):
    code = "def f():\n    return 1\nf()\n"
    res = python(f"include=__main__;report;output={tmp_path}/r-{{pid}}.txt", tmp_path, "-c", code)
    assert res.returncode == 0 and res.stderr == ""
    (out,) = tmp_path.glob("r-*.txt")
    text = out.read_text()
    assert "ncalls" in text and "(f)" in text


@pytest.mark.parametrize(
    "value, message",
    [
        ("include=app;bogus=1", "unknown key 'bogus'"),
        ("max_depth=-2", "max_depth must be 1 or more"),
        ("max_depth=two", "max_depth= takes a whole number, not 'two'"),
        ("include=function:re:(", "include: Q(function__regex=...): invalid regular expression"),
        ("stdlib=maybe", "stdlib= takes 1 or 0"),
        ("min_duration=fast", "invalid duration 'fast'"),
        ("clock=sundial", "clock must be one of"),
        ("output=/nonexistent/dir/x.json", "output directory '/nonexistent/dir' does not exist"),
        ("include", "'include' is not key=value nor a known flag"),
    ],
)
def test_malformed_value_says_why_and_runs_untraced(tmp_path, value, message):
    res = python(value, tmp_path, "-c", "import sys; print('ran', sys.monitoring.get_tool(3))")
    assert res.returncode == 0
    assert res.stdout == "ran None\n"
    assert res.stderr.startswith(f"monitrace: ignoring MONITRACE={value!r}: ")
    assert message in res.stderr
    assert res.stderr.endswith("the program runs untraced\n")
    assert res.stderr.count("\n") == 1


def test_parse_syntax():
    cfg = autostart.parse(
        " include=app.*,lib ; include=other;exclude=app.tests;within=function:handle;"
        "exclude-within=app.slow;max_depth=4;stdlib=0;site_packages=yes;threads=MainThread,12;"
        "min_duration=50us;c_calls=1;clock=monotonic;output=t-{pid}.json;report;sort=tottime;"
        "limit=5"
    )
    assert cfg.options == {
        "include": ("app.*", "lib", "other"),
        "exclude": ("app.tests",),
        "within": ("function:handle",),
        "exclude_within": ("app.slow",),
        "max_depth": 4,
        "stdlib": False,
        "site_packages": True,
        "threads": ("MainThread", 12),
        "min_duration": pytest.approx(50e-6),
        "c_calls": True,
        "clock": "monotonic",
    }
    assert (cfg.output, cfg.report, cfg.sort, cfg.limit) == ("t-{pid}.json", True, "tottime", 5)
    # A regex keeps its commas.
    assert autostart.parse("include=re:^a{1,2}$").options["include"] == ("re:^a{1,2}$",)
    assert autostart.parse("1") == autostart.Config(options={}, report=True)
    assert autostart.output_path("x-{pid}-{pid}.json", 42) == "x-42-42.json"


def test_cli_filter_flags():
    parser = argparse.ArgumentParser()
    add_filter_arguments(parser)
    args = parser.parse_args([
        "--include", "app.*", "--include", "function:re:^h", "--exclude", "app.tests",
        "--within", "app.main", "--exclude-within", "app.slow", "--max-depth", "3",
        "--no-stdlib", "--site-packages", "--threads", "MainThread", "--threads", "77",
        "--min-duration", "1.5ms",
    ])
    opts = filter_options_from_args(args)
    assert opts == {
        "include": ("app.*", "function:re:^h"),
        "exclude": ("app.tests",),
        "within": ("app.main",),
        "exclude_within": ("app.slow",),
        "max_depth": 3,
        "stdlib": False,
        "site_packages": True,
        "threads": ("MainThread", 77),
        "min_duration": pytest.approx(0.0015),
    }
    import monitrace

    session = monitrace.trace(**opts)
    assert session.options.max_depth == 3
    assert filter_options_from_args(parser.parse_args([])) == {}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--max-depth", "0"], "argument --max-depth: must be 1 or more, not 0"),
        (["--max-depth", "x"], "argument --max-depth: expected a whole number"),
        (["--min-duration", "soon"], "argument --min-duration: invalid duration 'soon'"),
    ],
)
def test_cli_bad_flags(argv, message, capsys):
    parser = argparse.ArgumentParser()
    add_filter_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(argv)
    assert message in capsys.readouterr().err
