"""Event exporters end to end, on events recorded by trace(record=True)."""

import collections
import gzip
import json

import pytest

import monitrace
import workloads

pytestmark = pytest.mark.skipif(
    not hasattr(monitrace.Session, "events"), reason="record mode is not in this build"
)


@pytest.fixture(scope="module")
def session():
    with monitrace.trace(record=True) as s:
        workloads.mutual()
        workloads.exceptions()
        workloads.consume_generator()
        workloads.run_threads([3, 4])
    return s


def _short(name):
    return name.rsplit(".", 1)[-1]


@pytest.mark.parametrize("name", ["trace.json", "trace.json.gz"])
def test_chrome_trace_of_a_recording(tmp_path, session, name):
    assert session.save(tmp_path / name) == "chrome"
    opener = gzip.open if name.endswith(".gz") else open
    with opener(tmp_path / name, "rt") as f:
        doc = json.load(f)
    tracks = collections.defaultdict(list)
    names = {}
    for e in doc["traceEvents"]:
        if e["ph"] == "M" and e["name"] == "thread_name":
            names[e["tid"]] = e["args"]["name"]
        elif e["ph"] in "BE":
            tracks[e["tid"]].append(e)
    calls = collections.Counter()
    for track in tracks.values():
        stack = []
        for e in track:
            if e["ph"] == "B":
                if stack:
                    assert e["ts"] >= stack[-1]["ts"]
                stack.append(e)
                if not e["args"].get("resumed"):
                    calls[_short(e["name"])] += 1
            else:
                begin = stack.pop()
                assert e["ts"] >= begin["ts"]
        assert stack == []
    for func in ("is_even", "is_odd", "raiser", "catch_at", "countdown", "work"):
        assert calls[func] == session.calls(f"workloads.{func}"), func
    assert {"MainThread", "worker-0", "worker-1"} <= set(names.values())
    per_thread = collections.Counter(
        names[tid]
        for tid, track in tracks.items()
        for e in track
        if e["ph"] == "B" and _short(e["name"]) == "work"
    )
    assert per_thread == {"worker-0": 3, "worker-1": 4}


def test_collapsed_stacks_of_a_recording(tmp_path, session):
    from monitrace.exporters.source import Source

    session.save(tmp_path / "run.collapsed")
    stacks = {}
    for line in (tmp_path / "run.collapsed").read_text().splitlines():
        stack, value = line.rsplit(" ", 1)
        stacks[tuple(stack.split(";"))] = int(value)
    assert all(v > 0 for v in stacks.values())
    # Every pair of neighbours in a stack is a caller -> callee edge that
    # the core counted on its own.
    src = Source(snapshot=session.snapshot())
    name = lambda i: src.function(i).full_name  # noqa: E731
    # (threads that ended had their edges merged into "finished")
    edges = {
        (name(c), name(e))
        for edge_list in [th["edges"] for th in src.snapshot["threads"]]
        + [src.snapshot["finished"]["edges"]]
        for c, e, *_ in edge_list
    }
    pairs = {pair for stack in stacks for pair in zip(stack, stack[1:])}
    assert pairs <= edges
    assert ("workloads.is_odd", "workloads.is_even") in pairs
    assert ("workloads.catch_at", "workloads.raiser") in pairs
    # Before rounding to µs, every stack is there: the deepest one is
    # mutual -> is_even(11) -> is_odd(10) -> ... -> is_odd(0).
    from monitrace.exporters.collapsed import aggregate

    exact = aggregate(Source.of(session))
    deepest = [name(i) for i in max(exact, key=len)]
    assert deepest == ["workloads.mutual"] + ["workloads.is_even", "workloads.is_odd"] * 6


def test_json_events_of_a_recording(tmp_path, session):
    session.save(tmp_path / "all.json", format="json")
    doc = json.loads((tmp_path / "all.json").read_text())
    assert len(doc["events"]) == session.record_info().recorded
    funcs = {f["id"]: f["name"] for f in doc["functions"]}
    kinds = collections.Counter(
        e["kind"] for e in doc["events"] if funcs.get(e["function"]) == "countdown"
    )
    assert kinds == {"call": 1, "yield": 3, "resume": 3, "return": 1}


def test_spans_of_a_recording(session):
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    n = session.send_spans(provider)
    spans = memory.get_finished_spans()
    assert n == len(spans)
    by_id = {s.context.span_id: s for s in spans}
    odd = [s for s in spans if s.name == "workloads.is_odd"]
    assert len(odd) == session.calls("workloads.is_odd")
    for s in odd:
        parent = by_id[s.parent.span_id]
        assert parent.name == "workloads.is_even"
        assert parent.start_time <= s.start_time <= s.end_time <= parent.end_time
        assert s.attributes["code.lineno"] == workloads.is_odd.__code__.co_firstlineno
        assert s.attributes["thread.name"] == "MainThread"
    work = [s for s in spans if s.name == "workloads.work"]
    assert sorted(s.attributes["thread.name"] for s in work) == ["worker-0"] * 3 + ["worker-1"] * 4
    raised = [
        s for s in spans if s.name == "workloads.raiser" and s.status.status_code.name == "ERROR"
    ]
    assert raised and all(e.name == "exception" for s in raised for e in s.events)
