"""Generator, coroutine and async generator rows: latency per activation
(start to finish, suspensions included), resume segments on the side.

No timing is controlled here, so the tests check structure: how many
activations and segments were measured, and inequalities that hold for
any clock (an activation contains its segments)."""

import asyncio
import gc
import json
import sys

import monitrace

# 3.13 closes a generator suspended outside any try block without
# running it: no event marks its end (3.12 and 3.14+ throw GeneratorExit
# in, which unwinds it).
SILENT_CLOSE = sys.version_info[:2] == (3, 13)


def _row(s, name):
    (row,) = [x for x in s.stats() if x.name == name]
    return row


def _contains_segments(row):
    # One activation holds all its segments: its time is at least their sum
    # (total_time, the function being non-recursive). Float rounding aside.
    assert row.max_time >= row.total_time * (1 - 1e-9)
    assert row.max_time >= row.segment_max * (1 - 1e-9)


def three():
    yield 1
    yield 2
    yield 3


def spin(n=2000):
    x = 0
    for i in range(n):
        x += i
    return x


def test_sync_generator_one_sample_per_activation():
    with monitrace.trace() as s:
        for _ in range(5):
            for _ in three():
                spin()  # time spent while the generator is suspended
    row = _row(s, "three")
    assert row.calls == 5
    assert row.samples == 5  # activations, not segments
    assert row.segments == 5 * 4  # start + 3 resumes each
    assert sum(c for _, _, c in row.histogram) == 5
    assert sum(c for _, _, c in row.segment_histogram) == 20
    assert 0 < row.segment_min <= row.segment_p50 <= row.segment_max
    # Each activation outlives the consumer's work between its yields,
    # which is not on the generator's stack.
    assert row.min_time >= row.segment_max * (1 - 1e-9)
    assert row.max_time >= row.total_time / 5 * (1 - 1e-9)


def test_single_activation_contains_its_segments():
    with monitrace.trace() as s:
        for _ in three():
            spin()
    row = _row(s, "three")
    assert (row.calls, row.samples, row.segments) == (1, 1, 4)
    _contains_segments(row)


async def worker():
    for _ in range(3):
        await asyncio.sleep(0)
    return spin(100)


async def gather_workers():
    await asyncio.gather(worker(), worker())


def test_coroutines_one_sample_per_activation():
    with monitrace.trace() as s:
        asyncio.run(gather_workers())
    row = _row(s, "worker")
    assert row.calls == 2
    assert row.samples == 2
    assert row.segments == 2 * 4  # start + 3 resumes each
    assert row.max_time >= row.segment_max * (1 - 1e-9)


def test_single_coroutine_contains_its_segments():
    async def main():
        await worker()

    with monitrace.trace() as s:
        asyncio.run(main())
    row = _row(s, "worker")
    assert (row.calls, row.samples, row.segments) == (1, 1, 4)
    _contains_segments(row)


async def agen():
    for i in range(3):
        yield i


async def drain_agen():
    return [i async for i in agen()]


def test_async_generator_one_sample_per_activation():
    with monitrace.trace() as s:
        assert asyncio.run(drain_agen()) == [0, 1, 2]
    row = _row(s, "agen")
    assert (row.calls, row.samples, row.segments) == (1, 1, 4)
    _contains_segments(row)


def guarded():
    try:
        yield 1
        yield 2
    finally:
        pass


def unguarded():
    yield 1
    yield 2


def test_closed_generator_that_runs_its_finally():
    with monitrace.trace() as s:
        g = guarded()
        next(g)
        g.close()  # GeneratorExit thrown in: a segment that unwinds
    row = _row(s, "guarded")
    assert (row.calls, row.samples, row.segments) == (1, 1, 2)
    _contains_segments(row)


def test_closed_generator_without_try():
    with monitrace.trace() as s:
        g = unguarded()
        next(g)
        g.close()
    row = _row(s, "unguarded")
    assert (row.calls, row.samples) == (1, 1)
    assert row.segments == (1 if SILENT_CLOSE else 2)
    _contains_segments(row)


def test_abandoned_generators():
    with monitrace.trace() as s:
        for _ in range(10):
            g = unguarded()
            next(g)
            del g  # collected while suspended
        gc.collect()
    row = _row(s, "unguarded")
    assert (row.calls, row.samples) == (10, 10)
    assert row.segments == (10 if SILENT_CLOSE else 20)


def test_still_suspended_at_stop_counts_up_to_its_last_yield():
    with monitrace.trace() as s:
        g = unguarded()
        next(g)
    row = _row(s, "unguarded")
    assert (row.calls, row.samples, row.segments) == (1, 1, 1)
    # Its one segment is all the tracer saw of it: the same two clock
    # readings.
    assert row.max_time == row.segment_max
    g.close()


def test_generator_resumed_by_another_session_has_segments_only():
    g = three()
    next(g)  # started before tracing
    with monitrace.trace() as s:
        assert list(g) == [2, 3]
    row = _row(s, "three")
    assert (row.calls, row.samples, row.segments) == (0, 0, 3)


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def test_plain_functions_unchanged():
    with monitrace.trace() as s:
        fib(12)
    row = _row(s, "fib")
    assert row.calls == row.samples == 465
    assert sum(c for _, _, c in row.histogram) == 465
    assert (row.segments, row.segment_max, row.segment_histogram) == (0, 0.0, ())


def test_by_thread_and_suite_merge_keep_segments():
    from monitrace.suite_stats import stats_from_data, stats_to_data

    with monitrace.trace() as s:
        list(three())
    (row,) = [x for x in s.stats(by_thread=True) if x.name == "three"]
    assert (row.samples, row.segments) == (1, 4)
    assert stats_from_data(json.loads(json.dumps(stats_to_data(row)))) == row


def test_json_rows_carry_segments(tmp_path):
    with monitrace.trace() as s:
        for _ in range(2):
            list(three())
        fib(3)
    s.save(tmp_path / "g.json")
    doc = json.loads((tmp_path / "g.json").read_text())
    names = {f["id"]: f["name"] for f in doc["functions"]}
    rows = {names[r["function"]]: r for t in doc["threads"] for r in t["stats"]}
    gen, plain = rows["three"], rows["fib"]
    assert (gen["calls"], gen["samples"]) == (2, 2)
    assert gen["segments"]["samples"] == 8
    assert sum(n for _, _, n in gen["segments"]["histogram"]) == 8
    assert gen["max_ns"] >= gen["segments"]["max_ns"]
    assert "segments" not in plain
