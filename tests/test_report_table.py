"""The text report: sort keys against pstats' ordering of the same data,
--sort and --limit (the command, MONITRACE, the Python API), short and
full paths; and the pytest plugin's suite totals summed in ticks, checked
against FunctionStats summed test by test."""

import importlib.util
import io
import json
import math
import os
import pstats
import re
import subprocess
import sys
import sysconfig
import textwrap
import threading

import pytest

import monitrace
from monitrace.report import MergedRows, build_stats, percentile, percentiles, render_table
from monitrace.suite_stats import SuiteStats

ROW = re.compile(
    r"^\s*(?P<ncalls>\d+(/\d+)?)\s+(?P<tottime>\d+\.\d{6})\s+\d+\.\d{6}\s+"
    r"(?P<cumtime>\d+\.\d{6})\s+\d+\.\d{6}\s+\S+\s+\S+\s+\S+\s+(?P<loc>.+)$"
)

# Every function has its own call count, and `down` recurses (8 calls, 2
# primitive), so no two rows tie on calls, pcalls or name.
WORK = """\
import json


def leaf(n):
    return n * 2


def pair(n):
    return leaf(n) + leaf(n + 1)


def down(k):
    if k:
        down(k - 1)
    return k


def run():
    for i in range(3):
        pair(i)
    down(3)
    down(3)
    return json.dumps([1, 2])
"""


def rows_of(text):
    return [m for m in map(ROW.match, text.splitlines()) if m]


