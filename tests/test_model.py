"""model.py: the one data model between the C core and its readers."""

import os
import sysconfig
import types

import pytest

import monitrace
from monitrace import _core, model

import workloads


def test_event_kinds_are_numbered_once_in_c():
    assert _core.EVENT_KINDS == model.KIND_NAMES
    assert [model.Kind[name.upper()] for name in _core.EVENT_KINDS] == list(range(10))
    model.check_core(_core)
    fake = types.SimpleNamespace(EVENT_KINDS=("call", "yield", "return"))
    with pytest.raises(ImportError, match="numbers event kinds"):
        model.check_core(fake)


def test_snapshot_rows_and_edges_are_typed():
    with monitrace.trace(live=False) as s:
        workloads.fib(5)
    snap = s.snapshot()
    idx = next(
        i
        for i, (kind, key, _m, _t) in enumerate(snap["records"])
        if kind == "py" and key.co_name == "fib"
    )
    (row,) = [r for th in snap["threads"] for r in th["rows"] if r.function == idx]
    assert isinstance(row, _core.Row) and isinstance(row, tuple)
    assert (row.calls, row.primitive_calls) == (row[1], row[2]) == (15, 1)
    assert row.segments is None and row.samples == 15
    assert sum(count for _lo, _hi, count in row.histogram) == 15
    edges = [e for th in snap["threads"] for e in th["edges"] if e.callee == idx]
    assert all(isinstance(e, _core.Edge) for e in edges)
    assert sum(e.calls for e in edges if e.caller == idx) == 14
    assert _core.Row.n_fields == 11 and _core.Edge.n_fields == 6


def test_generator_rows_carry_typed_segments():
    with monitrace.trace(live=False) as s:
        list(workloads.countdown(3))
    snap = s.snapshot()
    idx = next(
        i
        for i, (kind, key, _m, _t) in enumerate(snap["records"])
        if kind == "py" and key.co_name == "countdown"
    )
    (row,) = [r for th in snap["threads"] for r in th["rows"] if r.function == idx]
    assert isinstance(row.segments, _core.Segments)
    assert (row.calls, row.segments.samples) == (1, 4)  # 3 yields, then the return


def test_one_name_for_a_c_function_everywhere():
    with monitrace.trace(c_calls=True, live=False) as s:
        sorted([2, 1])
    names = model.NameTable(s.snapshot()["records"])
    (srt,) = [names[i] for i in range(len(names)) if names[i].qualname == "sorted"]
    (stats,) = [f for f in s.stats() if f.qualname == "sorted"]
    assert srt.full_name == stats.full_name == "builtins.sorted"
    assert srt.name == stats.name == "<built-in method builtins.sorted>"
    assert (srt.kind, srt.library) == ("c", True)


def test_python_function_names():
    with monitrace.trace(live=False) as s:
        workloads.fib(2)
    names = model.NameTable(s.snapshot()["records"])
    (fib,) = [names[i] for i in range(len(names)) if names[i].qualname == "fib"]
    assert fib.full_name == "workloads.fib"
    assert fib.display == "fib" and fib.library is False
    assert fib.short_file == os.path.relpath(workloads.__file__)


def test_short_path():
    std = sysconfig.get_paths()["stdlib"]
    assert model.short_path(os.path.join(std, "json", "__init__.py"), cwd="/nowhere") == (
        "<stdlib>/json/__init__.py"
    )
    assert model.short_path("/v/lib/python3.12/site-packages/pkg/m.py", cwd="/v") == (
        "site-packages/pkg/m.py"
    )
    assert model.short_path("/home/u/proj/app/m.py", cwd="/home/u/proj") == "app/m.py"
    assert model.short_path("/home/u/projx/m.py", cwd="/home/u/proj") == "/home/u/projx/m.py"
    assert model.short_path("<string>") == "<string>"
    assert model.short_path("/a/b.py", cwd="/") == "/a/b.py"
