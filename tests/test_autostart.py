"""MONITRACE=... activation through the installed monitrace.pth, in real
subprocesses, with child processes; the MONITRACE syntax; the CLI flags."""

import argparse
import json
import os
import signal
import subprocess
import sys
import sysconfig
import textwrap

import pytest

from fsnodes import is_device, make_device, needs_root, read_fifo
from monitrace import autostart
from monitrace.filter_args import add_filter_arguments, filter_options_from_args


def python(env_value, cwd, *argv):
    """Run this interpreter with MONITRACE set to env_value (None: unset)."""
    env = dict(os.environ)
    env.pop("MONITRACE", None)
    if env_value is not None:
        env["MONITRACE"] = env_value
    return subprocess.run(
        [sys.executable, *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_pth_file_is_installed_in_site_packages():
    purelib = sysconfig.get_paths()["purelib"]
    with open(os.path.join(purelib, "monitrace.pth")) as f:
        line = f.read()
    assert line.startswith("import os; ")
    assert 'os.environ.get("MONITRACE", "")' in line


def test_unset_imports_nothing(tmp_path):
    code = "import sys; print(sorted(m for m in sys.modules if 'monitrace' in m))"
    # 0, off, false (any case, spaces around) mean off: silently, nothing loaded.
    for value in (None, "", " ", "0", "off", "false", "no", "OFF", " False "):
        res = python(value, tmp_path, "-c", code)
        assert res.returncode == 0, res.stderr
        assert res.stdout == "[]\n"
        assert res.stderr == ""


def json_calls(path, pid=None):
    """{qualname: calls} from Session.save()'s JSON (schema monitrace/1),
    module code left out."""
    with open(path) as f:
        doc = json.load(f)
    if pid is not None:
        assert doc["pid"] == pid
    names = {f["id"]: f["qualname"] for f in doc["functions"]}
    out = {}
    for th in doc["threads"]:
        for row in th["stats"]:
            name = names[row["function"]]
            if name != "<module>":
                out[name] = out.get(name, 0) + row["calls"]
    return out


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
        return json_calls(tmp_path / f"out-{pid}.json", pid)

    assert calls(pids["parent"]) == {"work": 1}
    assert calls(pids["subprocess"]) == {"work": 4}
    # The fork child starts afresh: nothing of its parent's calls.
    assert calls(pids["fork"]) == {"child_main": 1, "work": 2}
    assert calls(pids["spawn"]) == {"child_main": 1, "work": 2}


RECORDED = textwrap.dedent("""
    import subprocess
    import sys


    def leaf(x):
        for _ in range(1000):  # a few microseconds: a stack in the .folded
            pass
        return x * 2


    def work(n):
        return [leaf(i) for i in range(n)]


    if sys.argv[1:]:
        work(int(sys.argv[1]))
    else:
        work(3)
        child = subprocess.Popen([sys.executable, __file__, "5"])
        assert child.wait() == 0
        print({"parent": __import__("os").getpid(), "child": child.pid})
""")


def chrome_slices(path):
    """[(pid, name, begin args, end args)] of a Chrome trace's B/E pairs."""
    with open(path) as f:
        doc = json.load(f)
    open_, slices = {}, []
    for ev in doc["traceEvents"]:
        key = (ev.get("pid"), ev.get("tid"))
        if ev["ph"] == "B":
            open_.setdefault(key, []).append(ev)
        elif ev["ph"] == "E":
            begin = open_[key].pop()
            slices.append((ev["pid"], begin["name"], begin["args"], ev["args"]))
    assert not any(open_.values())
    return slices


def test_record_writes_chrome_traces_with_args_for_each_process(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(RECORDED)
    value = f"include=__main__;record;args;retval;output={tmp_path}/trace-{{pid}}.json"
    res = python(value, tmp_path, str(script))
    assert (res.returncode, res.stderr) == (0, "")
    pids = eval(res.stdout)
    for who, n in (("parent", 3), ("child", 5)):
        pid = pids[who]
        slices = chrome_slices(tmp_path / f"trace-{pid}.json")
        assert {s[0] for s in slices} == {pid}
        names = [s[1] for s in slices]
        assert {name: names.count(name) for name in names} == {
            "__main__.<module>": 1,
            "__main__.work": 1,
            "__main__.leaf": n,
        }
        leaves = [(b["args"], e) for _, name, b, e in slices if name == "__main__.leaf"]
        assert leaves == [
            ({"x": str(i)}, {"exit": "return", "return": str(2 * i)}) for i in range(n)
        ]
        (work,) = [(b["args"], e["return"]) for _, name, b, e in slices if name == "__main__.work"]
        assert work == ({"n": str(n)}, str([2 * i for i in range(n)]))


def test_record_writes_collapsed_stacks_for_each_process(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(RECORDED)
    res = python(
        f"include=__main__;record;output={tmp_path}/stacks-{{pid}}.folded", tmp_path, str(script)
    )
    assert (res.returncode, res.stderr) == (0, "")
    pids = eval(res.stdout)
    for pid in pids.values():
        lines = (tmp_path / f"stacks-{pid}.folded").read_text().splitlines()
        stacks = {line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1]) for line in lines}
        assert set(stacks) == {
            "__main__.<module>",
            "__main__.<module>;__main__.work",
            "__main__.<module>;__main__.work;__main__.leaf",
        }
        assert all(us > 0 for us in stacks.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["prog.py"] + [f"stacks-{pid}.folded" for pid in pids.values()]
    )


def test_json_output_has_the_documented_keys(tmp_path):
    """MONITRACE's .json is the schema of docs/json-schema.md: the same
    top-level and thread keys, no more, no fewer."""
    import re

    doc_path = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "json-schema.md")
    with open(doc_path) as f:
        schema = f.read()

    def table(title):
        section = schema.split(title, 1)[1].split("\n#", 1)[0]
        return {
            k
            for row in re.findall(r"^\| `([^|]+)` \|", section, re.M)
            for k in re.findall(r"[a-z_]+", row)
        }

    res = python(
        f"include=__main__;output={tmp_path}/s.json",
        tmp_path,
        "-c",
        "import threading\ndef f():\n    return 1\n"
        "t = threading.Thread(target=f)\nt.start()\nt.join()\nf()\n",
    )
    assert (res.returncode, res.stderr) == (0, "")
    with open(tmp_path / "s.json") as f:
        doc = json.load(f)
    assert set(doc) == table("## Top level") - {"events"}
    assert doc["schema"] == "monitrace/1"
    assert set(doc["finished_threads"]) == {"stats", "edges"}
    for thread in doc["threads"]:
        assert set(thread) == table("## thread")
    assert [t["finished"] for t in doc["threads"]] == [False, True]
    assert json_calls(tmp_path / "s.json") == {"f": 2}


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
        (
            "output=/nonexistent/dir/x.json",
            "output=/nonexistent/dir/x.json: cannot write the trace: no directory '/nonexistent/dir'",
        ),
        ("include", "'include' is not key=value nor a known flag"),
        # Found at start, naming the key, not after the whole run.
        ("sort=bogus", "sort= takes one of calls, cumtime, "),
        ("limit=-5", "limit= takes 0 or more rows, not -5"),
        ("output=x.bin", "output=x.bin: cannot tell the format of "),
        ("output=x.folded", "output=x.folded: the collapsed format (.folded) needs record mode"),
        (
            "output=x.collapsed.gz",
            "output=x.collapsed.gz: the collapsed format (.collapsed) needs record mode",
        ),
        ("args;output=x.json", "args is kept in recorded events: add record"),
        ("retval=1", "retval is kept in recorded events: add record"),
        (
            "record=lots",
            "record= takes 1 or 0 (true/false), or the most events to keep, not 'lots'",
        ),
        ("record=-3", "record must be True, False or a positive int"),
        ("recrod", "'recrod' is not key=value nor a known flag (report, record, args, retval)"),
        (
            "output=/proc/x.txt",
            "output=/proc/x.txt: cannot write the trace: cannot create a file in '/proc'",
        ),
        (
            "output=/proc/x-{pid}.json",
            "output=/proc/x-{pid}.json: cannot write the trace: cannot create a file in '/proc'",
        ),
        (
            "output=/proc/version",
            "output=/proc/version: cannot write the trace: cannot create a file in '/proc'",
        ),
        (f"max_depth={10**30}", "max_depth must be 1 or more, up to 9223372036854775807"),
        ("min_duration=1e300", "min_duration must be 0 or more seconds, up to 9223372036"),
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
    assert autostart.parse("record;args;retval=1").options == {
        "record": True,
        "args": True,
        "retval": True,
    }
    assert autostart.parse("record=5000;args=0").options == {"record": 5000, "args": False}
    assert autostart.parse("record=off").options == {"record": False}
    assert autostart.output_path("x-{pid}-{pid}.json", 42) == "x-42-42.json"


def test_cli_filter_flags():
    parser = argparse.ArgumentParser()
    add_filter_arguments(parser)
    args = parser.parse_args(
        [
            "--include",
            "app.*",
            "--include",
            "function:re:^h",
            "--exclude",
            "app.tests",
            "--within",
            "app.main",
            "--exclude-within",
            "app.slow",
            "--max-depth",
            "3",
            "--no-stdlib",
            "--site-packages",
            "--threads",
            "MainThread",
            "--threads",
            "77",
            "--min-duration",
            "1.5ms",
        ]
    )
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
        (
            ["--max-depth", str(2**63)],
            "argument --max-depth: must be less than 9223372036854775807, not 9223372036854775808",
        ),
        (["--max-depth", str(2**63 - 1)], "argument --max-depth: must be less than"),
    ],
)
def test_cli_bad_flags(argv, message, capsys):
    parser = argparse.ArgumentParser()
    add_filter_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(argv)
    assert message in capsys.readouterr().err