@pytest.fixture
def work(tmp_path, monkeypatch):
    path = tmp_path / "reportwork.py"
    path.write_text(WORK)
    spec = importlib.util.spec_from_file_location("reportwork", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.chdir(tmp_path)
    return module


@pytest.mark.parametrize("sort", ["calls", "ncalls", "pcalls", "name", "cumulative", "tottime"])
def test_sort_matches_pstats_order(work, tmp_path, sort):
    with monitrace.trace() as s:
        work.run()
    s.save(tmp_path / "out.pstats")
    # pstats' order of the workload's functions in the same data
    ps = pstats.Stats(str(tmp_path / "out.pstats"), stream=io.StringIO()).sort_stats(sort)
    theirs = [f"{file}:{line}({name})" for file, line, name in ps.fcn_list if file == work.__file__]
    text = s.report(sort=sort, file=io.StringIO(), full_paths=True)
    ours = [r["loc"] for r in rows_of(text) if r["loc"].startswith(work.__file__ + ":")]
    assert len(ours) == 4  # run, pair, leaf, down
    assert ours == [loc for loc in theirs if loc in ours]
    if sort in ("calls", "ncalls"):
        assert [r["ncalls"] for r in rows_of(text) if r["loc"] in ours] == ["8/2", "6", "3", "1"]


def test_limit_line_hint_and_zero(work):
    with monitrace.trace() as s:
        work.run()
    text = s.report(sort="calls", limit=2, file=io.StringIO(), hint="(see them all: limit=None)")
    lines = text.splitlines()
    n = len(rows_of(s.report(file=io.StringIO())))
    assert lines[3] == f"   List reduced from {n} to 2 due to restriction <2>"
    assert lines[4] == "   (see them all: limit=None)"
    assert [r["loc"] for r in rows_of(text)] == ["reportwork.py:12(down)", "reportwork.py:4(leaf)"]
    # No hint when nothing is left out.
    assert "see them all" not in s.report(limit=n, file=io.StringIO(), hint="(see them all)")
    assert rows_of(s.report(limit=0, file=io.StringIO())) == []


def test_bad_sort_and_limit_name_the_option():
    stats = []
    with pytest.raises(ValueError, match=r"^sort must be one of .*p99.*, not 'bogus'$"):
        render_table(stats, sort="bogus")
    with pytest.raises(ValueError, match=r"^limit must be a non-negative int or None, not -1$"):
        render_table(stats, limit=-1)
    with pytest.raises(ValueError, match="^limit must be"):
        render_table(stats, limit=True)


def test_short_and_full_paths(work):
    with monitrace.trace(stdlib=True, site_packages=True) as s:
        work.run()
        pytest.approx(1.0)
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    json_init = os.path.join(stdlib, "json", "__init__.py")
    approx = pytest.approx.__code__
    parts = approx.co_filename.split(os.sep)
    assert "site-packages" in parts  # pytest is installed in the venv
    installed = "/".join(parts[parts.index("site-packages") :])
    by_name = {}
    for r in rows_of(s.report(file=io.StringIO())):
        by_name.setdefault(r["loc"].rsplit("(", 1)[1], []).append(r["loc"])
    assert by_name["leaf)"] == ["reportwork.py:4(leaf)"]
    assert [loc for loc in by_name["dumps)"] if "json" in loc] == [
        f"<stdlib>/json/__init__.py:{json.dumps.__code__.co_firstlineno}(dumps)"
    ]
    assert by_name["approx)"] == [f"{installed}:{approx.co_firstlineno}(approx)"]
    # In full: the function's own file names, as cProfile labels them.
    full = [r["loc"] for r in rows_of(s.report(file=io.StringIO(), full_paths=True))]
    assert f"{work.__file__}:4(leaf)" in full
    assert f"{json.dumps.__code__.co_filename}:{json.dumps.__code__.co_firstlineno}(dumps)" in full
    assert os.path.realpath(json.dumps.__code__.co_filename) == json_init
    assert f"{approx.co_filename}:{approx.co_firstlineno}(approx)" in full
    # The session's option is the default; monitrace.report() follows it.
    with monitrace.trace(full_paths=True) as s2:
        work.leaf(1)
    assert [r["loc"] for r in rows_of(s2.report(file=io.StringIO()))] == [
        f"{work.__file__}:4(leaf)"
    ]
    assert [r["loc"] for r in rows_of(monitrace.report(file=io.StringIO(), full_paths=False))] == [
        "reportwork.py:4(leaf)"
    ]
    # FunctionStats.location stays cProfile's label; short_location is the short one.
    (leaf,) = [x for x in s2.stats() if x.name == "leaf"]
    assert (leaf.location, leaf.short_location) == (
        f"{work.__file__}:4(leaf)",
        "reportwork.py:4(leaf)",
    )


# ---- the command and MONITRACE ----------------------------------------------

# f00 is called once, f01 twice, ... f44 45 times: 45 functions plus the
# module code, each with its own call count.
MANY = "\n".join(f"def f{i:02d}():\n    return {i}\n" for i in range(45)) + textwrap.dedent("""
    for i in range(45):
        for _ in range(i + 1):
            globals()[f"f{i:02d}"]()
""")


def run_cli(*args, cwd, env=None):
    full_env = {
        k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "MONITRACE")
    }
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "monitrace", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=60,
    )


@pytest.fixture
def many(tmp_path):
    (tmp_path / "many.py").write_text(MANY)
    return tmp_path


def fline(i):
    return 3 * i + 1


def test_cli_report_sort_and_limit(many):
    r = run_cli("--report", "--sort", "calls", "--limit", "3", "many.py", cwd=many)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[2] == "   Ordered by: call count"
    assert lines[3] == "   List reduced from 46 to 3 due to restriction <3>"
    assert lines[4] == "   (--limit 0 prints them all)"
    assert [(x["ncalls"], x["loc"]) for x in rows_of(r.stderr)] == [
        ("45", f"many.py:{fline(44)}(f44)"),
        ("44", f"many.py:{fline(43)}(f43)"),
        ("43", f"many.py:{fline(42)}(f42)"),
    ]
    # By name, ascending, as pstats sorts it.
    r = run_cli("--report", "--sort=name", "--limit=2", "many.py", cwd=many)
    assert [x["loc"] for x in rows_of(r.stderr)] == ["many.py:1(<module>)", "many.py:1(f00)"]


