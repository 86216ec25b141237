"""The pytest plugin, driven through pytester: fixture, options, marker,
failure messages, output files, xdist and pytest-cov."""

import importlib.util
import json
import os
import pstats
import re
import subprocess
import sys
import sysconfig

import pytest

from monitrace.assertions import CallCount
from monitrace.pytest_options import base_options
from monitrace.pytest_suite import file_stem
from monitrace.report import FunctionStats
from monitrace.suite_stats import SuiteStats, stats_from_data, stats_to_data

STDLIB = sysconfig.get_paths()["stdlib"] + os.sep

HELPERS = """
def helper(n):
    return sum(range(n))

def twice(n):
    return helper(n) + helper(n)

def never():
    return 0
"""

# test_work: 3 tests calling helper 1 + 2 + 3 = 6 times (twice: 1).
WORK_TESTS = """
import pytest
from helpers import helper, twice

def test_one():
    helper(3)

def test_two():
    twice(4)

@pytest.mark.parametrize("n", [5])
def test_three(n):
    for _ in range(3):
        helper(n)
"""


@pytest.fixture
def work(pytester):
    pytester.makepyfile(helpers=HELPERS, test_work=WORK_TESTS)
    return pytester


def summary_rows(stdout):
    """{function label: ncalls} from the suite table of the summary."""
    lines = stdout.splitlines()
    start = next(i for i, l in enumerate(lines) if "monitrace:" in l and "traced" in l)
    rows = {}
    for line in lines[start:]:
        if line.startswith("Slowest tests"):
            break
        m = re.match(
            r"\s*(\d+(?:/\d+)?)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+\S+\s+\S+\s+\S+\s+(.*)$", line
        )
        if m:
            rows[m.group(2)] = m.group(1)
    return rows


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def calls_in(data, qualname):
    return sum(f["calls"] for f in data["functions"] if f["qualname"] == qualname)


def pstats_calls(path, mine=False):
    """{(file name, function): total calls} of a .pstats file; `mine`:
    only the functions defined beside the file (the test's own code, not
    the standard library functions pytest calls while setting it up)."""
    out = {}
    for (filename, _line, name), (_cc, nc, _tt, _ct, _callers) in pstats.Stats(
        str(path)
    ).stats.items():
        if mine and (filename.startswith(STDLIB) or filename.startswith(("<", "~"))):
            continue
        key = (os.path.basename(filename), name)
        out[key] = out.get(key, 0) + nc
    return out


def calls_of(path, name, in_file=None):
    """Calls of functions called `name`; `in_file`: only those defined in
    that file (contextlib's decorator wrapper is also called `helper`)."""
    return sum(
        n for (f, func), n in pstats_calls(path).items() if func == name and in_file in (None, f)
    )


# ---- idle unless used ---------------------------------------------------------