# ---- where the output goes: start directory, symlinks, FIFOs, devices -------


CHDIR = "import os\nos.chdir('sub')\ndef f():\n    return 1\nf(); f()\nprint(os.getpid())\n"


@pytest.mark.parametrize("output", ["out-{pid}.json", "out-{pid}.txt", "./out-{pid}.pstats"])
def test_relative_output_is_taken_from_the_start_directory(tmp_path, output):
    (tmp_path / "sub").mkdir()
    res = python(f"include=__main__;output={output}", tmp_path, "-c", CHDIR)
    assert res.returncode == 0 and res.stderr == ""
    pid = int(res.stdout)
    path = tmp_path / output.replace("{pid}", str(pid))
    assert list((tmp_path / "sub").iterdir()) == []
    if output.endswith(".json"):
        assert json_calls(path, pid) == {"f": 2}
    elif output.endswith(".txt"):
        (row,) = [ln for ln in path.read_text().splitlines() if ln.endswith("(f)")]
        assert row.split()[0] == "2"
    else:
        import pstats

        stats = pstats.Stats(str(path)).stats
        assert [v[:2] for k, v in stats.items() if k[2] == "f"] == [(2, 2)]


def test_output_through_a_symlink_and_into_a_fifo(tmp_path):
    code = "def f():\n    return 1\nf(); f(); f()\n"
    (tmp_path / "real").mkdir()
    link = tmp_path / "out.json"
    link.symlink_to(tmp_path / "real" / "target.json")
    res = python(f"include=__main__;output={link}", tmp_path, "-c", code)
    assert res.returncode == 0 and res.stderr == ""
    assert link.is_symlink()
    assert json_calls(tmp_path / "real" / "target.json") == {"f": 3}
    fifo = tmp_path / "report.txt"
    os.mkfifo(fifo)
    report = read_fifo(fifo)
    res = python(f"include=__main__;output={fifo}", tmp_path, "-c", code)
    assert res.returncode == 0 and res.stderr == ""
    (row,) = [ln for ln in report().decode().splitlines() if ln.endswith("(f)")]
    assert row.split()[0] == "3"
    assert os.path.exists(fifo) and not os.path.isfile(fifo)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "real", "report.txt"]


