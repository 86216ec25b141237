"""Deep recursion, RecursionError, and tracing that starts and stops deep
inside nested calls."""

import sys

import pytest
from hostile_util import (
    PROBE_CALLS,
    assert_consistent,
    assert_still_exact,
    probe,
    same_as_untraced,
)

import monitrace


@pytest.fixture
def recursion_limit():
    old = sys.getrecursionlimit()
    yield sys.setrecursionlimit
    sys.setrecursionlimit(old)


def down(n):
    return 0 if n == 0 else 1 + down(n - 1)


def unbounded(n):
    return unbounded(n + 1)


LAST_DEPTH = [0]


def deepest_reached(log):
    reached = [0]

    def dive(n):
        reached[0] = n
        return dive(n + 1)

    try:
        dive(0)
    except RecursionError as exc:
        log.append(reached[0])
        LAST_DEPTH[:] = [reached[0]]
        return ("caught", type(exc).__name__, str(exc))


@pytest.mark.parametrize("c_calls", [False, True])
def test_50000_frames(recursion_limit, c_calls):
    recursion_limit(50_500)
    session = same_as_untraced(lambda log: down(50_000), c_calls=c_calls)
    (row,) = [s for s in session.stats() if s.qualname == "down"]
    assert (row.calls, row.primitive_calls) == (50_001, 1)
    assert row.total_time >= row.self_time > 0
    assert_still_exact(session)


@pytest.mark.parametrize("c_calls", [False, True])
def test_recursion_error_raised_and_caught(recursion_limit, c_calls):
    recursion_limit(2_000)
    # Same depth reached, same exception, traced or not.
    session = same_as_untraced(deepest_reached, c_calls=c_calls)
    (row,) = [s for s in session.stats() if s.qualname == "deepest_reached.<locals>.dive"]
    deepest = LAST_DEPTH[0]  # of the traced run; the untraced one matched
    assert deepest > 1_500
    assert (row.calls, row.primitive_calls) == (deepest + 1, 1)
    assert_still_exact(session)


def test_recursion_error_repeatedly_then_exact_counts(recursion_limit):
    recursion_limit(1_000)
    with monitrace.trace() as session:
        for _ in range(20):
            with pytest.raises(RecursionError):
                unbounded(0)
        probe(12)
    assert session.calls("test_recursion_hostile.unbounded") > 20 * 900
    assert session.calls("hostile_util.probe") == PROBE_CALLS[12]
    assert_consistent(session)
    assert_still_exact(session)


def nest(depth, action):
    if depth == 0:
        action()
        return 0
    return nest(depth - 1, action) + 1


def test_started_and_stopped_deep_inside_nested_calls():
    session = monitrace.trace()
    # Start 300 frames down; those frames return while traced (their
    # returns match nothing on the stack and are ignored).
    assert nest(300, session.start) is not None
    probe(10)
    # Stop 200 frames down: the activations still open are ended at stop.
    assert nest(200, session.stop) is not None
    assert not session.running
    assert session.calls("hostile_util.probe") == PROBE_CALLS[10]
    # nest(200..0) started while traced: 201 calls, one primitive.
    (row,) = [s for s in session.stats() if s.qualname == "nest"]
    assert (row.calls, row.primitive_calls) == (201, 1)
    assert_consistent(session)
    assert_still_exact(session)


def test_start_deep_stop_shallow_and_the_reverse_repeatedly():
    session = monitrace.trace()
    for depth in (5, 50, 500):
        nest(depth, session.start)
        probe(10)
        session.stop()
        session.start()
        nest(depth, lambda: probe(10))
        nest(depth, session.stop)
    assert session.calls("hostile_util.probe") == 6 * PROBE_CALLS[10]
    assert_consistent(session)
    assert_still_exact(session)