def test_import_loads_no_core():
    code = (
        "import sys, monitrace.pytest_plugin\n"
        "print(sorted(m for m in sys.modules if m.startswith('monitrace')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(eval(out.stdout))
    assert "monitrace.pytest_plugin" in loaded
    assert not loaded & {
        "monitrace._core",
        "monitrace.api",
        "monitrace.pytest_suite",
        "monitrace.exporters",
    }


def test_plugin_idle_in_a_suite_that_does_not_use_it(work):
    work.makeconftest("""
        import sys
        def pytest_sessionfinish(session):
            pm = session.config.pluginmanager
            with open("state.txt", "w") as f:
                f.write(repr((pm.hasplugin("monitrace"), pm.get_plugin("monitrace-suite"),
                              "monitrace._core" in sys.modules,
                              "monitrace.pytest_suite" in sys.modules)))
    """)
    result = work.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    assert (work.path / "state.txt").read_text() == "(True, None, False, False)"
    assert "traced" not in result.stdout.str()


# ---- the fixture --------------------------------------------------------------


def test_fixture_counts_and_records(pytester):
    pytester.makepyfile(helpers=HELPERS)
    pytester.makepyfile(
        test_fx="""
        import helpers

        def test_counts(monitrace):
            with monitrace.trace() as s:
                helpers.helper(2)
                helpers.twice(3)
            assert s.calls("helpers.helper") == 3
            assert s.calls("twice") == 1
            assert s.called("helpers.twice")
            assert not s.called("helpers.never")
            s.assert_called("helpers.helper", times=3)
            s.assert_called("helpers.twice")
            s.assert_not_called("helpers.never")
            rec = {r.full_name: r for r in s.stats()}["helpers.helper"]
            assert (rec.calls, rec.primitive_calls, rec.firstlineno) == (3, 3, 1)
            assert rec.total_time >= rec.self_time > 0

        def test_options_and_sessions(monitrace):
            s = monitrace.trace(c_calls=True)
            s.start()
            helpers.helper(4)
            assert monitrace.sessions == [s] and s.running
            # left running on purpose: the fixture stops it at teardown

        def test_bad_option(monitrace):
            import pytest
            with pytest.raises(TypeError, match="unknown trace"):
                monitrace.trace(colour=True)
    """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_fixture_inside_monitrace_nested_sessions(pytester, tmp_path):
    """--monitrace traces the test (tool id 3) while the test traces itself
    through the fixture (tool id 4): both counts are exact."""
    pytester.makepyfile(helpers=HELPERS)
    pytester.makepyfile(
        test_nest="""
        import sys
        import helpers

        def test_nested(monitrace):
            helpers.helper(1)
            with monitrace.trace() as s:
                assert s.tool_id == 4
                assert sys.monitoring.get_tool(3) == "monitrace"
                helpers.twice(2)
            helpers.helper(1)
            assert s.calls("helpers.helper") == 2
            assert s.calls("helpers.twice") == 1
    """
    )
    out = tmp_path / "out"
    result = pytester.runpytest("-p", "no:cacheprovider", "--monitrace", f"--monitrace-out={out}")
    result.assert_outcomes(passed=1)
    calls = pstats_calls(out / "test_nest.py--test_nested.pstats")
    assert calls[("helpers.py", "helper")] == 4
    assert calls[("helpers.py", "twice")] == 1
    assert calls[("test_nest.py", "test_nested")] == 1


# ---- failure messages ----------------------------------------------------------


def test_failure_messages_show_report_rows(pytester):
    pytester.makepyfile(helpers=HELPERS)
    pytester.makepyfile(
        test_fail="""
        import helpers

        def run(monitrace):
            with monitrace.trace() as s:
                helpers.helper(1)
                helpers.helper(2)
            return s

        def test_eq(monitrace):
            assert run(monitrace).calls("helpers.helper") == 3

        def test_misspelt(monitrace):
            assert run(monitrace).calls("helpers.helpr") == 1

        def test_assert_called(monitrace):
            run(monitrace).assert_called("helpers.helper", times=1)

        def test_assert_not_called(monitrace):
            run(monitrace).assert_not_called("helpers.helper")

        def test_assert_called_never(monitrace):
            run(monitrace).assert_called("helpers.never")

        def test_assert_not_called_misspelt(monitrace):
            run(monitrace).assert_not_called("helpers.helpr")
    """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=6)
    row = r"E \s+ 2 +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+ .*helpers.py:1\(helper\)"
    result.stdout.re_match_lines(
        [
            r"_+ test_eq _+",
            r">\s+assert run\(monitrace\).calls\(\"helpers.helper\"\) == 3",
            r"E\s+assert 2 == 3",
            r"E\s+monitrace: helpers.helper was called 2 times:",
            r"E\s+ncalls\s+tottime\s+percall\s+cumtime\s+percall\s+p50\s+p99\s+max\s+filename:lineno\(function\)",
            row,
            r"_+ test_misspelt _+",
            r"E\s+assert 0 == 1",
            r"E\s+monitrace: helpers.helpr names no known function \(it was not recorded, and it "
            r"is not a dotted name that imports\); recorded functions with close names:",
            r"E\s+ncalls.*",
            row,
            r"_+ test_assert_called _+",
            r">\s+run\(monitrace\).assert_called\(\"helpers.helper\", times=1\)",
            r"E\s+AssertionError: expected helpers.helper to be called once, but it was called 2 times:",
            r"E\s+ncalls.*",
            row,
            r"_+ test_assert_not_called _+",
            r"E\s+AssertionError: expected helpers.helper not to be called, but it was called 2 times:",
            r"E\s+ncalls.*",
            row,
            r"_+ test_assert_called_never _+",
            r"E\s+AssertionError: expected helpers.never to be called, but it was never called; "
            r"recorded functions with close names:",
            r"E\s+ncalls.*",
            row,
            r"_+ test_assert_not_called_misspelt _+",
            r">\s+run\(monitrace\).assert_not_called\(\"helpers.helpr\"\)",
            r"E\s+ValueError: helpers.helpr names no known function .*; recorded functions with "
            r"close names:",
            r"E\s+ncalls.*",
            row,
        ]
    )
    # pytest hides monitrace's own frame: the test's line is the last shown
    assert "api.py" not in result.stdout.str()


def test_call_count_is_an_int():
    rec = FunctionStats("f", "f", "m", "m.py", 1, 2, 2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    count = CallCount("m.f", [rec, rec], [rec])
    assert count == 4 and isinstance(count, int)
    assert repr(count) == "4" and str(count) == "4" and f"{count}" == "4"
    assert count + 1 == 5 and type(count + 1) is int
    assert json.dumps({"n": count}) == '{"n": 4}'


# ---- --monitrace and its options ----------------------------------------------


def test_monitrace_summary(work):
    result = work.runpytest("-p", "no:cacheprovider", "--monitrace", "--monitrace-report=500")
    result.assert_outcomes(passed=3)
    out = result.stdout.str()
    rows = summary_rows(out)
    assert rows["helpers.py:1(helper)"] == "6"
    assert rows["helpers.py:4(twice)"] == "1"
    # no row of pytest's own machinery (or of monitrace)
    assert not [r for r in rows if "_pytest" in r or "pluggy" in r or "monitrace" in r]
    result.stdout.fnmatch_lines(
        [
            "*= monitrace: 3 tests traced =*",
            "Functions with the most self time across the suite:",
            "*Ordered by: internal time",
            "Slowest tests and their hottest functions (self time):",
        ]
    )
    # the 3 slowest of 3 tests, each with its hottest functions
    for nodeid in (
        "test_work.py::test_one",
        "test_work.py::test_two",
        "test_work.py::test_three[5]",
    ):
        assert re.search(rf"^{re.escape(nodeid)}  \d+\.\d{{6}}s$", out, re.M), nodeid


def test_report_rows(work):
    result = work.runpytest("-p", "no:cacheprovider", "--monitrace", "--monitrace-report=1")
    result.assert_outcomes(passed=3)
    assert len(summary_rows(result.stdout.str())) == 1
    result.stdout.fnmatch_lines(["*List reduced from * to 1 due to restriction <1>"])
    # one slowest test (min(3, N)) with one row
    nodeids = re.findall(r"^(test_work\.py::\S+)  \d", result.stdout.str(), re.M)
    assert len(nodeids) == 1

    result = work.runpytest("-p", "no:cacheprovider", "--monitrace", "--monitrace-report=0")
    result.assert_outcomes(passed=3)
    assert "traced" not in result.stdout.str()


def test_out_dir_files_follow_symlinks_and_keep_fifos(work, tmp_path):
    import stat
    import threading

    out = tmp_path / "traces"
    elsewhere = tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "test_work.py--test_one.pstats").symlink_to(elsewhere / "one.pstats")
    fifo = out / "monitrace-summary.json"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    result = work.runpytest("-p", "no:cacheprovider", "--monitrace", f"--monitrace-out={out}")
    result.assert_outcomes(passed=3)
    reader.join()
    assert (out / "test_work.py--test_one.pstats").is_symlink()
    assert pstats_calls(elsewhere / "one.pstats", mine=True) == {
        ("helpers.py", "helper"): 1,
        ("test_work.py", "test_one"): 1,
    }
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert json.loads(got[0])["tests_traced"] == 3


def test_out_dir_one_file_per_test(work, tmp_path):
    out = tmp_path / "traces"
    result = work.runpytest("-p", "no:cacheprovider", "--monitrace", f"--monitrace-out={out}")
    result.assert_outcomes(passed=3)
    assert sorted(os.listdir(out)) == [
        "monitrace-summary.json",
        "test_work.py--test_one.pstats",
        "test_work.py--test_three_5.pstats",
        "test_work.py--test_two.pstats",
    ]
    assert pstats_calls(out / "test_work.py--test_one.pstats", mine=True) == {
        ("helpers.py", "helper"): 1,
        ("test_work.py", "test_one"): 1,
    }
    assert pstats_calls(out / "test_work.py--test_two.pstats", mine=True) == {
        ("helpers.py", "helper"): 2,
        ("helpers.py", "twice"): 1,
        ("test_work.py", "test_two"): 1,
    }
    three = pstats_calls(out / "test_work.py--test_three_5.pstats")
    assert three[("helpers.py", "helper")] == 3
    assert three[("test_work.py", "test_three")] == 1
    summary = load(out / "monitrace-summary.json")
    assert summary["tests_traced"] == 3
    assert calls_in(summary, "helper") == 6
    assert {t["nodeid"] for t in summary["slowest_tests"]} == {
        "test_work.py::test_one",
        "test_work.py::test_two",
        "test_work.py::test_three[5]",
    }
    # the records are full FunctionStats
    rec = stats_from_data(next(f for f in summary["functions"] if f["qualname"] == "helper"))
    assert rec.full_name == "helpers.helper" and sum(c for _, _, c in rec.histogram) == 6


def test_include_exclude(pytester):
    pytester.mkpydir("pkg")
    pytester.makepyfile(
        **{
            "pkg/a": "def fa():\n    return 1\n",
            "pkg/b": "def fb():\n    return 2\n",
            "other": "def fo():\n    return 3\n",
            "test_mods": """
            from pkg.a import fa
            from pkg.b import fb
            from other import fo
            def test_all():
                fa(); fb(); fb(); fo()
        """,
        }
    )

    def traced(*args):
        out = pytester.path / "out"
        result = pytester.runpytest(
            "-p", "no:cacheprovider", "--monitrace", f"--monitrace-out={out}", *args
        )
        result.assert_outcomes(passed=1)
        calls = pstats_calls(out / "test_mods.py--test_all.pstats")
        return {func: n for (_f, func), n in calls.items()}

    everything = traced()
    assert (everything["fa"], everything["fb"], everything["fo"]) == (1, 2, 1)
    assert everything["test_all"] == 1
    assert traced("--monitrace-include=pkg") == {"fa": 1, "fb": 2}
    assert traced("--monitrace-include=pkg.*", "--monitrace-exclude=pkg.b") == {"fa": 1}
    assert traced("--monitrace-include=other", "--monitrace-include=function:fb") == {
        "fb": 2,
        "fo": 1,
    }
    assert "fo" not in traced("--monitrace-exclude=oth*")
    # pytest's own code is out by default (the test it calls is in), and in
    # when an include names it
    files = pstats_calls(pytester.path / "out" / "test_mods.py--test_all.pstats")
    assert not [f for f, _ in files if f in ("runner.py", "python.py", "fixtures.py")]
    traced("--monitrace-include=_pytest")
    files = pstats_calls(pytester.path / "out" / "test_mods.py--test_all.pstats")
    assert ("python.py", "pytest_pyfunc_call") in files and (
        "test_mods.py",
        "test_all",
    ) not in files


def test_unmatched_include_said_once_for_the_run(work):
    result = work.runpytest(
        "-p",
        "no:cacheprovider",
        "--monitrace",
        "--monitrace-include=helpers",
        "--monitrace-include=nosuch",
        "--monitrace-include=function:test_o*",
    )
    result.assert_outcomes(passed=3)
    out = result.stdout.str()
    assert out.count("matched no function") == 1
    result.stdout.fnmatch_lines(
        [
            "monitrace: --monitrace-include spec 'nosuch' matched no function (a bare name means "
            "a module or a full name module.qualname; for a function named so use "
            "'function:nosuch')"
        ]
    )
    # test_two and test_three never match function:test_o*, test_one does
    assert "warnings summary" not in out


def test_base_options():
    assert base_options([], []) == {"exclude": ("_pytest", "pytest", "pluggy", "xdist", "execnet")}
    assert base_options(["a"], ["b"]) == {"include": ("a",), "exclude": ("b",)}
    assert base_options([], ["b"])["exclude"][0] == "b"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--monitrace-report=-1"], "--monitrace-report must be 0 or more, not -1"),
        (["--monitrace-report=x"], "--monitrace-report: invalid int value: 'x'"),
        (["--monitrace-out=afile.txt/sub"], "--monitrace-out: cannot create 'afile.txt/sub'"),
        (
            ["--monitrace-out=afile.txt/run.pstats"],
            "--monitrace-out: cannot create 'afile.txt/run.pstats'",
        ),
        (["--monitrace-out=adir.prof"], "--monitrace-out: 'adir.prof' is a directory"),
        (["--monitrace-include=re:("], "--monitrace-include: Q(module__regex=...): invalid "),
        (["--monitrace-exclude=re:["], "--monitrace-exclude: Q(module__regex=...): invalid "),
        (
            ["--monitrace-include=bogus:x"],
            "--monitrace-include: unknown field 'bogus' in "
            "'bogus:x'; a spec is [field:][re:]pattern with field one of module, function, ",
        ),
        (
            ["--monitrace-exclude=funtion:main"],
            "--monitrace-exclude: unknown field 'funtion' "
            "in 'funtion:main' (did you mean 'function'?)",
        ),
    ],
)
def test_bad_options(pytester, args, message):
    pytester.makefile(".txt", afile="not a directory")
    pytester.mkdir("adir.prof")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_file_stem():
    assert (
        file_stem("tests/test_a.py::TestX::test_y[a/b-1]") == "tests_test_a.py--TestX--test_y_a_b-1"
    )
    long = file_stem("t.py::test[" + "x" * 300 + "]")
    assert len(long) == 150 + 13 and long != file_stem("t.py::test[" + "x" * 299 + "y]")