@needs_root
@pytest.mark.parametrize("name", ["null.json", "null.txt", "null.pstats"])
def test_output_into_a_device_keeps_it(tmp_path, name):
    null = make_device(tmp_path / name, "null")
    res = python(f"output={null}", tmp_path, "-c", "print('ran')")
    assert (res.returncode, res.stdout, res.stderr) == (0, "ran\n", "")
    assert is_device(null, "null")
    assert [p.name for p in tmp_path.iterdir()] == [name]


# ---- MONITRACE and pytest ------------------------------------------------------


def test_pytest_with_warnings_as_errors_runs_under_monitrace(tmp_path):
    """The .pth imports monitrace before pytest starts; pytest must not
    turn that into a PytestAssertRewriteWarning (an error here)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
    (tmp_path / "test_x.py").write_text(
        "def helper():\n    return 2\n\n\ndef test_a():\n    assert helper() == 2\n"
    )
    res = python(
        f"include=test_x;output={tmp_path}/out-{{pid}}.json",
        tmp_path,
        "-m",
        "pytest",
        "-W",
        "error",
        "-p",
        "no:cacheprovider",
        "test_x.py",
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 passed" in res.stdout
    assert "Warning" not in res.stdout + res.stderr
    (out,) = tmp_path.glob("out-*.json")
    assert json_calls(out) == {"test_a": 1, "helper": 1}


# ---- SIGTERM: the output is written, the process still dies by the signal ------

POOL = textwrap.dedent("""
    import multiprocessing as mp
    import os
    import sys


    def init(queue):
        queue.put(os.getpid())


    def square(x):
        return x * x


    if __name__ == "__main__":
        ctx = mp.get_context(sys.argv[1])
        queue = ctx.Queue()
        # Pool.__exit__ ends the workers with SIGTERM.
        with ctx.Pool(2, initializer=init, initargs=(queue,)) as pool:
            workers = [queue.get() for _ in range(2)]
            assert pool.map(square, range(6)) == [0, 1, 4, 9, 16, 25]
        print(os.getpid(), *workers)
