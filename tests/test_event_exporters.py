"""Chrome trace, collapsed stacks and OpenTelemetry spans, from an event
log written by hand (so every edge case is there on purpose): nesting
repaired after a lost exit, an exit from before recording, a generator
resumed, an exception, two threads, an activation never closed."""

import gzip
import json
import re

import pytest

import monitrace
import monitrace.exporters as exporters
import workloads
from monitrace.exporters.source import Kind, LogEvent, Source, ThreadInfo

US = 1000  # event times below are in µs, written in ns


@pytest.fixture(scope="module")
def source():
    with monitrace.trace(c_calls=True) as s:
        workloads.mutual()
        workloads.fib(2)
        workloads.consume_generator()
        sorted([2, 1])
    snap = s.snapshot()
    (srt,) = [
        i
        for i, (kind, key, _m, _t) in enumerate(snap["records"])
        if kind == "c" and key[:2] == ("sorted", None)
    ]
    idx = {
        key.co_name: i
        for i, (kind, key, _m, traced) in enumerate(snap["records"])
        if kind == "py" and traced
    }
    m, ev, od, fib, cd = (idx[n] for n in ("mutual", "is_even", "is_odd", "fib", "countdown"))
    E = LogEvent
    events = [
        E(Kind.CALL, 10 * US, 0, m),
        E(Kind.CALL, 20 * US, 0, ev, args=(("n", "3"),)),
        E(Kind.CALL, 25 * US, 1, fib),  # thread 1 starts
        E(Kind.CALL, 30 * US, 0, od),
        E(Kind.CALL, 31 * US, 1, fib),
        E(Kind.RETURN, 34 * US, 1, fib, retval="1"),
        E(Kind.RETURN, 40 * US, 0, od, retval="True"),
        E(Kind.RAISE, 50 * US, 0, ev, exc_type=ValueError, exc_repr="ValueError('x')"),
        E(Kind.RETURN, 55 * US, 1, od),  # began before recording: dropped
        E(Kind.CALL, 60 * US, 0, ev),
        E(Kind.CALL, 61 * US, 0, od),  # its exit is lost ...
        E(Kind.RETURN, 70 * US, 0, ev),  # ... so it ends here, unwound
        E(Kind.CALL, 80 * US, 0, cd),
        E(Kind.YIELD, 82 * US, 0, cd, retval="3"),
        E(Kind.RESUME, 90 * US, 0, cd),
        E(Kind.RETURN, 95 * US, 0, cd),
        E(Kind.RETURN, 100 * US, 0, m),
        E(Kind.C_CALL, 105 * US, 0, srt, args=(("iterable", "[None, 1]"),)),
        E(Kind.C_RAISE, 106 * US, 0, srt, exc_repr="TypeError()"),
        E(Kind.CALL, 110 * US, 0, fib),  # never returns: closed at 110
    ]
    threads = (ThreadInfo(111, 1001, "MainThread"), ThreadInfo(222, 1002, "worker"))
    return Source(
        snapshot=snap,
        events=lambda: iter(events),
        threads=threads,
        wall_offset_ns=1_700_000_000_000_000_000,
    )


def _short(name):
    return name if name.startswith("<") else name.rsplit(".", 1)[-1]