# ---- every kind of item ------------------------------------------------------------

# helper calls per test: setUp and tearDown 1 each, so test_plain 4 and
# test_subtests 1 + (1 + 1 + 1) + 1 = 5 (one per subtest, helper(0..2)).
KINDS_TESTS = """
import unittest
import pytest
from helpers import helper

class TestUnit(unittest.TestCase):
    def setUp(self):
        helper(1)

    def tearDown(self):
        helper(1)

    def test_plain(self):
        helper(1)
        helper(1)

    def test_subtests(self):
        for i in range(3):
            with self.subTest(i=i):
                helper(i)

class TestPlain:
    def test_method(self):
        helper(1)

@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    for _ in range(n):
        helper(n)

def doubled(x):
    '''
    >>> doubled(2)
    4
    '''
    helper(x)
    helper(x)
    return 2 * x
"""

# Another plugin's items: one item per line of a .helpers file, calling
# helper as many times as the line says.
ITEMS_CONFTEST = """
import pytest
from helpers import helper

class HelperItem(pytest.Item):
    def __init__(self, *, times, **kw):
        super().__init__(**kw)
        self.times = times

    def runtest(self):
        for _ in range(self.times):
            helper(2)

class HelperFile(pytest.File):
    def collect(self):
        for line in self.path.read_text().split():
            yield HelperItem.from_parent(self, name="x" + line, times=int(line))

def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".helpers":
        return HelperFile.from_parent(parent, path=file_path)
"""

