"""Helpers for the hostile-conditions tests: run code traced and untraced
and compare, check the tracer's C tables, run scripts in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from typing import Any

import monitrace
from monitrace import _core

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def probe(n):
    return n if n < 2 else probe(n - 1) + probe(n - 2)


PROBE_CALLS = {10: 177, 12: 465}


def outcome(fn: Callable[[list], Any]) -> tuple:
    """What running fn(log) did: its result or exception, and its log."""
    log: list = []
    try:
        result = fn(log)
    except BaseException as exc:  # noqa: BLE001 - comparing outcomes
        return ("raised", type(exc), str(exc), log)
    return ("returned", result, log)


def same_as_untraced(fn: Callable[[list], Any], **options: Any) -> monitrace.Session:
    """Run fn(log) untraced, then inside a session; both must do the same
    thing. Returns the (stopped) session, checked for consistency."""
    expected = outcome(fn)
    session = monitrace.trace(**options)
    session.start()
    try:
        got = outcome(fn)
    finally:
        session.stop()
    assert got == expected
    assert_consistent(session)
    return session


def tracer_of(obj: Any) -> _core.Tracer:
    return obj if isinstance(obj, _core.Tracer) else obj._tracer


def assert_consistent(obj: Any, *, stopped: bool | None = None) -> dict:
    """Every invariant of the C tables holds; once stopped, every stack is
    empty and no row counts an activation as still running."""
    tr = tracer_of(obj)
    check = _core.selfcheck(tr)
    assert check["problems"] == []
    if stopped is None:
        stopped = not tr.running
    if stopped:
        assert [d for _, d in check["depths"] if d] == []
    return check


def assert_still_exact(session: monitrace.Session) -> None:
    """After whatever happened, a fresh run of probe(10) in the same
    session adds exactly its calls and one primitive call: no stale frame
    or counter was left behind."""

    def counts():
        rows = [s for s in session.stats() if s.qualname == "probe" and s.module == "hostile_util"]
        return (sum(r.calls for r in rows), sum(r.primitive_calls for r in rows))

    calls0, prim0 = counts()
    with session:
        probe(10)
    calls1, prim1 = counts()
    assert (calls1 - calls0, prim1 - prim0) == (PROBE_CALLS[10], 1)
    assert_consistent(session)


def run_script(
    code: str, *args: str, timeout: float = 60, env: dict | None = None, input: str | None = None
) -> subprocess.CompletedProcess:
    """Run `code` as a script file in a fresh interpreter (the one running
    the tests), with the tests' helpers importable. Never hangs: a timeout
    fails the test."""
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.abspath(__file__)), TESTS_DIR]
    )
    full_env.pop("COVERAGE_PROCESS_START", None)
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "script.py")
        with open(script, "w") as f:
            f.write(textwrap.dedent(code))
        return subprocess.run(
            [sys.executable, script, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            input=input,
            cwd=tmp,
        )
