"""pytest --monitrace-save-baseline / --monitrace-baseline: exact counts
per test as a CI gate."""

import importlib.util
import json

import pytest

HELPERS = """
def helper(n):
    return sum(range(n))

def twice(n):
    return helper(n) + helper(n)
"""

TESTS = """
from helpers import helper, twice

def test_one():
    helper(3)

def test_two():
    twice(4)

def test_loop():
    for _ in range(3):
        helper(5)
"""

ARGS = ("-p", "no:cacheprovider", "--monitrace-include=helpers")


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(helpers=HELPERS, test_base=TESTS)
    return pytester


def _save(suite, path, *extra):
    r = suite.runpytest_subprocess(*ARGS, f"--monitrace-save-baseline={path}", *extra)
    r.assert_outcomes(passed=3)
    return json.loads(path.read_text())


def test_save_writes_exact_counts_per_test(suite, tmp_path):
    data = _save(suite, tmp_path / "base.json")
    assert data["format"] == "monitrace-baseline/1"
    calls = {
        node.split("::")[1]: {f: v[0] for f, v in funcs.items()}
        for node, funcs in data["tests"].items()
    }
    assert calls == {
        "test_one": {"helpers.helper": 1},
        "test_two": {"helpers.helper": 2, "helpers.twice": 1},
        "test_loop": {"helpers.helper": 3},
    }


def test_rising_counts_fail_the_test_with_the_functions_named(suite, tmp_path):
    base = tmp_path / "base.json"
    _save(suite, base)
    suite.makepyfile(
        helpers=HELPERS.replace(
            "return helper(n) + helper(n)", "return helper(n) + helper(n) + helper(n)"
        )
    )
    r = suite.runpytest_subprocess(*ARGS, f"--monitrace-baseline={base}")
    r.assert_outcomes(passed=2, failed=1)
    r.stdout.fnmatch_lines(
        [
            "*monitrace baseline*counts rose in test_base.py::test_two*",
            "*helpers.helper: 2 -> 3 calls (+1)*",
        ]
    )
    # unchanged counts, and counts that fell, pass
    suite.makepyfile(helpers=HELPERS)
    suite.runpytest_subprocess(*ARGS, f"--monitrace-baseline={base}").assert_outcomes(passed=3)
    suite.makepyfile(test_base=TESTS.replace("range(3)", "range(2)"))
    suite.runpytest_subprocess(*ARGS, f"--monitrace-baseline={base}").assert_outcomes(passed=3)


def test_times_only_when_a_rule_asks(suite, tmp_path):
    base = tmp_path / "base.json"
    data = _save(suite, base)
    # make every recorded time tiny: any real run is slower by far
    for funcs in data["tests"].values():
        for v in funcs.values():
            v[1] = v[2] = 1e-12
    base.write_text(json.dumps(data))
    suite.runpytest_subprocess(*ARGS, f"--monitrace-baseline={base}").assert_outcomes(passed=3)
    r = suite.runpytest_subprocess(
        *ARGS, f"--monitrace-baseline={base}", "--monitrace-baseline-fail-on=tottime>+50%"
    )
    r.assert_outcomes(failed=3)
    r.stdout.fnmatch_lines(["*[[]tottime>+50%[]]*"])


def test_save_updates_only_the_tests_that_ran(suite, tmp_path):
    base = tmp_path / "base.json"
    _save(suite, base)
    r = suite.runpytest_subprocess(*ARGS, f"--monitrace-save-baseline={base}", "-k", "test_one")
    r.assert_outcomes(passed=1, deselected=2)
    assert len(json.loads(base.read_text())["tests"]) == 3


def test_bad_input(suite, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    r = suite.runpytest_subprocess(*ARGS, f"--monitrace-baseline={bad}")
    assert r.ret != 0
    r.stderr.fnmatch_lines(["*--monitrace-baseline*not a monitrace baseline*"])
    r = suite.runpytest_subprocess(
        *ARGS, f"--monitrace-baseline={bad}", "--monitrace-baseline-fail-on=speed>1"
    )
    assert r.ret != 0


@pytest.mark.skipif(importlib.util.find_spec("xdist") is None, reason="needs pytest-xdist")
def test_with_xdist(suite, tmp_path):
    base = tmp_path / "base.json"
    data = _save(suite, base, "-n", "2")
    assert len(data["tests"]) == 3
    suite.makepyfile(
        helpers=HELPERS.replace(
            "return helper(n) + helper(n)", "return helper(n) + helper(n) + helper(n)"
        )
    )
    r = suite.runpytest_subprocess(*ARGS, f"--monitrace-baseline={base}", "-n", "2")
    r.assert_outcomes(passed=2, failed=1)
    r.stdout.fnmatch_lines(["*helpers.helper: 2 -> 3 calls (+1)*"])