HELPER = ("helpers.py", "helper")
KINDS_HELPER_CALLS = {
    "test_kinds.py--TestUnit--test_plain": 4,
    "test_kinds.py--TestUnit--test_subtests": 5,
    "test_kinds.py--TestPlain--test_method": 1,
    "test_kinds.py--test_param_1": 1,
    "test_kinds.py--test_param_2": 2,
    "test_kinds.py--test_kinds.doubled": 2,
    "items.helpers--x3": 3,
}


@pytest.fixture
def kinds(pytester):
    pytester.makepyfile(helpers=HELPERS, test_kinds=KINDS_TESTS)
    pytester.makeconftest(ITEMS_CONFTEST)
    pytester.makefile(".helpers", items="3")
    return pytester


def test_every_kind_of_item_is_traced(kinds, tmp_path):
    out = tmp_path / "out"
    result = kinds.runpytest(
        "-p",
        "no:cacheprovider",
        "--doctest-modules",
        "--monitrace",
        f"--monitrace-out={out}",
        "--monitrace-report=500",
    )
    result.assert_outcomes(passed=7)
    files = {f[: -len(".pstats")]: out / f for f in os.listdir(out) if f.endswith(".pstats")}
    assert sorted(files) == sorted(KINDS_HELPER_CALLS)
    assert {stem: pstats_calls(path)[HELPER] for stem, path in files.items()} == KINDS_HELPER_CALLS
    # the unittest methods themselves, with setUp and tearDown, once each
    plain = pstats_calls(files["test_kinds.py--TestUnit--test_plain"], mine=True)
    assert plain == {
        ("helpers.py", "helper"): 4,
        ("test_kinds.py", "setUp"): 1,
        ("test_kinds.py", "tearDown"): 1,
        ("test_kinds.py", "test_plain"): 1,
    }
    subtests = pstats_calls(files["test_kinds.py--TestUnit--test_subtests"], mine=True)
    assert subtests[("test_kinds.py", "test_subtests")] == 1
    assert calls_of(files["test_kinds.py--test_kinds.doubled"], "doubled") == 1
    assert calls_of(files["items.helpers--x3"], "runtest") == 1
    # pytest's bookkeeping of a plain test's call phase stays out
    assert pstats_calls(files["test_kinds.py--test_param_2"], mine=True) == {
        ("helpers.py", "helper"): 2,
        ("test_kinds.py", "test_param"): 1,
    }
    assert summary_rows(result.stdout.str())["helpers.py:1(helper)"] == str(
        sum(KINDS_HELPER_CALLS.values())
    )


