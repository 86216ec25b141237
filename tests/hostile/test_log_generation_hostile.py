"""An events() iterator (and every exporter reading one) that outlives
clear() fails with a clear error instead of naming events after the wrong
functions and skipping the new log's first batch; across stop() and
start() it simply goes on."""

import pytest

import monitrace


def leaf(n):
    return n


def other(n):
    return -n


def test_events_iterator_fails_clearly_after_clear():
    s = monitrace.trace(record=True)
    with s:
        for i in range(3000):  # 6000 events: more than one batch
            leaf(i)
    it = s.events()
    assert next(it).function.qualname == "leaf"
    s.clear()
    with s:
        for i in range(5000):
            other(i)
    with pytest.raises(RuntimeError, match="cleared"):
        for ev in it:
            # what it still yields comes from the log it started on
            assert ev.function.qualname in (
                "leaf",
                "test_events_iterator_fails_clearly_after_clear",
            )
    assert sum(1 for e in s.events() if e.kind == "call") == 5000


def test_events_iterator_survives_stop_and_start():
    s = monitrace.trace(record=True)
    with s:
        for i in range(3000):
            leaf(i)
    it = s.events()
    next(it)
    with s:
        for i in range(10):
            other(i)
    names = [ev.function.qualname for ev in it if ev.kind == "call"]
    assert names.count("leaf") == 2999
    assert names.count("other") == 10