def test_cli_report_default_limit_and_all(many):
    r = run_cli("--report", "many.py", cwd=many)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[2] == "   Ordered by: cumulative time"
    assert lines[3] == "   List reduced from 46 to 40 due to restriction <40>"
    assert lines[4] == "   (--limit 0 prints them all)"
    rows = rows_of(r.stderr)
    assert len(rows) == 40 and rows[0]["loc"] == "many.py:1(<module>)"
    r = run_cli("--report", "--limit", "0", "--full-paths", "many.py", cwd=many)
    assert "List reduced" not in r.stderr
    rows = rows_of(r.stderr)
    assert len(rows) == 46
    full = os.path.join(os.path.realpath(many), "many.py")
    assert {x["loc"].rsplit(":", 1)[0] for x in rows} == {full}
    assert sum(int(x["ncalls"]) for x in rows) == 1 + 45 * 46 // 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--report", "--sort", "bogus"], "argument --sort: invalid choice: 'bogus'"),
        (["--report", "--limit", "-1"], "argument --limit: must be 0 (all rows) or more, not -1"),
        (["--report", "--limit", "x"], "argument --limit: invalid int value: 'x'"),
        (["--sort", "calls"], "argument --sort: only with --report"),
        (["--limit", "5"], "argument --limit: only with --report"),
    ],
)
def test_cli_bad_sort_and_limit(many, args, message):
    r = run_cli(*args, "many.py", cwd=many)
    assert r.returncode == 2
    assert message in r.stderr
    assert "f44" not in r.stderr  # refused before the program ran