def merged_calls(path):
    """{function name: calls} of the functions of helpers.py and of tests."""
    return {
        name: n
        for (f, name), n in pstats_calls(path).items()
        if f == "helpers.py" or f.startswith("test_")
    }


def test_out_merged_pstats(kinds, tmp_path):
    args = ("-p", "no:cacheprovider", "--doctest-modules", "--monitrace")
    per_test = tmp_path / "per-test"
    kinds.runpytest(*args, f"--monitrace-out={per_test}").assert_outcomes(passed=7)
    merged = tmp_path / "sub" / "run.pstats"
    result = kinds.runpytest(*args, f"--monitrace-out={merged}")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines([f"monitrace: one profile of the run in {merged}"])
    assert not (tmp_path / "sub" / "monitrace-summary.json").exists()
    assert os.listdir(tmp_path / "sub") == ["run.pstats"]
    stats = pstats.Stats(str(merged))
    assert merged_calls(merged)["helper"] == sum(KINDS_HELPER_CALLS.values())
    # the same functions, calls and caller edges as the per-test files summed
    expected = pstats.Stats(
        *[str(per_test / f) for f in sorted(os.listdir(per_test)) if f.endswith(".pstats")]
    )
    assert set(stats.stats) == set(expected.stats)
    for key, (cc, nc, _tt, _ct, callers) in expected.stats.items():
        mcc, mnc, mtt, mct, mcallers = stats.stats[key]
        assert (mcc, mnc) == (cc, nc), key
        assert {k: v[:2] for k, v in mcallers.items()} == {k: v[:2] for k, v in callers.items()}
        assert mtt > 0 and mct >= mtt
    helper = next(k for k in stats.stats if k[0].endswith("helpers.py") and k[2] == "helper")
    assert {k[2]: v[0] for k, v in stats.stats[helper][4].items()} == {
        "setUp": 2,
        "tearDown": 2,
        "test_plain": 2,
        "test_subtests": 3,
        "test_method": 1,
        "test_param": 3,
        "doubled": 2,
        "runtest": 3,
    }
    # .prof works the same
    kinds.runpytest(*args, f"--monitrace-out={tmp_path / 'run.prof'}").assert_outcomes(passed=7)
    assert merged_calls(tmp_path / "run.prof")["helper"] == sum(KINDS_HELPER_CALLS.values())


