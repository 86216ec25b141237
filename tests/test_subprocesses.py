"""trace(subprocesses=True), monitrace --subprocesses and monitrace merge.

Each program runs in a fresh interpreter (forks and exits stay there).
Its work() appends the calling pid to a ledger file at every call: the
ledger is the reference count, per process, that monitrace's merged
results (JSON per-process threads, pstats sums, Chrome begin events, the
HTML table, stats_by_process()) must match exactly.
"""

import collections
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import warnings

import pytest

import monitrace
from monitrace import merge
from monitrace.diff import load

LIB = """
import os

LEDGER = os.environ["LEDGER"]

def work(n):
    with open(LEDGER, "a") as f:
        f.write(f"{os.getpid()}\\n")
    return n * 2

def child(k):
    for i in range(k):
        work(i)
"""

PRELUDE = """
import json, os, signal, subprocess, sys
import multiprocessing as mp
import monitrace
from lib import work, child

RUN = [sys.executable, "-c"]
CHILD = "import lib; lib.child(3)"
"""


def run_program(tmp_path, body, *, traced=True, argv=()):
    (tmp_path / "lib.py").write_text(LIB)
    prog = tmp_path / "prog.py"
    prog.write_text(PRELUDE + textwrap.dedent(body))
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env = dict(
        os.environ, LEDGER=str(tmp_path / "ledger"), TMPDIR=str(tmp), TRACED="1" if traced else ""
    )
    env.pop("MONITRACE", None)
    res = subprocess.run(
        [sys.executable, *argv, str(prog)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return res


def ledger(tmp_path):
    path = tmp_path / "ledger"
    if not path.exists():
        return collections.Counter()
    return collections.Counter(int(line) for line in path.read_text().split())


def no_monitrace_dirs(tmp_path):
    return [n for n in os.listdir(tmp_path / "tmp") if n.startswith("monitrace-")] == []


def json_work_by_pid(path):
    """{pid: calls of work} from a merged monitrace JSON file."""
    with open(path) as f:
        doc = json.load(f)
    work_ids = {f["id"] for f in doc["functions"] if f["name"] == "work"}
    out = collections.Counter()
    for th in doc["threads"]:
        for row in th["stats"]:
            if row["function"] in work_ids:
                out[th["pid"]] += row["calls"]
    return doc, out


def pstats_work_calls(path):
    stats = pstats.Stats(str(path)).stats
    return sum(v[1] for k, v in stats.items() if k[2] == "work")


def chrome_work_by_pid(path):
    with open(path) as f:
        doc = json.load(f)
    return collections.Counter(
        e["pid"]
        for e in doc["traceEvents"]
        if e.get("ph") == "B" and e.get("name", "").endswith("work")
    )


def html_work_calls(path):
    text = path.read_text()
    data = json.loads(
        re.search(r'<script type="application/json" id="mt-data">(.*?)</script>', text, re.S).group(
            1
        )
    )
    names = [f[0] for f in data["functions"]]
    work = {i for i, n in enumerate(names) if n.endswith(".work")}
    return sum(row[1] for row in data["views"][0]["stats"] if row[0] in work)


# ---- subprocess and os.fork children -------------------------------------------

FORKS = """
with monitrace.trace(subprocesses=True, include=["function:work", "function:child"]) as s:
    where = os.environ["MONITRACE"].removeprefix("collect=")
    print("mode", oct(os.stat(where).st_mode & 0o777), flush=True)
    work(0)
    subprocess.run(RUN + [CHILD], check=True)
    pid = os.fork()
    if pid == 0:          # ends with os._exit: no atexit, no with-block exit
        child(5)
        os._exit(0)
    os.waitpid(pid, 0)
    pid = os.fork()
    if pid == 0:          # ends with SystemExit, through the parent's with block
        child(2)
        sys.exit(0)
    os.waitpid(pid, 0)
print("children", json.dumps(sorted(p.pid for p in s.processes())))
print("lost", json.dumps([p.pid for p in s.processes() if p.lost]))
print("by_process", json.dumps({pid: sum(x.calls for x in st if x.name == "work")
                                for pid, st in s.stats_by_process().items()}))
print("merged", sum(x.calls for x in s.stats() if x.name == "work"))
print("exists", os.path.exists(where))
s.save("out.json")
s.save("out.pstats")
s.save("out.html")
sys.exit(7)
"""


def test_subprocess_and_fork_children_merged(tmp_path):
    res = run_program(tmp_path, FORKS)
    assert res.returncode == 7, res.stderr
    assert res.stderr == ""
    lines = dict(line.split(" ", 1) for line in res.stdout.splitlines())
    assert lines["mode"] == "0o700"  # private while the children write
    assert lines["exists"] == "False"  # and removed at stop
    assert no_monitrace_dirs(tmp_path)
    ref = ledger(tmp_path)
    assert sorted(ref.values()) == [1, 2, 3, 5]  # parent, two forks, subprocess
    parent = [pid for pid in ref if ref[pid] == 1][0]
    children = json.loads(lines["children"])
    assert sorted(children + [parent]) == sorted(ref)
    assert json.loads(lines["lost"]) == []
    assert {int(k): v for k, v in json.loads(lines["by_process"]).items()} == dict(ref)
    assert int(lines["merged"]) == 11
    doc, by_pid = json_work_by_pid(tmp_path / "out.json")
    assert by_pid == ref
    assert sorted(p["pid"] for p in doc["processes"]) == sorted(ref)
    assert pstats_work_calls(tmp_path / "out.pstats") == 11
    assert html_work_calls(tmp_path / "out.html") == 11


def test_output_and_exit_code_unchanged(tmp_path):
    body = """
    ctx = None
    if os.environ["TRACED"]:
        ctx = monitrace.trace(subprocesses=True, include=["function:work"]).start()
    print("parent", work(1), flush=True)
    subprocess.run(RUN + ["print('child says hi'); import sys; sys.exit(3)"])
    pid = os.fork()
    if pid == 0:
        print("fork", work(2), flush=True)
        os._exit(5)
    print("fork status", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
    sys.stderr.write("to stderr\\n")
    if ctx: ctx.stop()
    sys.exit(4)
    """
    plain = run_program(tmp_path, body, traced=False)
    (tmp_path / "ledger").unlink()
    traced = run_program(tmp_path, body)
    assert plain.returncode == traced.returncode == 4
    assert plain.stdout == traced.stdout
    assert "child says hi" in plain.stdout and "fork status 5" in plain.stdout
    assert plain.stderr == traced.stderr == "to stderr\n"
    assert no_monitrace_dirs(tmp_path)


# ---- multiprocessing -------------------------------------------------------------

POOL = """
if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    with monitrace.trace(subprocesses=True, include=["function:work"], record=True) as s:
        work(0)
        with ctx.Pool(2) as pool:   # __exit__ terminates the workers (SIGTERM)
            print(pool.map(work, range(7), chunksize=1))
    print("by_process", json.dumps({pid: sum(x.calls for x in st if x.name == "work")
                                    for pid, st in s.stats_by_process().items()}))
    print("lost", json.dumps([p.pid for p in s.processes() if p.lost]))
    s.save("out.json", "json")
    s.save("out.pstats")
    s.save("out.trace.json", "chrome")
"""


@pytest.fixture
def short_tmp():
    """A temporary folder with a short path: forkserver's socket lives in
    TMPDIR, and an AF_UNIX path may not pass 107 bytes (pytest's own
    folders can, once its run counter has three digits)."""
    path = tempfile.mkdtemp(prefix="mt-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_pool_workers_merged(tmp_path, method, short_tmp):
    (tmp_path / "lib.py").write_text(LIB)
    prog = tmp_path / "prog.py"
    prog.write_text(PRELUDE + textwrap.dedent(POOL))
    env = dict(os.environ, LEDGER=str(tmp_path / "ledger"), TMPDIR=short_tmp)
    env.pop("MONITRACE", None)
    res = subprocess.run(
        [sys.executable, str(prog), method],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    lines = dict(line.split(" ", 1) for line in res.stdout.splitlines() if " " in line)
    assert res.stdout.splitlines()[0] == "[0, 2, 4, 6, 8, 10, 12]"
    ref = ledger(tmp_path)
    assert sum(ref.values()) == 8
    by_process = {int(k): v for k, v in json.loads(lines["by_process"]).items()}
    # Every process that ran work() is there with its exact count (a
    # worker that got no task has 0 rows).
    assert {k: v for k, v in by_process.items() if v} == dict(ref)
    assert json.loads(lines["lost"]) == []
    _doc, by_pid = json_work_by_pid(tmp_path / "out.json")
    assert by_pid == ref
    assert pstats_work_calls(tmp_path / "out.pstats") == 8
    assert chrome_work_by_pid(tmp_path / "out.trace.json") == ref
    assert [n for n in os.listdir(short_tmp) if n.startswith("monitrace-")] == []


# ---- a killed child ---------------------------------------------------------------


def test_killed_child_is_named_and_others_kept(tmp_path):
    body = """
    import warnings
    warnings.simplefilter("always")
    killer = "import os, signal, lib; lib.child(4); os.kill(os.getpid(), signal.SIGKILL)"
    with warnings.catch_warnings(record=True) as caught:
        with monitrace.trace(subprocesses=True, include=["function:work"]) as s:
            work(0)
            subprocess.run(RUN + [CHILD], check=True)
            dead = subprocess.run(RUN + [killer])
    print("status", dead.returncode)
    print("lost", json.dumps([[p.pid, p.command] for p in s.processes() if p.lost]))
    print("warned", json.dumps([str(w.message) for w in caught]))
    print("merged", sum(x.calls for x in s.stats() if x.name == "work"))
    s.report(file=open("report.txt", "w"))
    """
    res = run_program(tmp_path, body)
    assert res.returncode == 0, res.stderr
    lines = dict(line.split(" ", 1) for line in res.stdout.splitlines())
    assert lines["status"] == "-9"
    ref = ledger(tmp_path)
    assert sorted(ref.values()) == [1, 3, 4]
    killed = [pid for pid in ref if ref[pid] == 4][0]
    [[pid, command]] = json.loads(lines["lost"])
    assert pid == killed and "lib.child(4)" in command
    [warned] = json.loads(lines["warned"])
    assert f"child process {killed} (" in warned and "lib.child(4)" in warned
    assert int(lines["merged"]) == 4  # the parent's 1 and the other child's 3
    report = (tmp_path / "report.txt").read_text()
    assert f"child process {killed} (" in report
    assert re.search(r"^\s+4\s.*lib\.py:\d+\(work\)$", report, re.M)
    assert no_monitrace_dirs(tmp_path)


# ---- the command --------------------------------------------------------------------


def test_cli_subprocesses_merges_into_the_output(tmp_path):
    body = """
    work(0)
    subprocess.run(RUN + [CHILD], check=True)
    sys.exit(5)
    """
    res = run_program(
        tmp_path,
        body,
        argv=(
            "-m",
            "monitrace",
            "--subprocesses",
            "--include",
            "function:work",
            "-o",
            str(tmp_path / "out.pstats"),
        ),
    )
    assert res.returncode == 5, res.stderr
    assert pstats_work_calls(tmp_path / "out.pstats") == 4 == sum(ledger(tmp_path).values())
    assert no_monitrace_dirs(tmp_path)


def test_cli_subprocesses_needs_a_merged_output(tmp_path):
    res = run_program(tmp_path, "work(0)\n", argv=("-m", "monitrace", "--subprocesses"))
    assert res.returncode == 2
    assert "--subprocesses" in res.stderr and "--report" in res.stderr
    assert not (tmp_path / "ledger").exists()  # refused before running anything


def test_subprocesses_option_is_checked():
    with pytest.raises(TypeError, match="subprocesses must be True or False"):
        monitrace.trace(subprocesses="yes")


# ---- monitrace merge ----------------------------------------------------------------


def f():
    return 1


def g():
    return f()


def _saved(tmp_path, name, n, fmt):
    with monitrace.trace(include=["function:f", "function:g"], record=fmt == "chrome") as s:
        for _ in range(n):
            g()
    path = tmp_path / name
    s.save(path, fmt)
    return str(path)


def _merge(argv, capsys):
    from monitrace.cli import main

    code = main(["merge", *argv])
    return code, capsys.readouterr().err


def test_merge_json_and_pstats_sum(tmp_path, capsys):
    a = _saved(tmp_path, "a.json", 2, "json")
    b = _saved(tmp_path, "b.json", 5, "json")
    code, err = _merge([a, b, "-o", str(tmp_path / "m.json")], capsys)
    assert code == 0, err
    merged = {s.name: s.calls for s in load(tmp_path / "m.json")}
    assert merged == {"f": 7, "g": 7}
    a = _saved(tmp_path, "a.pstats", 2, "pstats")
    b = _saved(tmp_path, "b.pstats", 5, "pstats")
    code, err = _merge([a, b, "-o", str(tmp_path / "m.pstats")], capsys)
    assert code == 0, err
    stats = pstats.Stats(str(tmp_path / "m.pstats")).stats
    assert {k[2]: v[1] for k, v in stats.items()} == {"f": 7, "g": 7}
    # Caller edges are summed too: g called f 7 times.
    [f_key] = [k for k in stats if k[2] == "f"]
    assert [v[1] for v in stats[f_key][4].values()] == [7]


def test_merge_chrome_keeps_pids_apart(tmp_path, capsys):
    a = _saved(tmp_path, "a.json", 2, "chrome")
    b = _saved(tmp_path, "b.json", 5, "chrome")  # the same pid as a.json
    code, err = _merge([a, b, "-o", str(tmp_path / "m.json")], capsys)
    assert code == 0, err
    with open(tmp_path / "m.json") as fh:
        events = json.load(fh)["traceEvents"]
    begins = collections.Counter(
        e["pid"] for e in events if e["ph"] == "B" and e["name"].endswith(".f")
    )
    assert sorted(begins.values()) == [2, 5]
    assert os.getpid() in begins  # the first keeps its pid, the other is renamed
    names = {e["pid"]: e["args"]["name"] for e in events if e.get("name") == "process_name"}
    assert (
        len(names) == 2
        and f"(pid {os.getpid()})" in [n for p, n in names.items() if p != os.getpid()][0]
    )


def test_merge_bad_input_is_one_line_and_status_2(tmp_path, capsys):
    a = _saved(tmp_path, "a.pstats", 1, "pstats")
    junk = tmp_path / "junk.txt"
    junk.write_text("hello")
    cases = [
        [a, str(junk), "-o", str(tmp_path / "m.pstats")],
        [a, _saved(tmp_path, "b.json", 1, "json"), "-o", str(tmp_path / "m.pstats")],
        [str(tmp_path / "missing.json"), "-o", str(tmp_path / "m.json")],
        [a, a, "-o", str(tmp_path / "m.json")],
    ]
    for argv in cases:
        code, err = _merge(argv, capsys)
        assert code == 2
        assert err.count("\n") == 1 and err.startswith("monitrace merge: ")
    assert not (tmp_path / "m.pstats").exists() and not (tmp_path / "m.json").exists()


def test_merge_json_unit():
    doc = {
        "schema": "monitrace/1",
        "pid": 1,
        "total_ns": 5,
        "functions": [
            {
                "id": 0,
                "kind": "python",
                "name": "f",
                "qualname": "f",
                "module": "m",
                "filename": "m.py",
                "lineno": 1,
            }
        ],
        "threads": [
            {
                "ident": 9,
                "name": "MainThread",
                "stats": [
                    {
                        "function": 0,
                        "calls": 2,
                        "primitive_calls": 2,
                        "total_ns": 10,
                        "self_ns": 10,
                        "min_ns": 5,
                        "max_ns": 5,
                        "samples": 2,
                        "histogram": [[4, 8, 2]],
                    }
                ],
                "edges": [],
            }
        ],
    }
    other = json.loads(json.dumps(doc))
    other["pid"] = 2
    other["functions"][0]["id"] = 3
    other["threads"][0]["stats"][0]["function"] = 3
    out = merge.merge_json([doc, other])
    assert [t["pid"] for t in out["threads"]] == [1, 2]
    assert [t["name"] for t in out["threads"]] == ["pid 1 MainThread", "pid 2 MainThread"]
    assert len(out["functions"]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from monitrace.saved import from_session_json

        [stats] = from_session_json(out)
    assert stats.calls == 4 and stats.samples == 4


def test_options_reach_children_as_plain_data_only(tmp_path):
    """Children read their options as JSON (no pickle: nothing in the
    directory is code); a Q query cannot be passed and says so at start."""
    import monitrace

    s = monitrace.trace(subprocesses=True, include=[monitrace.Q(function="work")], live=False)
    with pytest.raises(ValueError, match="subprocesses=True passes the filters"):
        s.start()
    assert not s.running
