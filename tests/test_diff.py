"""monitrace diff / monitrace.diff / Session.diff: exact counts compared,
times beyond a threshold, matching by module.qualname."""

import cProfile
import dataclasses
import json
import subprocess
import sys
import textwrap

import pytest

import monitrace
from monitrace.diff import DiffRow, FailRule, load, main
from monitrace.report import FunctionStats


def fs(
    qualname,
    calls,
    self_time=1.0,
    total=None,
    *,
    module="m",
    filename="/src/m.py",
    line=1,
    p99=0.0,
    samples=0,
):
    return FunctionStats(
        name=qualname.rsplit(".", 1)[-1],
        qualname=qualname,
        module=module,
        filename=filename,
        firstlineno=line,
        calls=calls,
        primitive_calls=calls,
        total_time=total or self_time,
        self_time=self_time,
        min_time=0.0,
        max_time=p99,
        p50=0.0,
        p90=0.0,
        p99=p99,
        samples=samples,
    )


def test_counts_always_times_beyond_threshold():
    base = [fs("a", 10), fs("b", 5, 1.0), fs("c", 3, 1.0), fs("gone", 1)]
    new = [fs("a", 12), fs("b", 5, 1.05), fs("c", 3, 2.0), fs("fresh", 7)]
    rows = {r.function: r for r in monitrace.diff(base, new)}
    assert set(rows) == {"m.a", "m.c", "m.gone", "m.fresh"}  # b: 5% is noise
    assert (rows["m.a"].status, rows["m.a"].calls_delta) == ("changed", 2)
    assert (rows["m.c"].status, rows["m.c"].calls_delta, rows["m.c"].tottime_ratio) == (
        "changed",
        0,
        2.0,
    )
    assert (rows["m.gone"].status, rows["m.gone"].new_calls) == ("removed", 0)
    assert (rows["m.fresh"].status, rows["m.fresh"].base_calls, rows["m.fresh"].new_calls) == (
        "added",
        0,
        7,
    )
    # a lower threshold shows b; calls_only hides c
    assert "m.b" in {r.function for r in monitrace.diff(base, new, min_change=0.01)}
    only = monitrace.diff(base, new, calls_only=True)
    assert {r.function for r in only} == {"m.a", "m.gone", "m.fresh"}
    # ordered by impact: the self time moved
    assert [r.function for r in monitrace.diff(base, new)][0] == "m.fresh"


def test_matching_survives_moved_lines_and_ties_go_by_file_and_line():
    base = [
        fs("f", 1, line=10, filename="/a.py"),
        fs("f", 2, line=20, filename="/b.py"),
        fs("g", 1, line=5),
    ]
    new = [
        fs("f", 2, line=25, filename="/b.py"),
        fs("f", 4, line=12, filename="/a.py"),
        fs("g", 1, line=9),
    ]  # every line moved
    rows = monitrace.diff(base, new, include_same=True)
    got = sorted((r.file, r.base_calls, r.new_calls, r.status) for r in rows)
    assert got == [("/a.py", 1, 4, "changed"), ("/b.py", 2, 2, "same"), ("/src/m.py", 1, 1, "same")]


def test_bad_arguments():
    with pytest.raises(ValueError, match="min_change"):
        monitrace.diff([], [], min_change=-1)
    with pytest.raises(ValueError, match="sort must be one of"):
        monitrace.diff([], [], sort="fastest")
    with pytest.raises(TypeError, match="diff\\(\\) compares"):
        monitrace.diff([1], [])


@pytest.mark.parametrize(
    "text, base, new, broken",
    [
        ("calls>0", 10, 10, False),
        ("calls>0", 10, 11, True),
        ("calls>=2", 10, 11, False),
        ("tottime>+20%", 1.0, 1.19, False),
        ("tottime>+20%", 1.0, 1.21, True),
        ("cumtime>0.5", 1.0, 1.4, False),
        ("cumtime>0.5", 1.0, 1.6, True),
        ("p99>+50%", 2.0, 3.5, True),
    ],
)
def test_fail_on_rules(text, base, new, broken):
    rule = FailRule.parse(text)
    if rule.metric == "calls":
        old, cur = fs("f", base), fs("f", new)
    elif rule.metric == "p99":
        old, cur = fs("f", 1, p99=base, samples=5), fs("f", 1, p99=new, samples=5)
    else:
        old, cur = fs("f", 1, base, base), fs("f", 1, new, new)
    (row,) = monitrace.diff([old], [cur], include_same=True)
    assert rule.broken_by(row) is broken


@pytest.mark.parametrize("text", ["calls", "calls<0", "tottime>-5%", "calls>1.5", "speed>1"])
def test_fail_on_rejects_nonsense(text, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["a", "b", "--fail-on", text])
    assert exit.value.code == 2
    assert "--fail-on" in capsys.readouterr().err