# ---- the marker ------------------------------------------------------------------


def test_marker_traces_only_marked_tests(pytester, tmp_path):
    pytester.makepyfile(helpers=HELPERS)
    pytester.makepyfile(
        test_mark="""
        import pytest
        import helpers

        @pytest.mark.monitrace
        def test_marked():
            helpers.helper(3)

        @pytest.mark.monitrace(c_calls=True)
        def test_marked_c_calls():
            helpers.helper(3)
            len("abc")

        def test_unmarked():
            helpers.helper(3)

        @pytest.mark.monitrace
        class TestClass:
            def test_in_class(self):
                helpers.twice(1)
    """
    )
    out = tmp_path / "out"
    result = pytester.runpytest(
        "-p", "no:cacheprovider", f"--monitrace-out={out}", "--monitrace-report=500"
    )
    result.assert_outcomes(passed=4)
    assert sorted(os.listdir(out)) == [
        "monitrace-summary.json",
        "test_mark.py--TestClass--test_in_class.pstats",
        "test_mark.py--test_marked.pstats",
        "test_mark.py--test_marked_c_calls.pstats",
    ]
    plain = pstats_calls(out / "test_mark.py--test_marked.pstats", mine=True)
    assert plain == {("helpers.py", "helper"): 1, ("test_mark.py", "test_marked"): 1}
    with_c = pstats_calls(out / "test_mark.py--test_marked_c_calls.pstats")
    assert with_c[("~", "<built-in method builtins.len>")] == 1
    assert with_c[("helpers.py", "helper")] == 1
    assert (
        calls_of(out / "test_mark.py--TestClass--test_in_class.pstats", "helper", "helpers.py") == 2
    )
    result.stdout.fnmatch_lines(["*= monitrace: 3 tests traced =*"])
    assert summary_rows(result.stdout.str())["helpers.py:1(helper)"] == "4"