def test_monitrace_env_sort_and_limit(many):
    def run(value):
        r = subprocess.run(
            [sys.executable, "many.py"],
            capture_output=True,
            text=True,
            cwd=many,
            env={**os.environ, "MONITRACE": value},
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        return r.stderr

    err = run("report;sort=calls;limit=2")
    reduced = re.search(r"^   List reduced from (\d+) to 2 due to restriction <2>$", err, re.M)
    assert reduced and int(reduced[1]) >= 46
    assert [x["loc"] for x in rows_of(err)] == [
        f"many.py:{fline(44)}(f44)",
        f"many.py:{fline(43)}(f43)",
    ]
    # limit=0: every row, as --limit 0 in the command.
    err = run("report;sort=calls;limit=0")
    assert len(rows_of(err)) == int(reduced[1]) and "List reduced" not in err


# ---- the pytest plugin's suite totals ----------------------------------------


def _snapshots(tmp_path):
    """Snapshots of several small 'tests', one with a thread that ends
    and one with a function whose code dies before the snapshot."""
    path = tmp_path / "suitework.py"
    path.write_text(WORK)
    spec = importlib.util.spec_from_file_location("suitework", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    s = monitrace.trace()
    snaps = []
    for step in range(4):
        s.start()
        mod.run()
        if step == 1:
            t = threading.Thread(target=mod.pair, args=(5,))
            t.start()
            t.join()
        if step == 2:
            ns = {}
            exec(compile("def gone(x):\n    return x\n", str(path), "exec"), ns)
            ns["gone"](1)
            del ns
        s.stop()
        snaps.append(s.snapshot())
        s.clear()
    return snaps


def test_suite_totals_in_ticks_match_summed_stats(tmp_path):
    snaps = _snapshots(tmp_path)
    fast = SuiteStats(slowest=2, hottest=3)
    slow = SuiteStats(slowest=2, hottest=3)
    for i, snap in enumerate(snaps):
        fast.add_snapshot(f"t::{i}", [0.3, 0.1, 0.4, 0.2][i], snap)
        slow.add_test(f"t::{i}", [0.3, 0.1, 0.4, 0.2][i], build_stats(snap))
    assert fast.tests_traced == slow.tests_traced == 4
    mine, theirs = fast.functions(), slow.functions()
    assert [f.location for f in mine] == [f.location for f in theirs]
    for a, b in zip(mine, theirs):
        assert (a.calls, a.primitive_calls, a.samples, a.histogram) == (
            b.calls,
            b.primitive_calls,
            b.samples,
            b.histogram,
        )
        for field in ("total_time", "self_time", "min_time", "max_time", "p50", "p90", "p99"):
            assert getattr(a, field) == pytest.approx(getattr(b, field), rel=1e-12, abs=1e-15)
    (leaf,) = [f for f in mine if f.name == "leaf"]
    assert leaf.calls == 4 * 6 + 2  # the thread's pair() too
    assert [t.nodeid for t in fast.slowest_tests()] == ["t::2", "t::0"]
    assert [t.hottest for t in fast.slowest_tests()] == [t.hottest for t in slow.slowest_tests()]
    assert json.loads(json.dumps(fast.to_data()))["tests_traced"] == 4


def test_suite_makes_stats_only_for_kept_tests(tmp_path, monkeypatch):
    # Each test faster than the last: after the first two, none is kept,
    # and none of their functions becomes a FunctionStats.
    made = []
    real = MergedRows.stats

    def counting(self, group):
        made.append(group)
        return real(self, group)

    monkeypatch.setattr(MergedRows, "stats", counting)
    snaps = _snapshots(tmp_path)
    suite = SuiteStats(slowest=2, hottest=3)
    for i, snap in enumerate(snaps):
        suite.add_snapshot(f"t::{i}", 1.0 - i / 10, snap)
    assert len(made) == 2 * 3
    assert [t.nodeid for t in suite.slowest_tests()] == ["t::0", "t::1"]
    del made[:]
    suite.functions()
    assert made == []


def test_percentiles_read_in_one_walk():
    hist = ((10.0, 11.0, 3), (11.0, 12.0, 0), (20.0, 22.0, 5), (100.0, float("inf"), 2))
    # ranks of 10 samples: 1, 5, 9, 10, 10; the open last bucket reads as
    # its low bound; everything clamped to [min, max].
    expected = [math.sqrt(110.0), math.sqrt(440.0), 100.0, 100.0, 100.0]
    assert percentiles(hist, (1, 50, 90, 99, 100), 9.0, 500.0) == expected
    assert [percentile(hist, q, 9.0, 500.0) for q in (1, 50, 90, 99, 100)] == expected
    assert percentiles(hist, (1, 50), 10.6, 15.0) == [10.6, 15.0]
    assert percentiles((), (50, 99), 0.0, 0.0) == [0.0, 0.0]


def test_per_test_benchmark_harness_runs(tmp_path):
    # benchmarks/bench_pytest_per_test.py: the suite it writes has the
    # tests it says, and every configuration it times runs green (no time
    # is looked at).
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
    try:
        import bench_pytest_per_test as bench
    finally:
        sys.path.pop(0)
    assert bench.write_suite(str(tmp_path), 40) == 40
    for args in bench.configs(str(tmp_path / "out")).values():
        bench.run_once(sys.executable, str(tmp_path), args)
    assert len([n for n in os.listdir(tmp_path / "out") if n.endswith(".pstats")]) == 40


def test_pytest_summary_short_paths(pytester):
    pytester.makepyfile(
        helpers="def helper(n):\n    return sum(range(n))\n",
        test_paths="import json\nfrom helpers import helper\n\n"
        "def test_it():\n    helper(3)\n    json.dumps([1])\n",
    )
    result = pytester.runpytest_subprocess(
        "--monitrace",
        "--monitrace-include",
        "helpers",
        "--monitrace-include",
        "json",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == 0
    locs = [m["loc"] for m in map(ROW.match, result.stdout.lines) if m]
    line = json.dumps.__code__.co_firstlineno
    # the suite table, then the slowest test's rows: rootdir-relative and <stdlib>/
    assert "helpers.py:1(helper)" in locs
    assert f"<stdlib>/json/__init__.py:{line}(dumps)" in locs
    assert locs.count("helpers.py:1(helper)") == 2
    assert not any(loc.startswith(os.sep) for loc in locs)
