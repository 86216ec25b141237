import cProfile
import os
import pstats
import sys

import pytest

import monitrace
import monitrace._core

sys.path.insert(0, os.path.dirname(__file__))

pytest_plugins = ["pytester"]


def pytest_report_header(config):
    return [
        f"monitrace {monitrace.__version__}: _core from {monitrace._core.__file__}",
        f"invariant TSC: {monitrace._core.tsc_usable()}",
    ]


@pytest.fixture(autouse=True)
def _tool_ids_are_free_after_each_test():
    yield
    held = {i: sys.monitoring.get_tool(i) for i in (3, 4)}
    assert held == {3: None, 4: None}, f"a test left a tool id taken: {held}"


def cprofile_counts(func, *args, filename):
    """{(lineno, name): (total calls, primitive calls)} of the functions in
    `filename`, as cProfile counts them for func(*args)."""
    prof = cProfile.Profile()
    prof.runcall(func, *args)
    st = pstats.Stats(prof).stats
    return {
        (line, name): (nc, cc)
        for (file, line, name), (cc, nc, tt, ct, callers) in st.items()
        if file == filename
    }


def monitrace_counts(session, *, filename):
    return {
        (s.firstlineno, s.name): (s.calls, s.primitive_calls)
        for s in session.stats()
        if s.filename == filename
    }