def chrome_calls(path, prefix):
    """(depth, name) of the calls named `prefix...` in a Chrome trace, in
    order, depth counted over all the calls of the thread."""
    data = load(path)
    events = data["traceEvents"] if isinstance(data, dict) else data
    out, stacks = [], {}
    for ev in sorted(
        (e for e in events if e.get("ph") in ("B", "E", "X")),
        key=lambda e: (e["ts"], e["ph"] != "E"),
    ):
        stack = stacks.setdefault(ev["tid"], [])
        if ev["ph"] == "E":
            stack.pop()
            continue
        while ev["ph"] == "X" and stack and stack[-1] <= ev["ts"]:
            stack.pop()
        if ev["name"].startswith(prefix):
            out.append((len(stack), ev["name"]))
        stack.append(ev["ts"] + ev["dur"] if ev["ph"] == "X" else None)
    return out


def test_marker_record_writes_chrome_trace(pytester, tmp_path):
    pytester.makepyfile(
        test_rec="""
        import pytest

        def helper(n):
            return n + 1

        @pytest.mark.monitrace(record=True)
        def test_rec():
            helper(1)
            helper(2)
    """
    )
    out = tmp_path / "out"
    result = pytester.runpytest("-p", "no:cacheprovider", f"--monitrace-out={out}")
    result.assert_outcomes(passed=1)
    assert sorted(os.listdir(out)) == [
        "monitrace-summary.json",
        "test_rec.py--test_rec.json",
        "test_rec.py--test_rec.pstats",
    ]
    calls = chrome_calls(out / "test_rec.py--test_rec.json", "test_rec.")
    depth = calls[0][0]
    assert calls == [
        (depth, "test_rec.test_rec"),
        (depth + 1, "test_rec.helper"),
        (depth + 1, "test_rec.helper"),
    ]
    assert pstats_calls(out / "test_rec.py--test_rec.pstats", mine=True) == {
        ("test_rec.py", "helper"): 2,
        ("test_rec.py", "test_rec"): 1,
    }


def test_marker_bad_options_fail_that_test(pytester):
    pytester.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.monitrace(colour=True)
        def test_unknown():
            pass

        @pytest.mark.monitrace("c_calls")
        def test_positional():
            pass

        def test_fine():
            pass
    """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*TypeError: @pytest.mark.monitrace: unknown trace() option 'colour'; known options: *",
            "*TypeError: @pytest.mark.monitrace takes keyword options only *, not ('c_calls',)",
        ]
    )


def test_marker_registered(pytester):
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.monitrace(**options): trace this test with*"])
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--monitrace-out=DIR*"])


# ---- xdist and pytest-cov ----------------------------------------------------------

needs_xdist = pytest.mark.skipif(
    importlib.util.find_spec("xdist") is None, reason="needs pytest-xdist"
)
needs_cov = pytest.mark.skipif(
    importlib.util.find_spec("pytest_cov") is None, reason="needs pytest-cov"
)

COV_MODULE = """
def work(n):
    if n > 100:
        return "big"
    return sum(range(n))

def unused():
    return None
"""

COV_TESTS = """
import mod

def test_small():
    assert mod.work(5) == 10

def test_big():
    assert mod.work(500) == "big"

def test_small_again():
    assert mod.work(6) == 15
