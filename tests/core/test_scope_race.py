"""set_scope() while another thread runs the thread filter: the core must
not free that thread's scope state (or the config) under it. The memory
error this guards against shows under valgrind or ASan (make memcheck);
the counts below hold either way."""

import gc
import threading
import weakref

from monitrace import _core


def work(n):
    return n + 1


def test_set_scope_while_another_thread_is_inside_the_thread_filter():
    entered = threading.Event()
    release = threading.Event()
    asked = []

    def slow_filter(ident, name):
        asked.append(("old", name))
        if name == "victim":
            entered.set()
            release.wait(30)  # releases the GIL: the main thread goes on
            return False
        return True

    def new_filter(ident, name):
        asked.append(("new", name))
        return True

    def body():
        for i in range(10):
            work(i)

    tr = _core.Tracer(filter=lambda code: code is work.__code__)
    tr.set_scope(thread_filter=slow_filter, max_depth=3)
    tr.start()
    victim = threading.Thread(target=body, name="victim")
    victim.start()
    try:
        assert entered.wait(30)
        tr.stop()
        tr.set_scope(thread_filter=new_filter, exclude_within=True)
        tr.start()
    finally:
        release.set()
        victim.join()
    assert tr.stop() == []
    # The old filter's answer came back after its settings were replaced:
    # that first call is dropped, the other nine are decided by the new
    # filter, once.
    assert asked == [("old", "victim"), ("new", "victim")]
    (thread,) = [t for t in tr.snapshot()["threads"] if t["name"] == "victim"]
    (index,) = [i for i, r in enumerate(tr.snapshot()["records"]) if r[1] is work.__code__]
    assert [r[1] for r in thread["rows"] if r[0] == index] == [9]
    assert _core.selfcheck(tr)["problems"] == []
    # The old config let go of its filter once the call returned.
    gone = weakref.ref(slow_filter)
    del slow_filter
    gc.collect()
    assert gone() is None
