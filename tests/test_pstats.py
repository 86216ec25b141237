"""The pstats export against cProfile on the same workloads, and real
consumers of the format (pstats, gprof2dot, snakeviz, tuna)."""

import cProfile
import marshal
import pstats
import re
import subprocess
import sys

import pytest

import monitrace
import monitrace.exporters.pstats
import workloads

FILE = workloads.__file__

CASES = ["fib", "mutual", "exceptions", "objects", "decorators", "lambdas", "from_c",
         "everything"]


def _run(name):
    func = getattr(workloads, name)
    return func(14) if name == "fib" else func()


def _shape(stats):
    """{callee: (calls, primitive, {caller: (calls, primitive)})} for the
    workload's functions and the C functions they call directly, callers
    limited to the workload (what both profilers see the same way)."""
    out = {}
    for key, (cc, nc, _tt, _ct, callers) in stats.items():
        mine = {c: (v[0], v[1]) for c, v in callers.items() if c[0] == FILE}
        if key[0] == FILE or (key[0] == "~" and mine):
            out[key] = (nc, cc, mine)
    return out


def _cprofile(case, c_calls):
    prof = cProfile.Profile(builtins=c_calls)
    prof.runcall(_run, case)
    return pstats.Stats(prof).stats


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("c_calls", [False, True])
def test_functions_and_caller_edges_equal_cprofile(tmp_path, case, c_calls):
    expected = _shape(_cprofile(case, c_calls))
    with monitrace.trace(c_calls=c_calls) as s:
        _run(case)
    path = tmp_path / "run.pstats"
    assert s.save(path) == "pstats"
    got = _shape(pstats.Stats(str(path)).stats)
    assert got == expected
    assert any(callers for _n, _c, callers in got.values())


def test_recursive_edge_counts_and_cumtime():
    with monitrace.trace() as s:
        workloads.fib(6)
    st = monitrace.exporters.pstats.build(s.snapshot())
    key = (FILE, workloads.fib.__code__.co_firstlineno, "fib")
    cc, nc, tt, ct, callers = st[key]
    assert (nc, cc) == (25, 1)
    # fib -> fib: 24 calls, primitive only for the two children of the
    # outermost call (the edge is not active when each of them starts).
    enc, ecc, ett, ect = callers[key]
    assert (enc, ecc) == (24, 2)
    # Inclusive time of the edge counts its outermost activations only, so
    # it cannot exceed the function's own; self time adds up exactly.
    assert ect <= ct
    assert ett <= tt
    assert ct >= tt > 0


def test_caller_edges_sum_to_callee_calls():
    with monitrace.trace(c_calls=True) as s:
        workloads.everything()
    st = monitrace.exporters.pstats.build(s.snapshot())
    everything = (FILE, workloads.everything.__code__.co_firstlineno, "everything")
    for key, (cc, nc, tt, ct, callers) in st.items():
        if key == everything or key[0] != FILE:
            continue
        assert sum(v[0] for v in callers.values()) == nc, key
        assert sum(v[2] for v in callers.values()) == pytest.approx(tt), key


def test_c_functions_keyed_as_cprofile_keys_them(tmp_path):
    with monitrace.trace(c_calls=True) as s:
        workloads.from_c()
    s.save(tmp_path / "c.prof")
    st = pstats.Stats(str(tmp_path / "c.prof")).stats
    from_c = (FILE, workloads.from_c.__code__.co_firstlineno, "from_c")
    sorted_key = ("~", 0, "<built-in method builtins.sorted>")
    assert st[sorted_key][:2] == (1, 1)
    assert {k: v[:2] for k, v in st[sorted_key][4].items()} == {from_c: (1, 1)}
    keyfn = (FILE, workloads.keyfn.__code__.co_firstlineno, "keyfn")
    callers = {k: v[:2] for k, v in st[keyfn][4].items()}
    assert callers == {sorted_key: (20, 20),
                       ("~", 0, "<built-in method builtins.max>"): (9, 9)}


