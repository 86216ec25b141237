"""wall_time: a generator's or coroutine's activations, start to finish,
suspensions (awaits) included, next to its on-CPU total_time.

No sleeps decide anything here: the time a coroutine spends awaiting is
a traced step of known work that the test runs while the coroutine is
suspended, measured by the same clock, so every check is an inequality
that holds for any clock speed."""

import asyncio
import io
import json
import threading

import pytest

import monitrace
from monitrace.diff import load
from monitrace.merge import merge_json

EPS = 1e-12  # float rounding of tick sums converted to seconds


def spin(n=20000):
    x = 0
    for i in range(n):
        x += i
    return x


async def waiter(fut):
    return await fut


async def resolve_later():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    task = asyncio.create_task(waiter(fut))
    await asyncio.sleep(0)  # waiter starts and suspends on the future
    spin()  # the gap: waiter is suspended all along
    fut.set_result(7)
    return await task


def _one(stats, name):
    (row,) = [s for s in stats if s.name == name]
    return row


def test_coroutine_wall_time_spans_the_await_and_total_time_does_not():
    with monitrace.trace() as s:
        assert asyncio.run(resolve_later()) == 7
    stats = s.stats()
    w, gap = _one(stats, "waiter"), _one(stats, "spin")
    assert (w.calls, w.samples, gap.calls) == (1, 1, 1)
    # The whole gap ran inside waiter's life, off its stack.
    assert w.wall_time >= gap.total_time + w.total_time - EPS
    assert w.total_time < gap.total_time < w.wall_time
    # One activation: its wall time is that activation's latency sample.
    assert w.wall_time == pytest.approx(w.max_time, rel=1e-9)
    assert w.wall_time == pytest.approx(w.min_time, rel=1e-9)
    # Plain functions have no wall time of their own.
    assert gap.wall_time == 0.0 and gap.segments == 0


def three():
    yield 1
    yield 2
    yield 3


def consume(n):
    for _ in range(n):
        for _ in three():
            spin(5000)  # the consumer's work, between the generator's yields


def test_generator_wall_time_sums_activations_across_the_consumers_work():
    with monitrace.trace() as s:
        consume(4)
    stats = s.stats()
    g, work = _one(stats, "three"), _one(stats, "spin")
    assert (g.calls, g.samples, g.segments, work.calls) == (4, 4, 16, 12)
    # Each activation holds three of the consumer's steps: the sum of
    # activations holds all twelve, and its own segments.
    assert g.wall_time >= work.total_time + g.total_time - EPS
    assert g.wall_time <= 4 * g.max_time * (1 + 1e-9)
    assert g.wall_time >= 4 * g.min_time * (1 - 1e-9)
    per_thread = s.stats(by_thread=True)
    assert _one(per_thread, "three").wall_time == pytest.approx(g.wall_time, rel=1e-12)


def test_wall_time_of_a_thread_that_ended_is_kept():
    with monitrace.trace() as s:
        t = threading.Thread(target=consume, args=(3,), name="worker")
        t.start()
        t.join()
    g = _one(s.stats(), "three")
    (mine,) = [x for x in s.stats(by_thread=True) if x.name == "three"]
    assert mine.thread_name == "worker"
    assert g.calls == 3 and g.wall_time > 0
    assert mine.wall_time == pytest.approx(g.wall_time, rel=1e-12)
    assert g.wall_time >= _one(s.stats(), "spin").total_time - EPS


def test_suspended_at_stop_counts_to_its_last_yield():
    gen = three()
    with monitrace.trace() as s:
        next(gen)
        spin()  # after the last yield the tracer saw: not counted
    gen.close()
    g = _one(s.stats(), "three")
    assert g.samples == 1
    assert g.wall_time == pytest.approx(g.max_time, rel=1e-9)
    assert g.wall_time < _one(s.stats(), "spin").total_time


def test_report_shows_wall_column_only_when_something_suspended():
    with monitrace.trace() as s:
        consume(1)
    out = io.StringIO()
    s.report(file=out)
    text = out.getvalue()
    header = next(line for line in text.splitlines() if "ncalls" in line)
    assert header.split()[:9] == [
        "ncalls",
        "tottime",
        "percall",
        "cumtime",
        "percall",
        "walltime",
        "p50",
        "p99",
        "max",
    ]
    g = _one(s.stats(), "three")
    (line,) = [x for x in text.splitlines() if x.endswith("(three)")]
    assert float(line.split()[5]) == pytest.approx(g.wall_time, abs=1e-6)
    (plain,) = [x for x in text.splitlines() if x.endswith("(consume)")]
    assert len(plain.split()) == len(line.split()) - 1  # blank wall cell

    # Sorted by wall time: the generator first, plain functions after.
    out = io.StringIO()
    s.report(file=out, sort="walltime")
    rows = [x for x in out.getvalue().splitlines() if x.endswith(")") and "ncalls" not in x]
    assert rows[0].endswith("(three)")
    assert "Ordered by: wall time" in out.getvalue()

    with monitrace.trace() as s2:
        spin(10)
    out = io.StringIO()
    s2.report(file=out)
    assert "walltime" not in out.getvalue()


def test_json_carries_wall_time_and_diff_load_and_merge_read_it(tmp_path):
    with monitrace.trace() as s:
        assert asyncio.run(resolve_later()) == 7
    path = tmp_path / "run.json"
    s.save(str(path), "json")
    doc = json.loads(path.read_text())
    ids = {f["id"]: f["name"] for f in doc["functions"]}
    rows = [r for th in doc["threads"] for r in th["stats"]]
    (w,) = [r for r in rows if ids[r["function"]] == "waiter"]
    (plain,) = [r for r in rows if ids[r["function"]] == "spin"]
    assert "wall_ns" not in plain
    want = _one(s.stats(), "waiter").wall_time
    assert w["wall_ns"] == round(want * 1e9)
    loaded = _one(load(str(path)), "waiter")
    assert loaded.wall_time == pytest.approx(want, abs=1e-9)
    merged = merge_json([doc, doc])
    two = tmp_path / "two.json"
    two.write_text(json.dumps(merged))
    assert _one(load(str(two)), "waiter").wall_time == pytest.approx(2 * want, abs=2e-9)


def test_html_rows_carry_wall_time():
    from monitrace.exporters import Source
    from monitrace.exporters.html_data import from_source

    with monitrace.trace() as s:
        consume(2)
    page = from_source(Source.of(s))
    names = [f[0] for f in page.functions]
    rows = {names[r[0]].rsplit(".", 1)[-1]: r for r in page.all.stats}
    assert rows["three"][10] == round(_one(s.stats(), "three").wall_time * 1e9)
    assert rows["spin"][10] == 0