"""


@needs_xdist
def test_xdist_worker_files_and_merged_summary(work, tmp_path):
    out = tmp_path / "out"
    work.makepyfile(
        test_more="""
        from helpers import helper
        def test_four():
            helper(1)
        def test_five():
            helper(1)
    """
    )
    result = work.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "--monitrace",
        f"--monitrace-out={out}",
        "--monitrace-report=500",
    )
    result.assert_outcomes(passed=5)
    files = sorted(os.listdir(out))
    assert files == [
        "monitrace-summary.json",
        "monitrace-worker-gw0.json",
        "monitrace-worker-gw1.json",
        "test_more.py--test_five.pstats",
        "test_more.py--test_four.pstats",
        "test_work.py--test_one.pstats",
        "test_work.py--test_three_5.pstats",
        "test_work.py--test_two.pstats",
    ]
    workers = [load(out / f"monitrace-worker-gw{i}.json") for i in (0, 1)]
    assert sum(w["tests_traced"] for w in workers) == 5
    assert sum(calls_in(w, "helper") for w in workers) == 8
    assert (
        sum(calls_of(out / f, "helper", "helpers.py") for f in files if f.endswith(".pstats")) == 8
    )
    summary = load(out / "monitrace-summary.json")
    assert summary["tests_traced"] == 5 and calls_in(summary, "helper") == 8
    result.stdout.fnmatch_lines(["*= monitrace: 5 tests traced =*"])
    assert summary_rows(result.stdout.str())["helpers.py:1(helper)"] == "8"


@needs_xdist
def test_xdist_merged_pstats(work, tmp_path):
    merged = tmp_path / "run.pstats"
    result = work.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--monitrace", f"--monitrace-out={merged}"
    )
    result.assert_outcomes(passed=3)
    assert os.listdir(tmp_path) == ["run.pstats"]
    calls = merged_calls(merged)
    assert (calls["helper"], calls["twice"], calls["test_one"], calls["test_three"]) == (6, 1, 1, 1)


@needs_xdist
def test_xdist_with_marker_only(work):
    work.makepyfile(
        test_marked="""
        import pytest
        from helpers import helper
        @pytest.mark.monitrace
        def test_marked():
            helper(1); helper(2)
    """
    )
    result = work.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--monitrace-report=500"
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*= monitrace: 1 test traced =*"])
    assert summary_rows(result.stdout.str())["helpers.py:1(helper)"] == "2"


@needs_xdist
@needs_cov
@pytest.mark.parametrize("core", ["sysmon", "ctrace"])
@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_with_pytest_cov(pytester, monkeypatch, tmp_path, core, xdist):
    monkeypatch.setenv("COVERAGE_CORE", core)
    pytester.makepyfile(mod=COV_MODULE, test_cov=COV_TESTS)
    out = tmp_path / "out"
    args = [
        "-p",
        "no:cacheprovider",
        "--cov=mod",
        "--cov-report=term-missing",
        "--monitrace",
        f"--monitrace-out={out}",
    ]
    if xdist:
        args += ["-n", "2"]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=3)
    # coverage: everything but the body of unused() (line 7)
    result.stdout.re_match_lines([r"mod\.py\s+6\s+1\s+83%\s+7$"])
    # monitrace: exact counts per test and for the suite
    assert pstats_calls(out / "test_cov.py--test_big.pstats", mine=True) == {
        ("mod.py", "work"): 1,
        ("test_cov.py", "test_big"): 1,
    }
    summary = load(out / "monitrace-summary.json")
    assert summary["tests_traced"] == 3 and calls_in(summary, "work") == 3
    assert calls_in(summary, "unused") == 0


# ---- suite statistics ------------------------------------------------------------


def test_suite_stats_merge_roundtrip():
    def rec(name, calls, self_time, hist):
        return FunctionStats(
            name,
            name,
            "m",
            "m.py",
            1,
            calls,
            calls,
            self_time * 2,
            self_time,
            1e-6,
            2e-6,
            0.0,
            0.0,
            0.0,
            histogram=hist,
        )

    a = SuiteStats(slowest=2, hottest=1)
    a.add_test("t::a", 0.5, [rec("f", 2, 0.1, ((1000.0, 1100.0, 2),)), rec("g", 1, 0.3, ())])
    a.add_test("t::b", 0.1, [rec("f", 1, 0.1, ((1000.0, 1100.0, 1),))])
    b = SuiteStats(slowest=2, hottest=1)
    b.add_test("t::c", 0.9, [rec("f", 4, 0.2, ((2000.0, 2200.0, 4),))])
    merged = SuiteStats(slowest=2, hottest=1)
    merged.merge(json.loads(json.dumps(a.to_data())))
    merged.merge(json.loads(json.dumps(b.to_data())))
    assert merged.tests_traced == 3
    f = {s.name: s for s in merged.functions()}["f"]
    assert (f.calls, round(f.self_time, 9)) == (7, 0.4)
    assert f.histogram == ((1000.0, 1100.0, 3), (2000.0, 2200.0, 4))
    slow = merged.slowest_tests()
    assert [(t.nodeid, [s.name for s in t.hottest]) for t in slow] == [
        ("t::c", ["f"]),
        ("t::a", ["g"]),
    ]
    assert stats_from_data(stats_to_data(f)) == f


def test_suite_stats_sum_wall_time_of_received_tests():
    """Wall time (a coroutine's time awaiting included) is summed over the
    tests that xdist workers send, as calls and times are (it was the
    first test's alone)."""

    def rec(wall):
        return FunctionStats(
            "co", "co", "m", "m.py", 1, 1, 1, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, wall_time=wall
        )

    suite = SuiteStats(slowest=0, hottest=1)
    suite.add_test("t::a", 1.0, [rec(2.0)])
    suite.add_test("t::b", 1.0, [rec(3.0)])
    (co,) = suite.functions()
    assert (co.calls, co.total_time, co.wall_time) == (2, 1.0, 5.0)