""")


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_workers_ended_by_sigterm_write_their_output(tmp_path, method):
    script = tmp_path / "pool.py"
    script.write_text(POOL)
    value = f"include=__main__,__mp_main__;output={tmp_path}/out-{{pid}}.json"
    res = python(value, tmp_path, str(script), method)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    parent, *workers = map(int, res.stdout.split())
    assert json_calls(tmp_path / f"out-{parent}.json", parent) == {}
    squares = 0
    for pid in workers:
        calls = json_calls(tmp_path / f"out-{pid}.json", pid)
        assert calls.pop("init") == 1
        squares += calls.pop("square", 0)
        assert calls == {}
    assert squares == 6


WAIT_FOR_SIGTERM = textwrap.dedent("""
    import signal
    import sys
    import threading


    def f():
        return 1


    f()
    f()
    print(signal.getsignal(signal.SIGTERM) in (signal.SIG_IGN,), flush=True)
    if sys.argv[1] == "thread":
        # The signal goes to another thread while the main thread waits on
        # a lock: it has to reach the main thread for the handler to run.
        lock = threading.Lock()
        lock.acquire()
        poke = threading.Thread(
            target=lambda: signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
        )
        poke.start()
        lock.acquire()
    else:
        sys.stdin.readline()  # the test sends SIGTERM, then closes stdin
    print("survived", flush=True)
