"""Interpreter shutdown with a trace never stopped: no crash, the same
output and exit code as untraced, atexit handlers traced or not as their
order says. Each case runs in a fresh interpreter with a timeout."""

import re

import pytest
from hostile_util import run_script

PROGRAM = """
import atexit, sys, threading
import monitrace
from hostile_util import probe

mode = sys.argv[1]

def spin(stop):
    while not stop.is_set():
        probe(5)

def gen():
    try:
        while True:
            yield probe(4)
    finally:
        print("generator finalised", flush=True)

if mode == "traced":
    session = monitrace.trace(c_calls=True).start()

print("result", probe(10))
stop = threading.Event()
threading.Thread(target=spin, args=(stop,), daemon=True).start()
g = gen()
next(g)  # left suspended: finalised during shutdown
if sys.argv[2] == "exception":
    raise LookupError("unhandled")
if sys.argv[2] == "exit":
    sys.exit(7)
"""


def normalised(text):
    return re.sub(r'File "[^"]*script.py"', 'File "script.py"', text)


@pytest.mark.parametrize("ending", ["normal", "exception", "exit"])
def test_never_stopped_same_output_and_exit_code(ending):
    plain = run_script(PROGRAM, "plain", ending)
    traced = run_script(PROGRAM, "traced", ending)
    assert traced.returncode == plain.returncode
    assert traced.stdout == plain.stdout
    assert normalised(traced.stderr) == normalised(plain.stderr)
    assert plain.returncode == {"normal": 0, "exception": 1, "exit": 7}[ending]
    assert "result 55" in plain.stdout


ATEXIT_PROGRAM = """
import atexit
import monitrace
from hostile_util import probe

def report_after_stop():
    # registered before the session started: runs after monitrace's own
    # handler stopped it, and reads the complete data
    print("running at the end:", session.running)
    print("probe calls:", session.calls("hostile_util.probe"))

def traced_handler():
    # registered after the start: runs while the session still traces
    print("handler result", probe(6))

atexit.register(report_after_stop)
session = monitrace.trace().start()
atexit.register(traced_handler)
probe(10)
"""


def test_atexit_handlers_traced_or_not_by_their_order():
    proc = run_script(ATEXIT_PROGRAM)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == [
        "handler result 8",
        "running at the end: False",
        f"probe calls: {177 + 25}",
    ]


RAW_TRACER_PROGRAM = """
import sys
from monitrace import _core
from hostile_util import probe

tr = _core.Tracer(c_calls=True)
tr.start()
probe(10)
if sys.argv[1] == "drop":
    del tr  # kept alive by its callbacks until finalization
print("ok", flush=True)
"""


@pytest.mark.parametrize("how", ["keep", "drop"])
def test_raw_tracer_never_stopped_finalizes_cleanly(how):
    proc = run_script(RAW_TRACER_PROGRAM, how)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "ok\n", "")


STARTED_DURING_SHUTDOWN = """
import atexit
import monitrace
from hostile_util import probe

def late():
    s = monitrace.trace().start()
    probe(8)
    print("late calls", s.calls("hostile_util.probe"), flush=True)

atexit.register(late)
print("main done", flush=True)
"""


def test_trace_started_inside_an_atexit_handler():
    proc = run_script(STARTED_DURING_SHUTDOWN)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.splitlines() == ["main done", "late calls 67"]


NESTED_AT_EXIT = """
import monitrace
from hostile_util import probe

outer = monitrace.trace().start()
inner = monitrace.trace(c_calls=True).start()
probe(9)
print("two sessions running", outer.tool_id != inner.tool_id)
"""


def test_two_sessions_never_stopped():
    proc = run_script(NESTED_AT_EXIT)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "two sessions running True\n", "")
