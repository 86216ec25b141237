"""Call counts against cProfile's on the same workloads."""

import asyncio
import cProfile
import pstats
import sys

import pytest

import monitrace
import workloads
from conftest import cprofile_counts, monitrace_counts

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
]


def _run(name):
    func = getattr(workloads, name)
    if name == "fib":
        return func(14)
    return func()


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("c_calls", [False, True])
def test_counts_equal_cprofile(case, c_calls):
    expected = cprofile_counts(_run, case, filename=FILE)
    with monitrace.trace(c_calls=c_calls) as s:
        _run(case)
    got = monitrace_counts(s, filename=FILE)
    assert got == expected
    assert got  # the workload did run


def test_recursion_counts_are_exact():
    with monitrace.trace() as s:
        workloads.fib(10)
    (fib,) = [x for x in s.stats() if x.name == "fib"]
    assert (fib.calls, fib.primitive_calls) == (177, 1)
    assert s.calls("workloads.fib") == 177
    assert s.calls("fib") == 177


def test_mutual_recursion_primitive_calls():
    with monitrace.trace() as s:
        workloads.is_even(9)
    assert s.calls("is_even") == 5
    assert s.calls("is_odd") == 5
    by_name = {x.name: x for x in s.stats()}
    assert by_name["is_even"].primitive_calls == 1
    assert by_name["is_odd"].primitive_calls == 1


def test_c_functions_get_rows():
    with monitrace.trace(c_calls=True) as s:
        workloads.from_c()
    labels = {x.location: x for x in s.stats() if x.kind == "c"}
    assert labels["{built-in method builtins.sorted}"].calls == 1
    assert labels["{built-in method builtins.max}"].calls == 1
    assert s.calls("builtins.sorted") == 1
    # keyfn runs inside sorted and max: 20 + 9 calls, all nested under them
    assert s.calls("workloads.keyfn") == 29


def test_c_counts_equal_cprofile_builtins():
    def body():
        x = []
        for i in range(50):
            x.append(i)
        return len(x), sorted(x, key=workloads.keyfn)

    prof = cProfile.Profile()
    prof.runcall(body)
    st = pstats.Stats(prof).stats
    cp = {name: nc for (f, l, name), (cc, nc, *_r) in st.items() if f == "~"}
    with monitrace.trace(c_calls=True) as s:
        body()
    ours = {x.location[1:-1]: x.calls for x in s.stats() if x.kind == "c"}
    for label in (
        "method 'append' of 'list' objects",
        "built-in method builtins.len",
        "built-in method builtins.sorted",
    ):
        assert ours[label] == cp[f"<{label}>"], label


def test_generator_counts_one_call_per_start():
    expected = cprofile_counts(workloads.consume_generator, filename=FILE)
    with monitrace.trace() as s:
        workloads.consume_generator()
    got = monitrace_counts(s, filename=FILE)
    line = workloads.countdown.__code__.co_firstlineno
    # cProfile counts the start and every resume (3 yields -> 4 entries);
    # monitrace counts the one call.
    assert expected[(line, "countdown")] == (4, 4)
    assert got[(line, "countdown")] == (1, 1)


def test_gather_of_many_coroutines():
    with monitrace.trace() as s:
        result = asyncio.run(workloads.gather_many(200))
    assert result == list(range(200))
    assert s.calls("workloads.leaf") == 200
    assert s.calls("workloads.gather_many") == 1


def test_threads_exact_per_thread_counts():
    counts = [1000, 2000, 3000, 4000]
    with monitrace.trace() as s:
        workloads.run_threads(counts)
    assert s.calls("workloads.work") == sum(counts)
    per_thread = {x.thread_name: x.calls for x in s.stats(by_thread=True) if x.name == "work"}
    assert per_thread == {f"worker-{k}": n for k, n in enumerate(counts)}
    idents = {x.thread_id for x in s.stats(by_thread=True) if x.name == "work"}
    assert len(idents) == 4


def test_thread_started_before_tracing_is_covered():
    import threading

    go = threading.Event()
    done = threading.Event()

    def body():
        go.wait()
        for i in range(25):
            workloads.work(i)
        done.set()

    t = threading.Thread(target=body, name="early")
    t.start()
    with monitrace.trace() as s:
        go.set()
        done.wait()
    t.join()
    per_thread = {x.thread_name: x.calls for x in s.stats(by_thread=True) if x.name == "work"}
    assert per_thread == {"early": 25}


def test_inclusive_at_least_self_everywhere():
    with monitrace.trace(c_calls=True) as s:
        workloads.everything()
        asyncio.run(workloads.gather_many(20))
        workloads.run_threads([100, 200])
    stats = s.stats() + s.stats(by_thread=True)
    assert stats
    for x in stats:
        assert x.total_time >= x.self_time >= 0, x
        assert x.min_time <= x.p50 <= x.p90 <= x.p99 <= x.max_time, x


def test_inside_active_cprofile_both_correct():
    expected = cprofile_counts(workloads.everything, filename=FILE)
    prof = cProfile.Profile()
    prof.enable()
    try:
        with monitrace.trace() as s:
            workloads.everything()
    finally:
        prof.disable()
    st = pstats.Stats(prof).stats
    cp = {(line, name): (nc, cc) for (f, line, name), (cc, nc, *_r) in st.items() if f == FILE}
    assert cp == expected
    assert monitrace_counts(s, filename=FILE) == expected
    assert sys.monitoring.get_tool(sys.monitoring.PROFILER_ID) is None


ANNOTATED = """\
def annotated(x: int, y: "list[str]") -> dict:
    return {}


class Record:
    name: str
    size: int = 0


def read_them():
    return annotated.__annotations__, Record.__annotations__, annotated.__annotations__
"""


def test_annotate_functions_are_counted_calls(tmp_path):
    # 3.14 defers annotations (PEP 649): the first read of __annotations__
    # calls a compiler-made __annotate__ function, a real Python call that
    # cProfile counts too. Fresh objects for each tool: the result is cached.
    path = tmp_path / "annotated.py"
    path.write_text(ANNOTATED)
    filename = str(path)

    def fresh():
        namespace = {"__name__": "annotated"}
        exec(compile(ANNOTATED, filename, "exec"), namespace)
        return namespace

    expected = cprofile_counts(fresh()["read_them"], filename=filename)
    read_them = fresh()["read_them"]
    with monitrace.trace() as s:
        read_them()
    got = monitrace_counts(s, filename=filename)
    assert got == expected
    annotate_calls = {key: calls for key, calls in got.items() if key[1] == "__annotate__"}
    if sys.version_info >= (3, 14):
        # once for the function (line 1), once for the class (line 5)
        assert annotate_calls == {(1, "__annotate__"): (1, 1), (5, "__annotate__"): (1, 1)}
        # named as the interpreter names them (3.15 qualifies the
        # function's: annotated.__annotate__)
        namespace = fresh()
        func_annotate = namespace["annotated"].__annotate__.__code__.co_qualname
        class_annotate = namespace["Record"].__annotate__.__code__.co_qualname
        assert class_annotate == "Record.__annotate__"
        qualnames = {x.qualname for x in s.stats() if x.name == "__annotate__"}
        assert qualnames == {func_annotate, class_annotate}
        with monitrace.trace(record=True) as r:
            namespace["read_them"]()
        assert r.tree().splitlines()[1:5] == [
            f"    Called {func_annotate}:1 from line 11",
            f"    Returning {func_annotate}",
            f"    Called {class_annotate}:5 from line 11",
            f"    Returning {class_annotate}",
        ]
    else:
        assert annotate_calls == {}