PROGRAM = textwrap.dedent("""
    import sys
    import monitrace

    {pad}def leaf(x):
        return x + 1

    def work(n):
        return sum(leaf(i) for i in range(n))

    def only_new():
        return 1

    with monitrace.trace(live=False) as s:
        work(int(sys.argv[1]))
        if len(sys.argv) > 3:
            only_new()
    s.save(sys.argv[2])
""")


def _run(tmp_path, n, out, pad="", extra=()):
    script = tmp_path / "prog.py"  # the same file, edited between runs
    script.write_text(PROGRAM.replace("{pad}", pad))
    subprocess.run(
        [sys.executable, str(script), str(n), str(out), *extra], check=True, cwd=tmp_path
    )
    return out


@pytest.mark.parametrize("suffix", [".json", ".pstats"])
def test_saved_runs_compare_exactly(tmp_path, suffix, capsys):
    a = _run(tmp_path, 10, tmp_path / f"a{suffix}")
    b = _run(tmp_path, 15, tmp_path / f"b{suffix}", pad="\n\n\n", extra=["x"])
    stem = "prog" if suffix == ".pstats" else "__main__"
    assert main([str(a), str(b), "--calls-only", "--format", "json"]) == 0
    rows = {r["function"].rsplit(".", 1)[-1]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"leaf", "only_new"}
    leaf = rows["leaf"]
    assert (leaf["status"], leaf["base_calls"], leaf["new_calls"], leaf["calls_delta"]) == (
        "changed",
        10,
        15,
        5,
    )
    assert leaf["line"] == 8 and leaf["function"].startswith(stem)  # moved from line 5
    assert rows["only_new"]["status"] == "added" and rows["only_new"]["base_cumtime"] == 0
    for key in ("file", "base_tottime", "new_tottime", "base_cumtime", "new_cumtime"):
        assert key in leaf
    assert main([str(a), str(b), "--fail-on", "calls>0"]) == 1
    out, err = capsys.readouterr()
    assert "calls>0 broken by" in err and "leaf" in err
    assert "10 -> 15" in out
    assert main([str(a), str(a), "--fail-on", "calls>0"]) == 0


def test_cprofile_pstats_and_pytest_summaries_load(tmp_path):
    def twice(x):
        return x * 2

    prof = cProfile.Profile()
    prof.enable()
    for i in range(7):
        twice(i)
    prof.disable()
    prof.dump_stats(tmp_path / "c.pstats")
    (row,) = [s for s in load(tmp_path / "c.pstats") if s.name == "twice"]
    assert row.calls == 7 and row.filename == __file__
    summary = {
        "version": 1,
        "tests_traced": 1,
        "slowest_tests": [],
        "functions": [dict(dataclasses.asdict(fs("h", 4)), histogram=[])],
    }
    (tmp_path / "s.json").write_text(json.dumps(summary))
    assert [(s.qualname, s.calls) for s in load(tmp_path / "s.json")] == [("h", 4)]
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ValueError, match="did not write"):
        load(tmp_path / "other.json")
    (tmp_path / "junk").write_bytes(b"\x00junk")
    with pytest.raises(ValueError, match="neither monitrace JSON nor a pstats"):
        load(tmp_path / "junk")


def test_session_diff():
    def leaf():
        return 1

    with monitrace.trace(live=False) as a:
        for _ in range(3):
            leaf()
    with monitrace.trace(live=False) as b:
        for _ in range(5):
            leaf()
    (row,) = [r for r in a.diff(b, calls_only=True) if r.function.endswith("leaf")]
    assert isinstance(row, DiffRow)
    assert (row.base_calls, row.new_calls, row.status) == (3, 5, "changed")


def test_markdown_and_text(tmp_path, capsys):
    a = _run(tmp_path, 2, tmp_path / "a.json")
    b = _run(tmp_path, 4, tmp_path / "b.json")
    assert main([str(a), str(b), "--calls-only", "--format", "markdown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| function | status | base calls")
    assert any(l.startswith("| `__main__.leaf` | changed | 2 | 4 | +2 |") for l in lines)
    assert main([str(a), str(b), "--calls-only", "--limit", "0"]) == 0
    out = capsys.readouterr().out
    assert "1 changed, 0 added, 0 removed" in out and "__main__.leaf" in out
    assert main([str(a), str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err


def test_the_command_runs_diff_and_a_script_named_diff(tmp_path):
    a = _run(tmp_path, 2, tmp_path / "a.json")
    b = _run(tmp_path, 3, tmp_path / "b.json")
    cmd = [sys.executable, "-m", "monitrace"]
    r = subprocess.run(
        [*cmd, "diff", str(a), str(b), "--calls-only", "--fail-on", "calls>0"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "2 -> 3" in r.stdout and "calls>0 broken" in r.stderr
    (tmp_path / "diff").write_text("print('the script ran')\n")
    r = subprocess.run([*cmd, "./diff"], capture_output=True, text=True, cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "the script ran\n")