def test_generators_count_once_per_start(tmp_path):
    """The documented difference: cProfile counts every resume."""
    with monitrace.trace() as s:
        workloads.consume_generator()
    s.save(tmp_path / "g.pstats")
    st = pstats.Stats(str(tmp_path / "g.pstats")).stats
    key = (FILE, workloads.countdown.__code__.co_firstlineno, "countdown")
    caller = (FILE, workloads.consume_generator.__code__.co_firstlineno,
              "consume_generator")
    cc, nc, tt, ct, callers = st[key]
    assert (nc, cc) == (1, 1)
    assert callers[caller][:2] == (1, 1)
    assert _cprofile("consume_generator", False)[key][:2] == (4, 4)


def test_threads_are_merged():
    with monitrace.trace() as s:
        workloads.run_threads([10, 20])
    st = monitrace.exporters.pstats.build(s.snapshot())
    work = (FILE, workloads.work.__code__.co_firstlineno, "work")
    worker = (FILE, workloads.thread_worker.__code__.co_firstlineno, "thread_worker")
    assert st[work][:2] == (30, 30)
    assert st[work][4][worker][:2] == (30, 30)


def test_file_is_plain_marshal(tmp_path):
    with monitrace.trace() as s:
        workloads.fib(3)
    s.save(tmp_path / "x.pstats")
    with open(tmp_path / "x.pstats", "rb") as f:
        data = marshal.load(f)
    key = (FILE, workloads.fib.__code__.co_firstlineno, "fib")
    assert data[key][:2] == (1, 5)


# ---- real consumers --------------------------------------------------------

@pytest.fixture
def mutual_profile(tmp_path):
    with monitrace.trace() as s:
        workloads.mutual()
    path = tmp_path / "mutual.pstats"
    s.save(path)
    return path


def test_gprof2dot_draws_the_graph(mutual_profile):
    pytest.importorskip("gprof2dot")
    dot = subprocess.run(
        [sys.executable, "-m", "gprof2dot", "-f", "pstats", "-n0", "-e0",
         str(mutual_profile)],
        check=True, capture_output=True, text=True,
    ).stdout
    nodes = dict(re.findall(r'^\s*(\d+) \[.*label="workloads:\d+:(\w+)\\n', dot, re.M))
    by_name = {name: node for node, name in nodes.items()}
    assert set(by_name) == {"mutual", "is_even", "is_odd"}
    edges = set(re.findall(r"^\s*(\d+) -> (\d+) ", dot, re.M))
    assert edges == {
        (by_name["mutual"], by_name["is_even"]),
        (by_name["is_even"], by_name["is_odd"]),
        (by_name["is_odd"], by_name["is_even"]),
    }
    assert re.search(r'label="workloads:\d+:is_even\\n[^"]*\\n42×"', dot)


def test_snakeviz_reads_it(mutual_profile):
    stats_mod = pytest.importorskip("snakeviz.stats")
    stats = pstats.Stats(str(mutual_profile))
    rows = {row[-1].rsplit("(", 1)[1].rstrip(")"): row for row in stats_mod.table_rows(stats)}
    assert rows["is_even"][0] == ["42/12", 42]
    tree = stats_mod.json_stats(stats)
    (mutual,) = [k for k in tree if k.endswith("(mutual)")]
    (is_even,) = [k for k in tree if k.endswith("(is_even)")]
    assert list(tree[mutual]["children"]) == [is_even]


def test_tuna_reads_it(mutual_profile):
    tuna_main = pytest.importorskip("tuna.main")
    tree = tuna_main.read(str(mutual_profile))

    def names(node):
        yield node["text"][-1] if len(node["text"]) > 1 else node["text"][0]
        for child in node.get("children", ()):
            yield from names(child)

    found = " ".join(names(tree))
    assert tree["text"][0].endswith("::mutual")
    assert "::is_even" in found and "::is_odd" in found