""")


def _run_until_sigterm(tmp_path, value, mode, *, preexec_fn=None):
    script = tmp_path / "wait.py"
    script.write_text(WAIT_FOR_SIGTERM)
    env = dict(os.environ)
    env.pop("MONITRACE", None)
    if value is not None:
        env["MONITRACE"] = value
    proc = subprocess.Popen(
        [sys.executable, str(script), mode],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )
    first = proc.stdout.readline()
    if mode == "stdin":
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate("\n", timeout=120)
    return proc.returncode, first + out, err


@pytest.mark.parametrize("mode", ["stdin", "thread"])
def test_sigterm_writes_the_output_and_still_kills(tmp_path, mode):
    untraced = _run_until_sigterm(tmp_path, None, mode)
    assert untraced == (-signal.SIGTERM, "False\n", "")
    value = f"include=__main__;output={tmp_path}/out-{{pid}}.json"
    status, out, err = _run_until_sigterm(tmp_path, value, mode)
    assert (status, out, err) == untraced
    (path,) = tmp_path.glob("out-*.json")
    expected = {"f": 2, "<lambda>": 1} if mode == "thread" else {"f": 2}
    assert json_calls(path) == expected


def test_ignored_sigterm_stays_ignored(tmp_path):
    def ignore():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    value = f"include=__main__;output={tmp_path}/out-{{pid}}.json"
    status, out, err = _run_until_sigterm(tmp_path, value, "stdin", preexec_fn=ignore)
    assert (status, out, err) == (0, "True\nsurvived\n", "")
    (path,) = tmp_path.glob("out-*.json")
    assert json_calls(path) == {"f": 2}


OWN_HANDLER = textwrap.dedent("""
    import os
    import signal
    import sys


    def f():
        return 1


    def on_term(signum, frame):
        print("handled", flush=True)
        sys.exit(7)


    signal.signal(signal.SIGTERM, on_term)
    f()
    os.kill(os.getpid(), signal.SIGTERM)
    f()
""")


def test_program_own_sigterm_handler_decides(tmp_path):
    script = tmp_path / "own.py"
    script.write_text(OWN_HANDLER)
    res = python(f"include=__main__;output={tmp_path}/out-{{pid}}.json", tmp_path, str(script))
    assert (res.returncode, res.stdout, res.stderr) == (7, "handled\n", "")
    (path,) = tmp_path.glob("out-*.json")
    assert json_calls(path) == {"f": 1, "on_term": 1}


def test_unmatched_spec_said_only_by_a_process_that_traced_nothing(tmp_path):
    """A spec can be meant for some processes only (a pool's workers), so
    MONITRACE names an unmatched one only where the process traced nothing:
    the reason its output is empty. Nothing reaches the program's warnings."""
    code = "def f():\n    return 1\nf(); f()\n"
    res = python(
        f"include=nosuchmodule;output={tmp_path}/a.json", tmp_path, "-W", "error", "-c", code
    )
    assert res.returncode == 0
    assert res.stderr.splitlines() == [
        f"monitrace: pid {json.loads((tmp_path / 'a.json').read_text())['pid']}: MONITRACE "
        "include spec 'nosuchmodule' matched no function (a bare name means a module or a "
        "full name module.qualname; for a function named so use 'function:nosuchmodule')"
    ]
    res = python(
        f"include=__main__,nosuchmodule;output={tmp_path}/b.json",
        tmp_path,
        "-W",
        "error",
        "-c",
        code,
    )
    assert res.returncode == 0 and res.stderr == ""


def test_forked_child_ending_with_os_exit_writes_its_own_output(tmp_path):
    """os._exit skips atexit; many forking programs end their children
    with it. Each process still writes its own output, of its own calls
    only, and the exit status is the one given."""
    (tmp_path / "prog.py").write_text(
        textwrap.dedent("""
        import os

        def work(n):
            return n

        for i in range(3):
            work(i)
        pid = os.fork()
        if pid == 0:
            for i in range(5):
                work(i)
            os._exit(7)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status))
    """)
    )
    res = python(f"output={tmp_path}/out-{{pid}}.json", tmp_path, "prog.py")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "child exit 7\n"
    outputs = sorted(tmp_path.glob("out-*.json"))
    assert len(outputs) == 2, res.stderr
    counts = sorted(json_calls(p).get("work", 0) for p in outputs)
    assert counts == [3, 5]
