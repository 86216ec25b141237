"""os.fork() while tracing (the child keeps tracing into its own data, or
stops, as trace(fork=...) says) and multiprocessing with fork and spawn.
Each scenario runs in a fresh interpreter with a timeout: a deadlock
fails the test instead of hanging the suite."""

import json
import sys

import pytest
from hostile_util import run_script

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no fork")

FORK_SCRIPT = r"""
import json, os, sys, threading, warnings
import monitrace
from monitrace import _core
from hostile_util import probe

warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
mode, with_threads = sys.argv[1], sys.argv[2] == "threads"

def report(session):
    check = _core.selfcheck(session._tracer)
    names = sorted({t["name"] for t in session.snapshot()["threads"]})
    return {
        "running": session.running,
        "tool": sys.monitoring.get_tool(3),
        "probe": session.calls("hostile_util.probe"),
        "problems": check["problems"],
        "threads": len(check["depths"]),
        "names": names,
        "pid": os.getpid(),
    }

stop = threading.Event()
busy = []
def spin():
    while not stop.is_set():
        probe(6)

session = monitrace.trace(fork=mode)
session.start()
if with_threads:
    busy = [threading.Thread(target=spin, name=f"spin-{i}") for i in range(3)]
    for t in busy:
        t.start()
probe(10)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    try:
        probe(12)
        out = report(session)
        session.stop()
        out["after_stop"] = _core.selfcheck(session._tracer)["problems"]
        out["tool_after_stop"] = sys.monitoring.get_tool(3)
    except BaseException as exc:
        out = {"error": repr(exc)}
    os.write(w, json.dumps(out).encode())
    os._exit(0)
os.close(w)
child = json.loads(os.read(r, 100000).decode())
_, status = os.waitpid(pid, 0)
probe(10)
stop.set()
for t in busy:
    t.join()
session.stop()
parent = report(session)
print(json.dumps({"child": child, "child_status": status, "parent": parent}))
"""


def run_fork(mode, threads):
    proc = run_script(FORK_SCRIPT, mode, "threads" if threads else "alone", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return json.loads(proc.stdout)


@pytest.mark.parametrize("threads", [False, True], ids=["alone", "threads"])
def test_fork_continue_child_traces_into_its_own_data(threads):
    out = run_fork("continue", threads)
    child, parent = out["child"], out["parent"]
    assert out["child_status"] == 0
    assert "error" not in child, child
    # The child starts empty and counts only what it did after the fork;
    # other threads' states are gone with their threads.
    assert child["running"] is True
    assert child["tool"] == "monitrace"
    assert child["probe"] == 465
    assert child["problems"] == []
    assert child["threads"] == 1
    assert child["names"] == ["MainThread"]
    assert child["after_stop"] == []
    assert child["tool_after_stop"] is None
    # The parent's data is untouched by the child.
    assert parent["problems"] == []
    assert parent["running"] is False and parent["tool"] is None
    main_probe = 2 * 177
    if threads:
        assert parent["probe"] > main_probe
        assert parent["names"] == ["MainThread", "spin-0", "spin-1", "spin-2"]
    else:
        assert parent["probe"] == main_probe


@pytest.mark.parametrize("threads", [False, True], ids=["alone", "threads"])
def test_fork_stop_child_is_not_traced(threads):
    out = run_fork("stop", threads)
    child, parent = out["child"], out["parent"]
    assert out["child_status"] == 0
    assert "error" not in child, child
    assert child["running"] is False
    assert child["tool"] is None  # the child's tool id was given back
    assert child["probe"] == 0
    assert child["problems"] == []
    assert child["threads"] == 0
    if not threads:
        assert parent["probe"] == 2 * 177
    assert parent["problems"] == []


def test_fork_option_validated():
    import monitrace

    with pytest.raises(ValueError, match="fork must be one of 'stop', 'continue', not 'keep'"):
        monitrace.trace(fork="keep")
    with pytest.raises(ValueError, match="fork must be one of"):
        monitrace.trace(fork=None)


FORK_IN_FILTER_SCRIPT = r"""
import os, sys
from monitrace import _core

def target():
    return 5

tr = None
forked = []
def forking_filter(code):
    if code is target.__code__ and not forked:
        forked.append(1)
        pid = os.fork()
        if pid == 0:
            # the child, still inside the filter: reset as the hook would
            tr._after_fork_child(keep=True)
            return True
        os.waitpid(pid, 0)
    return True

tr = _core.Tracer(filter=forking_filter)
tr.start()
value = target()
value += target()
errors = tr.stop()
problems = _core.selfcheck(tr)["problems"]
print(os.getpid() == PARENT, value, errors, problems, flush=True)
if os.getpid() != PARENT:
    os._exit(0)
"""


def test_fork_from_inside_a_filter():
    # The child resumes inside a callback's slow path whose tracer was
    # just reset: the slow path must drop its event, not touch freed data.
    script = "import os\nPARENT = os.getpid()\n" + FORK_IN_FILTER_SCRIPT
    proc = run_script(script, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = sorted(proc.stdout.splitlines())
    assert lines == ["False 10 [] []", "True 10 [] []"]


MP_SCRIPT = r"""
import json, multiprocessing, sys
import monitrace
from hostile_util import probe

def work(n):
    return probe(n)

if __name__ == "__main__":
    ctx = multiprocessing.get_context(sys.argv[1])
    expected = [probe(n) for n in range(12)]
    with monitrace.trace(fork=sys.argv[2]) as s:
        with ctx.Pool(2) as pool:
            got = pool.map(work, range(12))
        probe(10)
    print(json.dumps({"same": got == expected, "probe": s.calls("hostile_util.probe"),
                      "errors": s.errors}))
"""


@pytest.mark.parametrize("method,fork", [("fork", "stop"), ("fork", "continue"), ("spawn", "stop")])
def test_multiprocessing_pool_under_tracing(method, fork):
    proc = run_script(MP_SCRIPT, method, fork, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    # Workers run in other processes; the parent counts its own calls.
    assert out == {"same": True, "probe": 177, "errors": []}
