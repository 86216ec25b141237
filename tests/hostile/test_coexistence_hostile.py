"""Running beside other users of the interpreter's hooks: cProfile,
coverage.py, bdb/pdb and sys.settrace users, another sys.monitoring tool
that calls restart_events(), and no tool id left."""

import bdb
import cProfile
import os
import pstats
import sys

import pytest
from hostile_util import (
    assert_consistent,
    assert_still_exact,
    probe,
    run_script,
)

import monitrace

HERE = os.path.dirname(os.path.abspath(__file__))
mon = sys.monitoring


def workload():
    out = [probe(8) for _ in range(3)]
    gen = (probe(k) for k in range(4))
    out.extend(gen)
    try:
        probe(None)
    except TypeError:
        out.append("typeerror")
    return out


WORKLOAD_PROBE_CALLS = 3 * 67 + (1 + 1 + 3 + 5) + 1


def cprofile_probe_calls(prof):
    st = pstats.Stats(prof).stats
    return sum(nc for (f, _, name), (_, nc, *_r) in st.items() if name == "probe")


def test_cprofile_lifetimes_interleaved():
    # cProfile starts first, monitrace second, cProfile stops first.
    prof = cProfile.Profile()
    prof.enable()
    session = monitrace.trace(c_calls=True).start()
    first = workload()
    prof.disable()
    second = workload()
    session.stop()
    assert first == second
    assert cprofile_probe_calls(prof) == WORKLOAD_PROBE_CALLS
    assert session.calls("hostile_util.probe") == 2 * WORKLOAD_PROBE_CALLS
    assert mon.get_tool(mon.PROFILER_ID) is None
    assert_consistent(session)
    assert_still_exact(session)


class LineCounter(bdb.Bdb):
    """A debugger that steps through everything and counts lines."""

    def __init__(self):
        super().__init__()
        self.lines = 0
        self.calls = 0

    def user_call(self, frame, argument_list):
        self.calls += 1
        self.set_step()

    def user_line(self, frame):
        self.lines += 1
        self.set_step()


def test_bdb_debugger_steps_while_traced():
    plain = LineCounter()
    expected = plain.runcall(workload)
    debugger = LineCounter()
    with monitrace.trace() as session:
        got = debugger.runcall(workload)
    assert got == expected
    assert (debugger.lines, debugger.calls) == (plain.lines, plain.calls)
    assert debugger.lines > 100
    assert session.calls("hostile_util.probe") == WORKLOAD_PROBE_CALLS
    assert_consistent(session)


def test_pdb_session_driven_through_stdin():
    script = """
        import pdb, monitrace
        from hostile_util import probe

        def main():
            pdb.set_trace()
            x = probe(10)
            print("x =", x)
            return x

        with monitrace.trace() as s:
            main()
        print("calls", s.calls("hostile_util.probe"))
    """
    proc = run_script(script, input="n\np probe(5)\nn\nc\n", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "x = 55" in proc.stdout
    assert "\n(Pdb) 5\n" in proc.stdout
    # calls made by the debugger's own `p` command run inside a trace
    # callback, where no monitoring events are delivered
    assert "calls 177" in proc.stdout


def test_settrace_user_sees_the_same_events():
    def record(events):
        def tracefunc(frame, event, arg):
            if frame.f_code is probe.__code__:
                events.append(event)
            return tracefunc

        return tracefunc

    plain = []
    sys.settrace(record(plain))
    try:
        expected = workload()
    finally:
        sys.settrace(None)
    traced = []
    with monitrace.trace() as session:
        sys.settrace(record(traced))
        try:
            got = workload()
        finally:
            sys.settrace(None)
    assert got == expected
    assert traced == plain
    assert plain.count("call") == WORKLOAD_PROBE_CALLS
    assert session.calls("hostile_util.probe") == WORKLOAD_PROBE_CALLS


class RestartingTool:
    """Another sys.monitoring tool: counts PY_START of probe and calls
    restart_events() every few events, which re-enables every location
    any tool disabled."""

    def __init__(self, tool_id, every):
        self.tool_id, self.every, self.seen, self.restarts = tool_id, every, 0, 0

    def on_start(self, code, offset):
        if code is probe.__code__:
            self.seen += 1
            if self.seen % self.every == 0:
                mon.restart_events()
                self.restarts += 1
        return None

    def __enter__(self):
        mon.use_tool_id(self.tool_id, "restarter")
        mon.register_callback(self.tool_id, mon.events.PY_START, self.on_start)
        mon.set_events(self.tool_id, mon.events.PY_START)
        return self

    def __exit__(self, *exc):
        mon.set_events(self.tool_id, 0)
        mon.register_callback(self.tool_id, mon.events.PY_START, None)
        mon.free_tool_id(self.tool_id)


def excluded_helper(n):
    return n + 1


def test_another_tool_calling_restart_events():
    alone = RestartingTool(5, every=7)
    with alone:
        expected = workload()

    with RestartingTool(5, every=7) as other:
        with monitrace.trace(c_calls=True) as session:
            got = workload()
            for i in range(50):
                excluded_helper(i)
    assert got == expected
    assert other.seen == alone.seen == WORKLOAD_PROBE_CALLS
    assert other.restarts > 0
    assert session.calls("hostile_util.probe") == WORKLOAD_PROBE_CALLS
    assert session.calls("test_coexistence_hostile.excluded_helper") == 50
    assert_consistent(session)
    assert_still_exact(session)


def test_restart_events_keeps_filtered_code_filtered():
    from monitrace import _core

    def no_helper(code):
        return getattr(code, "co_name", None) != "excluded_helper"

    tr = _core.Tracer(filter=no_helper)
    with RestartingTool(5, every=3):
        tr.start()
        for i in range(30):
            excluded_helper(i)
            probe(3)
        tr.stop()
    snap = tr.snapshot()
    (rec,) = [r for r in snap["records"] if r[1] is excluded_helper.__code__]
    assert rec[3] is False  # re-disabled, never counted
    rows = [
        row
        for t in snap["threads"]
        for row in t["rows"]
        if snap["records"][row[0]][1] is excluded_helper.__code__
    ]
    assert rows == []
    assert_consistent(tr)


def test_all_tool_ids_taken_is_a_clear_error_and_nothing_runs():
    taken = []
    for tool in range(6):
        if mon.get_tool(tool) is None:
            mon.use_tool_id(tool, f"squatter-{tool}")
            taken.append(tool)
    try:
        session = monitrace.trace()
        with pytest.raises(ValueError) as info:
            session.start()
        message = str(info.value)
        assert "3 is held by 'squatter-3'" in message
        assert "4 by 'squatter-4'" in message
        assert not session.running
        assert session.stats() == []
        for tool in range(6):
            with pytest.raises(ValueError, match=f"tool id {tool} is already held"):
                monitrace.trace(tool_id=tool).start()
    finally:
        for tool in taken:
            mon.free_tool_id(tool)
    assert not any(s.running for s in monitrace.api._running)


@pytest.mark.parametrize("core", ["sysmon", "ctrace"])
def test_hostile_suite_passes_under_coverage(core, tmp_path):
    pytest.importorskip("coverage")
    import subprocess

    env = dict(os.environ, COVERAGE_CORE=core, COVERAGE_FILE=str(tmp_path / ".coverage"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "coverage",
            "run",
            "--source",
            HERE,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-x",
            os.path.join(HERE, "test_generators_hostile.py"),
            os.path.join(HERE, "test_recursion_hostile.py"),
            os.path.join(HERE, "test_reentrancy_hostile.py"),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout
