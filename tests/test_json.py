"""The monitrace/1 JSON export: parsed back and checked value by value."""

import gzip
import json

import pytest

import monitrace
import workloads

FILE = workloads.__file__


def _load(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize("name", ["stats.json", "stats.json.gz"])
def test_stats_document(tmp_path, name):
    with monitrace.trace() as s:
        workloads.mutual()
    assert s.save(tmp_path / name) == "json"
    doc = _load(tmp_path / name)
    assert doc["schema"] == "monitrace/1"
    assert doc["generator"] == f"monitrace {monitrace.__version__}"
    assert doc["clock"] == s.clock
    funcs = {f["id"]: f for f in doc["functions"]}
    by_name = {f["name"]: f for f in funcs.values() if f["filename"] == FILE}
    assert set(by_name) == {"mutual", "is_even", "is_odd"}
    assert by_name["is_odd"] == {
        "id": by_name["is_odd"]["id"],
        "kind": "python",
        "name": "is_odd",
        "qualname": "is_odd",
        "module": "workloads",
        "filename": FILE,
        "lineno": workloads.is_odd.__code__.co_firstlineno,
    }
    assert all(f["module"] != "monitrace.api" for f in funcs.values())
    (thread,) = doc["threads"]
    assert thread["name"] == "MainThread"
    rows = {funcs[r["function"]]["name"]: r for r in thread["stats"]}
    assert (rows["is_even"]["calls"], rows["is_even"]["primitive_calls"]) == (42, 12)
    assert (rows["is_odd"]["calls"], rows["is_odd"]["primitive_calls"]) == (36, 11)
    for r in thread["stats"]:
        assert r["total_ns"] >= r["self_ns"] >= 0
        assert sum(n for _lo, _hi, n in r["histogram"]) == r["samples"] == r["calls"]
        assert r["min_ns"] <= r["max_ns"]
    edges = {
        (funcs[e["caller"]]["name"], funcs[e["callee"]]["name"]): (e["calls"], e["primitive_calls"])
        for e in thread["edges"]
    }
    assert edges == {
        ("mutual", "is_even"): (12, 12),
        ("is_even", "is_odd"): (36, 11),
        ("is_odd", "is_even"): (30, 10),
    }
    assert "events" not in doc


def test_per_thread_sections(tmp_path):
    with monitrace.trace() as s:
        workloads.run_threads([3, 5])
    s.save(tmp_path / "t.json")
    doc = _load(tmp_path / "t.json")
    funcs = {f["id"]: f for f in doc["functions"]}
    work = {
        th["name"]: r["calls"]
        for th in doc["threads"]
        for r in th["stats"]
        if funcs[r["function"]]["name"] == "work"
    }
    assert work == {"worker-0": 3, "worker-1": 5}
    assert len({th["ident"] for th in doc["threads"]}) == len(doc["threads"])


def test_c_functions_are_keyed_like_cprofile(tmp_path):
    with monitrace.trace(c_calls=True) as s:
        workloads.from_c()
    s.save(tmp_path / "c.json")
    doc = _load(tmp_path / "c.json")
    c_names = {f["name"] for f in doc["functions"] if f["kind"] == "c"}
    assert "<built-in method builtins.sorted>" in c_names
    assert all(
        f["filename"] == "~" and f["lineno"] == 0 for f in doc["functions"] if f["kind"] == "c"
    )


def test_process_identity(tmp_path):
    import os
    import sys

    with monitrace.trace() as s:
        workloads.fib(2)
    s.save(tmp_path / "p.json")
    doc = _load(tmp_path / "p.json")
    assert (doc["pid"], doc["argv"]) == (os.getpid(), sys.argv)