def _load(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize("name", ["t.json", "t.json.gz"])
def test_chrome_trace_nests_per_thread(tmp_path, source, name):
    assert exporters.save(source, tmp_path / name) == "chrome"
    doc = _load(tmp_path / name)
    evs = doc["traceEvents"]
    meta = {(e["tid"], e["name"]): e["args"] for e in evs if e["ph"] == "M"}
    assert meta[(1001, "thread_name")] == {"name": "MainThread"}
    assert meta[(1002, "thread_name")] == {"name": "worker"}
    tracks = {}
    for e in evs:
        if e["ph"] in "BE":
            tracks.setdefault(e["tid"], []).append(e)
    opened = {}
    for tid, track in tracks.items():
        stack = []
        times = [e["ts"] for e in track]
        assert times == sorted(times)
        for e in track:
            if e["ph"] == "B":
                stack.append(e)
                opened.setdefault(tid, []).append((_short(e["name"]), e["ts"]))
            else:
                assert stack, e
                b = stack.pop()
                assert e["ts"] >= b["ts"]
        assert stack == []
    assert opened[1002] == [("fib", 25.0), ("fib", 31.0)]
    assert [n for n, _ in opened[1001]] == [
        "mutual",
        "is_even",
        "is_odd",
        "is_even",
        "is_odd",
        "countdown",
        "countdown",
        "sorted",
        "fib",
    ]
    (b_sorted,) = [e for e in tracks[1001] if e["ph"] == "B" and e["ts"] == 105.0]
    assert b_sorted["cat"] == "c"
    assert b_sorted["args"] == {"args": {"iterable": "[None, 1]"}}
    assert [e["args"] for e in tracks[1001] if e["ph"] == "E" and e["ts"] == 106.0] == [
        {"exit": "raise", "exception": "TypeError()"}
    ]
    main = tracks[1001]
    # args on the begin, return value and exception on the end
    (b_even,) = [e for e in main if e["ph"] == "B" and e["ts"] == 20.0]
    assert b_even["args"]["args"] == {"n": "3"}
    assert b_even["args"]["file"] == workloads.__file__
    assert b_even["args"]["line"] == workloads.is_even.__code__.co_firstlineno
    ends = {e["ts"]: e["args"] for e in main if e["ph"] == "E"}
    assert ends[40.0] == {"exit": "return", "return": "True"}
    assert ends[50.0] == {"exit": "raise", "exception": "ValueError('x')"}
    assert ends[82.0] == {"exit": "yield", "return": "3"}
    assert ends[110.0] == {"unwound": True}
    (unwound_odd, ret_even) = [e for e in main if e["ph"] == "E" and e["ts"] == 70.0]
    assert unwound_odd["args"] == {"unwound": True}
    assert ret_even["args"] == {"exit": "return"}
    (b_resume,) = [e for e in main if e["ph"] == "B" and e["ts"] == 90.0]
    assert b_resume["args"]["resumed"] is True


def test_chrome_timestamps_are_exact(tmp_path, source):
    events = [
        LogEvent(Kind.CALL, 1_234_567_891_234_567, 0, 0),
        LogEvent(Kind.RETURN, 1_234_567_891_234_999, 0, 0),
    ]
    src = Source(snapshot=source.snapshot, events=lambda: events, threads=source.threads)
    exporters.save(src, tmp_path / "x.json", format="chrome")
    text = (tmp_path / "x.json").read_text()
    assert re.findall(r'"ts":([\d.]+)', text) == ["1234567891234.567", "1234567891234.999"]


def test_collapsed_stacks(tmp_path, source):
    assert exporters.save(source, tmp_path / "s.folded") == "collapsed"
    lines = (tmp_path / "s.folded").read_text().splitlines()
    got = {}
    for line in lines:
        stack, value = line.rsplit(" ", 1)
        got[tuple(_short(f) for f in stack.split(";"))] = int(value)
    assert got == {
        # mutual: 10..100 minus children (30 + 10 + 2 + 5)
        ("mutual",): 90 - 30 - 10 - 2 - 5,
        ("mutual", "is_even"): 30 - 10 + (10 - 9),
        ("mutual", "is_even", "is_odd"): 10 + 9,
        ("mutual", "countdown"): 2 + 5,
        # thread 1's fib stays open until its last event (55, dropped),
        # main thread's last fib lasts 0
        ("fib",): (55 - 25) - 3,
        ("fib", "fib"): 3,
        ("sorted",): 1,
    }


def test_event_formats_need_events(tmp_path):
    with monitrace.trace() as s:
        workloads.fib(3)
    for name, fmt in [("a.folded", "collapsed"), ("a.json", "chrome")]:
        with pytest.raises(ValueError, match=f"the {fmt} format needs recorded events"):
            s.save(tmp_path / name, format=fmt)
    assert s.save(tmp_path / "a.json") == "json"


def test_opentelemetry_spans(source):
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode

    memory = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    from monitrace.exporters.otel import send_spans

    assert send_spans(source, tracer_provider=provider) == 11
    spans = memory.get_finished_spans()
    assert len(spans) == 11
    wall = source.wall_offset_ns
    by_start = {(s.attributes["thread.id"], s.start_time - wall): s for s in spans}
    mutual = by_start[(111, 10 * US)]
    even = by_start[(111, 20 * US)]
    odd = by_start[(111, 30 * US)]
    assert mutual.name == "workloads.mutual"
    assert mutual.parent is None
    assert mutual.end_time - wall == 100 * US
    assert even.parent.span_id == mutual.context.span_id
    assert odd.parent.span_id == even.context.span_id
    assert {s.context.trace_id for s in (mutual, even, odd)} == {mutual.context.trace_id}
    assert dict(odd.attributes) == {
        "code.function": "is_odd",
        "code.namespace": "workloads",
        "code.filepath": workloads.__file__,
        "code.lineno": workloads.is_odd.__code__.co_firstlineno,
        "thread.id": 111,
        "thread.name": "MainThread",
        "monitrace.return": "True",
    }
    assert even.attributes["monitrace.args.n"] == "3"
    assert even.status.status_code is StatusCode.ERROR
    (exc,) = even.events
    assert exc.name == "exception"
    assert dict(exc.attributes) == {
        "exception.type": "ValueError",
        "exception.message": "ValueError('x')",
    }
    outer_fib = by_start[(222, 25 * US)]
    inner_fib = by_start[(222, 31 * US)]
    assert outer_fib.attributes["thread.name"] == "worker"
    assert inner_fib.parent.span_id == outer_fib.context.span_id
    assert outer_fib.context.trace_id != mutual.context.trace_id
    assert by_start[(111, 90 * US)].attributes["monitrace.resumed"] is True
    assert by_start[(111, 90 * US)].parent.span_id == mutual.context.span_id


def test_json_with_events(tmp_path, source):
    assert exporters.save(source, tmp_path / "e.json", format="json") == "json"
    doc = _load(tmp_path / "e.json")
    assert doc["schema"] == "monitrace/1"
    funcs = {f["id"]: f["name"] for f in doc["functions"]}
    evs = doc["events"]
    assert len(evs) == 20
    assert evs[0] == {
        "kind": "call",
        "time_ns": 10 * US,
        "thread": 111,
        "function": evs[0]["function"],
        "depth": 0,
    }
    assert funcs[evs[0]["function"]] == "mutual"
    assert evs[1]["args"] == [["n", "3"]]
    assert evs[2]["thread"] == 222
    assert evs[7] == {
        "kind": "raise",
        "time_ns": 50 * US,
        "thread": 111,
        "function": evs[1]["function"],
        "depth": 0,
        "exception_type": "ValueError",
        "exception": "ValueError('x')",
    }
    assert [e["kind"] for e in evs[12:16]] == ["call", "yield", "resume", "return"]
    assert evs[17]["kind"] == "c_call"
    assert funcs[evs[17]["function"]] == "<built-in method builtins.sorted>"
    assert evs[18] == {
        "kind": "c_raise",
        "time_ns": 106 * US,
        "thread": 111,
        "function": evs[17]["function"],
        "depth": 0,
        "exception": "TypeError()",
    }
