"""Memory: 1,000 start/stop cycles without growth (object counts, blocks
and RSS) and unchanged reference counts of everything the traced code
touches."""

import gc
import os
import sys

from hostile_util import assert_consistent, probe

import monitrace
from monitrace import _core

SANITIZED = bool(os.environ.get("MONITRACE_SANITIZED"))  # scripts/asan.sh


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def gen_work(n):
    for i in range(n):
        yield probe(i % 5)


def cycle_body():
    probe(6)
    sum(gen_work(4))
    try:
        {}["missing"]
    except KeyError:
        pass
    sorted([3, 1, 2])


def bounded_growth(body):
    """Warm up, then run 1,000 cycles twice: no object may survive a cycle,
    and fewer than one memory block per two cycles may be kept. A leak of
    anything made once per cycle keeps at least one block per cycle; what
    stays is interpreter caches and free lists settling (it goes up and
    down from batch to batch and shrinks over time)."""
    measure(1000, body)
    objects1, blocks1, rss1 = measure(1000, body)
    objects2, blocks2, rss2 = measure(1000, body)
    assert objects1 <= 5 and objects2 <= 5
    assert blocks1 + blocks2 < 1000
    if not SANITIZED:  # ASan's quarantine holds freed memory back on purpose
        assert rss1 + rss2 < 1 << 20


def measure(cycles, body):
    gc.collect()
    objects, blocks, rss = len(gc.get_objects()), sys.getallocatedblocks(), rss_bytes()
    for _ in range(cycles):
        body()
    gc.collect()
    return (len(gc.get_objects()) - objects, sys.getallocatedblocks() - blocks, rss_bytes() - rss)


def test_1000_start_stop_cycles_of_one_session_do_not_grow():
    session = monitrace.trace(c_calls=True)

    def one_cycle():
        session.start()
        cycle_body()
        session.stop()

    bounded_growth(one_cycle)
    assert session.calls("hostile_util.probe") == 3000 * (25 + 10)
    assert_consistent(session)


def test_1000_new_sessions_do_not_grow():
    def one_session():
        with monitrace.trace(c_calls=True) as s:
            cycle_body()
        s.stats()

    bounded_growth(one_session)


def test_clear_releases_everything():
    session = monitrace.trace(c_calls=True)

    def fill_and_clear():
        with session:
            cycle_body()
        session.clear()

    bounded_growth(fill_and_clear)


class Payload:
    pass


def consume(a, b, *rest, key=None):
    return (a, b, rest, key)


def produce(obj):
    yield obj
    yield obj


def fail_with(obj):
    raise ValueError(obj)


def test_refcounts_of_traced_objects_unchanged():
    arg, kwarg, result_holder, exc_arg = Payload(), Payload(), [], Payload()
    watched = [
        arg,
        kwarg,
        exc_arg,
        consume,
        produce,
        fail_with,
        consume.__code__,
        produce.__code__,
        fail_with.__code__,
        Payload,
    ]

    def run():
        result_holder.append(consume(arg, arg, arg, key=kwarg))
        result_holder.extend(produce(arg))
        try:
            fail_with(exc_arg)
        except ValueError:
            pass
        result_holder.clear()

    run()  # warm caches (specialisation, etc.)
    gc.collect()
    before = [sys.getrefcount(o) for o in watched]
    run()
    gc.collect()
    assert [sys.getrefcount(o) for o in watched] == before

    for c_calls in (False, True):
        session = monitrace.trace(c_calls=c_calls)
        with session:
            for _ in range(10):
                run()
        gc.collect()
        # not even the traced code objects: the program owns them
        assert [sys.getrefcount(o) for o in watched] == before
        session.clear()
        gc.collect()
        assert [sys.getrefcount(o) for o in watched] == before
        del session
        gc.collect()
        assert [sys.getrefcount(o) for o in watched] == before


def test_raw_tracer_cycles_keep_refcounts():
    code = probe.__code__
    gc.collect()
    before = sys.getrefcount(code)
    for _ in range(200):
        tr = _core.Tracer()
        tr.start()
        probe(4)
        tr.stop()
        del tr
    gc.collect()
    assert sys.getrefcount(code) == before


# ---- c_calls=True never keeps the program's objects alive -----------------


def test_file_written_through_a_bound_c_method_is_closed_when_dropped(tmp_path):
    """`f.write` taken as a bound C method (a callback, a `map`, a local
    alias) reaches CALL as a builtin bound to `f`; its record must not keep
    `f` (and so its unflushed buffer and open descriptor) alive."""
    import weakref

    path = tmp_path / "out.txt"
    with monitrace.trace(c_calls=True) as s:
        f = open(path, "w")
        write = f.write
        write("x")
        del write
        alive = weakref.ref(f)
        del f
        assert alive() is None
        assert path.read_text() == "x"  # flushed and closed by its dealloc
    assert s.calls("_io.TextIOWrapper.write") == 1


def test_big_list_is_freed_while_traced():
    """Methods called on a list, bound (`lst.append`) or not
    (`list.append(lst, x)`), leave its reference count as it was, and the
    list goes away when the program drops it."""
    import weakref

    class Big(list):  # a list that can be weakly referenced
        pass

    with monitrace.trace(c_calls=True) as s:
        big = Big(range(1_000_000))
        before = sys.getrefcount(big)
        append = big.append
        append(1)
        del append
        list.append(big, 2)
        big.__sizeof__()
        assert sys.getrefcount(big) == before
        alive = weakref.ref(big)
        del big
        assert alive() is None
    assert s.calls("builtins.list.append") == 2
    assert s.calls("builtins.list.__sizeof__") == 1


def test_classes_used_through_class_methods_are_freed():
    """A class method called on a short-lived subclass (`Sub.fromkeys`)
    is dict.fromkeys for the record, which keeps no reference to `Sub`."""
    import weakref

    with monitrace.trace(c_calls=True) as s:
        for _ in range(3):
            Sub = type("Sub", (dict,), {})
            assert Sub.fromkeys("ab") == {"a": None, "b": None}
            alive = weakref.ref(Sub)
            del Sub
            gc.collect()
            assert alive() is None
    (row,) = [r for r in s.stats() if r.kind == "c" and r.qualname == "dict.fromkeys"]
    assert row.calls == 3
