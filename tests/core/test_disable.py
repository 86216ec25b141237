"""Excluded code costs nothing: proved with the callback counters of
Tracer.snapshot()['event_counts'], including after another tool's
sys.monitoring.restart_events()."""

import sys

import monitrace
from monitrace import _core
from monitrace.filters import CompiledFilter


def excluded(n):
    return n + 1


def excluded_calls_c(items):
    return len(items)


def included(n):
    return n


def delta(after, before, *events):
    return tuple(after[e] - before[e] for e in events)


def test_excluded_function_triggers_no_callbacks_after_its_first_call():
    # The counters are read with the C snapshot method: no Python call of
    # our own disturbs them.
    with monitrace.trace(exclude="function:excluded") as s:
        tr = s._tracer
        excluded(0)  # first sight: its PY_START and PY_RETURN answer DISABLE
        before = tr.snapshot()["event_counts"]
        for i in range(100):
            excluded(i)
        after_excluded = tr.snapshot()["event_counts"]
        for i in range(100):
            included(i)
        after_included = tr.snapshot()["event_counts"]
    assert after_excluded == before
    # The same loop over a traced function: one PY_START and one PY_RETURN
    # callback per call.
    assert delta(after_included, after_excluded, "PY_START", "PY_RETURN") == (100, 100)
    assert s.calls("included") == 100
    assert s.calls("excluded") == 0


def test_call_sites_inside_excluded_code_go_quiet():
    with monitrace.trace(c_calls=True, exclude="function:excluded_calls_c") as s:
        tr = s._tracer
        excluded_calls_c([1])
        tr.snapshot()  # its own call site reports CALL once, then goes quiet
        before = tr.snapshot()["event_counts"]
        for _ in range(50):
            excluded_calls_c([1])
        after = tr.snapshot()["event_counts"]
    # Only call sites of this traced test report CALL: range(), the 50
    # calls and the last snapshot(); len() inside the excluded function no
    # longer does (it would add 50).
    assert delta(after, before, "CALL", "PY_START", "PY_RETURN") == (52, 0, 0)
    assert s.calls("len") == 0


def test_restart_events_re_disables_from_the_cached_verdict():
    asked = []
    compiled = CompiledFilter(exclude="function:excluded")

    def spy(key, module):
        asked.append(getattr(key, "co_name", key))
        return compiled(key, module)

    tr = _core.Tracer(filter=spy, filter_module=True)
    tr.start()
    try:
        excluded(0)
        before = tr.snapshot()["event_counts"]
        for i in range(20):
            excluded(i)
        quiet = tr.snapshot()["event_counts"]
        # Another tool re-arms every disabled location, ours included.
        sys.monitoring.restart_events()
        for i in range(20):
            excluded(i)
        after = tr.snapshot()["event_counts"]
    finally:
        tr.stop()
    assert quiet == before
    # One PY_START and one PY_RETURN callback came back, both answered
    # DISABLE again from the verdict cached on the code object ...
    assert delta(after, quiet, "PY_START", "PY_RETURN") == (1, 1)
    # ... without asking the filter a second time.
    assert asked.count("excluded") == 1
    snap = tr.snapshot()
    (rec,) = [r for r in snap["records"] if r[1] is excluded.__code__]
    assert rec[3] is False


def test_filter_gets_the_module_name_when_asked():
    seen = {}

    def record(key, module):
        seen[key] = module
        return True

    tr = _core.Tracer(filter=record, filter_module=True)
    tr.start()
    included(1)
    tr.stop()
    assert seen[included.__code__] == __name__


def test_verdict_bits_reach_the_records():
    def verdict(code):
        return {"included": 1, "excluded": 0}.get(code.co_name, 0) | (
            2 if code.co_name == "included" else 0
        )

    tr = _core.Tracer(filter=verdict)
    tr.set_scope(within=True)
    tr.start()
    included(1)
    excluded(1)
    tr.stop()
    traced = {r[1].co_name: r[3] for r in tr.snapshot()["records"]}
    assert traced == {"included": True, "excluded": False}


def test_other_tools_disabled_locations_stay_disabled():
    # Another tool (coverage.py's sysmon core does this) answers DISABLE to
    # LINE events; our sessions starting and stopping must not re-arm them
    # (sys.monitoring.restart_events() would).
    mon = sys.monitoring
    hits = []

    def on_line(code, line):
        if code is included.__code__:
            hits.append(line)
            return mon.DISABLE
        return None

    mon.use_tool_id(5, "another tool")
    try:
        mon.register_callback(5, mon.events.LINE, on_line)
        mon.set_events(5, mon.events.LINE)
        included(1)
        included(2)
        assert len(hits) == 1  # one line, disabled at once
        for _ in range(3):
            with monitrace.trace() as s:  # traces everything, `included` too
                included(3)
            with monitrace.trace(exclude="*"):  # traces nothing
                included(4)
            included(5)
        assert s.calls("included") == 1
        assert len(hits) == 1
    finally:
        mon.set_events(5, 0)
        mon.register_callback(5, mon.events.LINE, None)
        mon.free_tool_id(5)


def test_our_disabled_locations_do_not_outlive_the_session():
    # A session that excluded `excluded` answered DISABLE at its locations;
    # the next user of the tool id (here another session that traces it)
    # must get its events, without anyone calling restart_events().
    with monitrace.trace(exclude="function:excluded", tool_id=3) as first:
        excluded(0)
        excluded_calls_c([1])
    assert first.calls("excluded") == 0
    with monitrace.trace(tool_id=3, c_calls=True) as second:
        excluded(1)
        excluded_calls_c([1, 2])
    assert second.calls("excluded") == 1
    assert second.calls("excluded_calls_c") == 1
    assert second.calls("len") == 1
    # The first session, started again, still excludes it (its verdict is
    # cached in its record).
    with first:
        excluded(2)
    assert first.calls("excluded") == 0
