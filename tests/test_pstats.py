"""The pstats export against cProfile on the same workloads, and real
consumers of the format (pstats, gprof2dot, snakeviz, tuna)."""

import cProfile
import io
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

CASES = [
    "fib",
    "mutual",
    "exceptions",
    "objects",
    "decorators",
    "lambdas",
    "from_c",
    "everything",
    "builtins_by_kind",
]

ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


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


def _unaddressed(key):
    return key[:2] + (ADDRESS.sub("", key[2]),)


def _cprofile(case, c_calls):
    """cProfile's stats, C labels without addresses (monitrace writes
    none: `<built-in method __new__ of type object at 0x...>` changes from
    run to run)."""
    prof = cProfile.Profile(builtins=c_calls)
    # 3.14's enable() resets builtins to its own default (True) when not
    # given, so the constructor's builtins=False alone is lost.
    prof.enable(subcalls=True, builtins=c_calls)
    try:
        _run(case)
    finally:
        prof.disable()
    return {
        _unaddressed(key): entry[:4] + ({_unaddressed(c): v for c, v in entry[4].items()},)
        for key, entry in pstats.Stats(prof).stats.items()
    }


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
    for key, (_cc, nc, tt, _ct, callers) in st.items():
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
    assert callers == {sorted_key: (20, 20), ("~", 0, "<built-in method builtins.max>"): (9, 9)}


def test_builtins_of_every_binding_keyed_without_addresses(tmp_path):
    """Class and static methods get cProfile's short label; `__new__` of
    two types shares one entry, as in cProfile; no key has an address."""
    with monitrace.trace(c_calls=True) as s:
        workloads.builtins_by_kind()
    s.save(tmp_path / "k.pstats")
    st = pstats.Stats(str(tmp_path / "k.pstats")).stats
    assert not [k for k in st if ADDRESS.search(k[2])]
    caller = (FILE, workloads.builtins_by_kind.__code__.co_firstlineno, "builtins_by_kind")
    expected = {
        "<built-in method fromkeys>": 1,
        "<built-in method from_bytes>": 1,
        "<built-in method now>": 1,
        "<built-in method __new__ of type object>": 2,
        "<method 'append' of 'list' objects>": 2,
        "<built-in method builtins.len>": 1,
        "<built-in method builtins.sorted>": 1,
    }
    for label, calls in expected.items():
        cc, nc, _tt, _ct, callers = st[("~", 0, label)]
        assert (nc, cc) == (calls, calls), label
        assert {k: v[:2] for k, v in callers.items()} == {caller: (calls, calls)}, label
    # str.maketrans: 3.15 gives static methods a __module__, as cProfile shows.
    maketrans = [k[2] for k in st if "maketrans" in k[2]]
    assert maketrans == (
        ["<built-in method builtins.maketrans>"]
        if sys.version_info >= (3, 15)
        else ["<built-in method maketrans>"]
    )


def test_report_names_builtins_by_their_type():
    with monitrace.trace(c_calls=True) as s:
        workloads.builtins_by_kind()
    names = {r.qualname: (r.module, r.location) for r in s.stats() if r.kind == "c"}
    assert names["dict.fromkeys"] == ("builtins", "{built-in method dict.fromkeys}")
    assert names["int.from_bytes"] == ("builtins", "{built-in method int.from_bytes}")
    assert names["datetime.now"] == ("datetime", "{built-in method datetime.datetime.now}")
    assert names["tuple.__new__"] == ("builtins", "{built-in method tuple.__new__}")
    assert names["object.__new__"] == ("builtins", "{built-in method object.__new__}")
    assert names["str.maketrans"] == ("builtins", "{built-in method str.maketrans}")
    assert names["list.append"] == ("builtins", "{method 'append' of 'list' objects}")
    assert names["len"] == ("builtins", "{built-in method builtins.len}")
    text = s.report(file=io.StringIO())
    assert "{built-in method dict.fromkeys}" in text
    assert not ADDRESS.search(text)
    assert s.calls("builtins.dict.fromkeys") == 1
    assert s.calls("builtins.tuple.__new__") == s.calls("builtins.object.__new__") == 1


def test_builtins_sharing_a_label_are_summed():
    """bytes.fromhex and bytearray.fromhex are two functions with one
    cProfile label; the pstats entry holds both (cProfile's own stats keep
    only the last: its raw entries are the reference)."""

    def body():
        return bytes.fromhex("00"), bytearray.fromhex("0101"), bytes.fromhex("02")

    prof = cProfile.Profile()
    prof.enable(subcalls=True, builtins=True)
    body()
    prof.disable()
    expected = sum(
        e.callcount
        for e in prof.getstats()
        if isinstance(e.code, str) and e.code == "<built-in method fromhex>"
    )
    with monitrace.trace(c_calls=True) as s:
        body()
    st = monitrace.exporters.pstats.build(s.snapshot())
    assert st[("~", 0, "<built-in method fromhex>")][1] == expected == 3
    by_type = {r.qualname: r.calls for r in s.stats() if r.kind == "c"}
    assert (by_type["bytes.fromhex"], by_type["bytearray.fromhex"]) == (2, 1)


def test_generators_count_once_per_start(tmp_path):
    """The documented difference: cProfile counts every resume."""
    with monitrace.trace() as s:
        workloads.consume_generator()
    s.save(tmp_path / "g.pstats")
    st = pstats.Stats(str(tmp_path / "g.pstats")).stats
    key = (FILE, workloads.countdown.__code__.co_firstlineno, "countdown")
    caller = (FILE, workloads.consume_generator.__code__.co_firstlineno, "consume_generator")
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
        [sys.executable, "-m", "gprof2dot", "-f", "pstats", "-n0", "-e0", str(mutual_profile)],
        check=True,
        capture_output=True,
        text=True,
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
