"""What the HTML report shows, as plain data: built once from aggregates,
never one item per event.

:class:`Page` holds the functions (by page index), and per thread (plus
"all threads" merged) the statistics table, the call tree aggregated by
path, caller edges, and the first calls of a capped timeline. Sources:

- a session (:func:`from_source`): statistics from its snapshot; when it
  recorded events, the exact tree and the timeline from them, else caller
  edges (the page builds an approximate tree from those and says so);
- files (:func:`from_file`): monitrace JSON (with events: exact tree),
  the pytest plugin's summary JSON (table only), pstats (table and caller
  edges), and a Chrome trace monitrace wrote (B/E events parsed back into
  the tree, the timeline and the table).

Times are integer nanoseconds throughout.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..model import FunctionName, Kind, LogEvent, function_name, short_path
from ..report import FunctionStats, build_stats
from .source import Source
from .timeline import INNERMOST, Walker

#: Calls per thread drawn on the timeline (the first ones, in time order).
TIMELINE_CAP = 20_000
#: Nodes of a call tree beyond which the smallest are folded into their parent.
TREE_NODE_CAP = 30_000

_FnKey = tuple[str, str, str, str, int]  # kind, module, qualname, filename, line

#: The note of a page whose tree is rebuilt from caller edges.
APPROXIMATE_NOTE = (
    "No call paths were recorded (trace with record=True for them): the call tree "
    "is rebuilt from caller\u2192callee pairs and is approximate below its first "
    "level; there is no flame graph."
)


def _key_of_stats(s: FunctionStats) -> _FnKey:
    return (s.kind, s.module, s.qualname, s.filename, s.firstlineno)


def _key_of_name(n: FunctionName) -> _FnKey:
    return (n.kind, n.module, n.qualname, n.filename, n.firstlineno)


@dataclasses.dataclass(slots=True)
class _Node:
    """One path of the call tree: calls, inclusive and self ns."""

    calls: int = 0
    total: int = 0
    self_: int = 0
    children: dict[int, _Node] = dataclasses.field(default_factory=dict)

    def child(self, fn: int) -> _Node:
        node = self.children.get(fn)
        if node is None:
            node = self.children[fn] = _Node()
        return node

    def merge(self, other: _Node) -> None:
        """Add `other`'s numbers, path by path (iterative: trees of deep
        recursion are as deep as the program went)."""
        work = [(self, other)]
        while work:
            into, node = work.pop()
            into.calls += node.calls
            into.total += node.total
            into.self_ += node.self_
            for fn, child in node.children.items():
                work.append((into.child(fn), child))


@dataclasses.dataclass
class ThreadView:
    """One thread's part of the page (or all threads merged)."""

    name: str
    ident: int | None
    stats: list[list[Any]] = dataclasses.field(default_factory=list)
    tree: _Node | None = None
    edges: list[list[int]] | None = None
    bars: list[int] | None = None  # flat: function, start, duration, depth
    calls_seen: int = 0  # calls (activations) on this thread, for the cap note


class Page:
    """Everything the report shows; :meth:`to_data` is the embedded JSON."""

    def __init__(self, title: str, origin: str) -> None:
        self.title = title
        self.origin = origin
        self.notes: list[str] = []
        self.total_ns: int | None = None
        self.functions: list[list[Any]] = []
        self._index: dict[_FnKey, int] = {}
        self.threads: list[ThreadView] = []
        self.all: ThreadView = ThreadView("All threads", None)
        self.tree_kind = "none"  # "exact", "approximate" or "none"
        self.timeline_cap = TIMELINE_CAP
        self.links: list[list[str]] = []  # [label, href]: the pytest index

    # ---- functions --------------------------------------------------------

    def function(self, key: _FnKey, full_name: str, short_file: str) -> int:
        found = self._index.get(key)
        if found is None:
            kind, _module, _qualname, _filename, line = key
            found = self._index[key] = len(self.functions)
            self.functions.append([full_name, short_file, line, kind])
        return found

    def function_keys(self) -> list[_FnKey]:
        """Each function's key (kind, module, qualname, filename, line), by
        page index."""
        keys: list[_FnKey] = [("", "", "", "", 0)] * len(self.functions)
        for key, index in self._index.items():
            keys[index] = key
        return keys

    def of_name(self, n: FunctionName) -> int:
        return self.function(_key_of_name(n), n.full_name, n.short_file)

    def of_stats(self, s: FunctionStats) -> int:
        short = short_path(s.filename) if s.kind == "python" else ""
        return self.function(_key_of_stats(s), s.full_name, short)

    # ---- tables -------------------------------------------------------------

    def stats_rows(self, stats: Iterable[FunctionStats]) -> list[list[Any]]:
        """Table rows: function, calls, primitive calls, self, inclusive,
        then min, p50, p90, p99, max (ns; -1 where unknown, as for pstats),
        then wall time (ns; 0 for functions that never suspend)."""
        rows = []
        for s in stats:
            known = s.samples > 0 or s.max_time > 0
            lat = [_ns(v) if known else -1 for v in (s.min_time, s.p50, s.p90, s.p99, s.max_time)]
            rows.append(
                [
                    self.of_stats(s),
                    s.calls,
                    s.primitive_calls,
                    _ns(s.self_time),
                    _ns(s.total_time),
                    *lat,
                    _ns(s.wall_time),
                ]
            )
        return rows

    # ---- output -------------------------------------------------------------

    def to_data(self) -> dict[str, Any]:
        from .._version import __version__

        return {
            "schema": "monitrace-html/1",
            "title": self.title,
            "origin": self.origin,
            "generator": f"monitrace {__version__}",
            "notes": self.notes,
            "total_ns": self.total_ns,
            "tree_kind": self.tree_kind,
            "timeline_cap": self.timeline_cap,
            "functions": self.functions,
            "views": [_view_data(v) for v in [self.all, *self.threads]],
            "links": self.links,
        }


def _ns(seconds: float) -> int:
    return int(round(seconds * 1e9))


def tree_data(root: _Node) -> list[int]:
    """The tree as one flat list, five numbers per node in depth-first
    order, children by inclusive time: function, parent's position (-1
    for the root), calls, inclusive ns, self ns. The root is function -1.
    Beyond TREE_NODE_CAP nodes the smallest subtrees are folded into
    their parent as one node of function -2 ("smaller calls")."""
    sizes: list[int] = []
    work = [root]
    while work:
        n = work.pop()
        for c in n.children.values():
            sizes.append(c.total)
            work.append(c)
    floor = -1
    if len(sizes) > TREE_NODE_CAP:
        sizes.sort(reverse=True)
        floor = sizes[TREE_NODE_CAP]
    out: list[int] = []
    todo: list[tuple[int, int, _Node | None, list[int] | None]] = [(-1, -1, root, None)]
    while todo:
        fn, parent, node, folded = todo.pop()
        at = len(out) // 5
        if node is None:
            assert folded is not None
            out.extend((-2, parent, *folded))
            continue
        out.extend((fn, parent, node.calls, node.total, node.self_))
        kids: list[tuple[int, int, _Node | None, list[int] | None]] = []
        other = [0, 0, 0]
        for cfn, c in node.children.items():
            if c.total > floor:
                kids.append((cfn, at, c, None))
            else:
                other[0] += c.calls
                other[1] += c.total
                other[2] += c.total
        if other[0] or other[1]:
            kids.append((-2, at, None, other))
        # Popped last first: pushed smallest first.
        kids.sort(key=lambda k: k[2].total if k[2] is not None else (k[3] or [0, 0])[1])
        todo.extend(kids)
    return out


def _view_data(v: ThreadView) -> dict[str, Any]:
    return {
        "name": v.name,
        "ident": v.ident,
        "stats": v.stats,
        "tree": None if v.tree is None else tree_data(v.tree),
        "edges": v.edges,
        "bars": v.bars,
        "calls_seen": v.calls_seen,
    }


# ---- from activations: tree, timeline, and (optionally) statistics -----------


@dataclasses.dataclass
class _FnTotals:
    calls: int = 0
    self_: int = 0
    total: int = 0
    active: int = 0  # activations of it on the thread's stack (recursion)
    durations: list[int] = dataclasses.field(default_factory=list)


def _stats_row(fn: int, t: _FnTotals) -> list[int]:
    d = sorted(t.durations)

    def pct(q: int) -> int:
        """The q-th percentile: the value of rank ceil(q% of n)."""
        if not d:
            return -1
        rank = max(1, -(-len(d) * q // 100))
        return d[min(len(d), rank) - 1]

    return [
        fn,
        t.calls,
        t.calls,
        t.self_,
        t.total,
        d[0] if d else -1,
        pct(50),
        pct(90),
        pct(99),
        d[-1] if d else -1,
        0,
    ]


def _merge_stats(views: Sequence[ThreadView]) -> list[list[int]]:
    """Per-thread rows of an aggregator (exact durations) summed; latency
    columns from the merged extremes (percentiles: the worst thread's)."""
    merged: dict[int, list[int]] = {}
    for v in views:
        for row in v.stats:
            old = merged.get(row[0])
            if old is None:
                merged[row[0]] = list(row)
                continue
            for i in (1, 2, 3, 4, 10):
                old[i] += row[i]
            old[5] = min(old[5], row[5]) if old[5] >= 0 else row[5]
            for i in (6, 7, 8, 9):
                old[i] = max(old[i], row[i])
    return list(merged.values())


def _merged_tree(views: Sequence[ThreadView]) -> _Node:
    root = _Node()
    for v in views:
        if v.tree is not None:
            root.merge(v.tree)
    return root


def _finish_tree(node: _Node) -> _Node:
    node.total = sum(c.total for c in node.children.values())
    node.calls = 0
    return node


# ---- a session ------------------------------------------------------------------


def from_source(source: Source, title: str | None = None) -> Page:
    """The page of a session's data (`Source.of(session)`); the title
    defaults to the program's name."""
    if title is None:
        import sys

        script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
        title = script if script and script != "-c" else "monitrace report"
    page = Page(title, "session")
    snap = source.snapshot
    page.total_ns = int(snap.get("total_ns") or 0) or None
    page.all.stats = page.stats_rows(build_stats(snap))
    by_thread: dict[int, list[FunctionStats]] = {}
    names: dict[int, str] = {}
    for s in build_stats(snap, by_thread=True):
        assert s.thread_id is not None
        by_thread.setdefault(s.thread_id, []).append(s)
        names[s.thread_id] = s.thread_name or f"Thread-{s.thread_id}"
    views: dict[int, ThreadView] = {}
    if source.events is not None:
        page.tree_kind = "exact"
        events = source.need_events("the HTML report's call tree")

        def thread(index: int) -> tuple[int, str]:
            info = source.thread(index)
            return info.ident, info.name or f"Thread-{info.ident}"

        for view in aggregate_events(
            page, events(), lambda rec: page.of_name(source.function(rec)), thread
        ):
            assert view.ident is not None
            views.setdefault(view.ident, view)
    scale = snap["ns_per_tick"]
    for th in snap["threads"]:
        ident = th["ident"]
        found = views.get(ident)
        if found is None:
            found = views[ident] = ThreadView(
                names.get(ident) or th["name"] or f"Thread-{ident}", ident
            )
        if page.tree_kind != "exact":
            edges = found.edges if found.edges is not None else []
            edges.extend(_edge(page, source, e, scale) for e in th["edges"])
            found.edges = edges
    for ident, view in views.items():
        view.stats = page.stats_rows(by_thread.get(ident, ()))
        if view.name.startswith("Thread-") and ident in names:
            view.name = names[ident]
    page.threads = sorted(
        views.values(), key=lambda v: -sum(r[4] for r in v.stats) if v.stats else 0
    )
    if page.tree_kind == "exact":
        page.all.tree = _finish_tree(_merged_tree(page.threads))
        for v in page.threads:
            if v.tree is not None:
                _finish_tree(v.tree)
    else:
        page.tree_kind = "approximate"
        all_edges = [e for v in page.threads for e in (v.edges or ())]
        finished = snap.get("finished", {}).get("edges", ())
        all_edges.extend(_edge(page, source, e, scale) for e in finished)
        page.all.edges = all_edges
    _cap_notes(page)
    return page


def aggregate_events(
    page: Page,
    events: Iterable[LogEvent],
    function: Callable[[int], int],
    thread: Callable[[int], tuple[int | None, str]],
    *,
    with_stats: bool = False,
    chrome: bool = False,
) -> list[ThreadView]:
    """Per-thread trees and capped timelines from recorded events, in one
    pass of :func:`.timeline.walk` (its pairing of entries and exits), and
    with `with_stats` each thread's statistics table (for sources that
    carry none of their own: a Chrome trace). `function` maps a record
    index to the page's function index, `thread` a log thread index to
    (ident, name); the views come in the order of the threads' first
    events. Bars start from the log's first event, so the threads'
    timelines line up. `chrome` (events read back from a Chrome trace):
    bars start from the first call instead, and activations left open end
    where they began."""
    cap = page.timeline_cap
    walker = Walker(end_unfinished_at_start=chrome)
    fns: dict[int, int] = {}
    # per log thread: its view, and with_stats its functions' totals
    views: dict[int, ThreadView] = {}
    totals: dict[int, dict[int, _FnTotals]] = {}
    origin = 0
    for begin, th, act, stack in walker.steps(events):
        if begin:
            view = views.get(th)
            if view is None:
                if not views:
                    assert walker.first_ns is not None
                    origin = act.start_ns if chrome else walker.first_ns
                view = views[th] = _new_view(thread, th)
                totals[th] = {}
            rec = act.function
            fn = fns.get(rec)
            if fn is None:
                fn = fns[rec] = function(rec)
            parent = stack[-1].mark[0] if stack else view.tree
            assert parent is not None
            node = parent.children.get(fn)
            if node is None:
                node = parent.children[fn] = _Node()
            if act.is_call:
                node.calls += 1
            bar = -1
            seen = view.calls_seen
            view.calls_seen = seen + 1
            if seen < cap:
                bars = view.bars
                assert bars is not None
                bar = len(bars)
                bars.extend((fn, act.start_ns - origin, -1, len(stack)))
            act.mark = (node, bar, fn)
            if with_stats:
                t = totals[th].get(fn)
                if t is None:
                    t = totals[th][fn] = _FnTotals()
                if act.is_call:
                    t.calls += 1
                t.active += 1
            continue
        node, bar, fn = act.mark
        # elapsed_ns and self_ns, without their property calls.
        elapsed = act.end_ns - act.start_ns
        child = act.child_ns
        self_ns = elapsed - child if elapsed > child else 0
        node.total += elapsed
        node.self_ += self_ns
        if bar >= 0:
            bars = views[th].bars
            assert bars is not None
            bars[bar + 2] = elapsed
        if with_stats:
            t = totals[th][fn]
            t.active -= 1
            t.self_ += self_ns
            if t.active == 0:
                t.total += elapsed
            t.durations.append(elapsed)
    out = []
    for th in walker.last:
        view = views.get(th)
        if view is None:  # a thread with no activation
            view = _new_view(thread, th)
        elif with_stats:
            view.stats = [_stats_row(fn, t) for fn, t in totals[th].items()]
        out.append(view)
    return out


def _new_view(thread: Callable[[int], tuple[int | None, str]], th: int) -> ThreadView:
    ident, name = thread(th)
    return ThreadView(name, ident, tree=_Node(), bars=[])


def _edge(page: Page, source: Source, e: Sequence[Any], scale: float) -> list[int]:
    caller, callee, calls, _prim, total, self_ = e
    return [
        page.of_name(source.function(caller)),
        page.of_name(source.function(callee)),
        calls,
        round(total * scale),
        round(self_ * scale),
    ]


def _coverage_note(page: Page) -> None:
    """Say so when the recorded events hold fewer calls than the
    statistics count (the record limit was reached, or min_duration left
    short calls out): the tree, flame graph and timeline show only those."""
    if page.all.tree is None or not page.all.stats:
        return
    in_tree = 0
    work = [page.all.tree]
    while work:
        node = work.pop()
        in_tree += node.calls
        work.extend(node.children.values())
    counted = sum(row[1] for row in page.all.stats)
    if in_tree < counted:
        page.notes.append(
            f"The recorded events hold {in_tree:,} of the {counted:,} calls the statistics "
            "count (the record limit was reached, or min_duration left short calls out): "
            "the flame graph, call tree and timeline show those; the table counts all."
        )


def _cap_notes(page: Page) -> None:
    _coverage_note(page)
    over = [v.name for v in page.threads if v.bars is not None and v.calls_seen > page.timeline_cap]
    if over:
        page.notes.append(
            f"The timeline shows the first {page.timeline_cap:,} calls of each thread "
            f"({', '.join(over)} had more); the flame graph, tree and table count all of them."
        )
    if page.tree_kind == "approximate":
        page.notes.append(APPROXIMATE_NOTE)


# ---- files --------------------------------------------------------------------


def from_file(path: str | os.PathLike[str]) -> Page:
    """The page of a file monitrace (or cProfile) wrote: monitrace JSON,
    the pytest summary JSON, pstats, or a Chrome trace from monitrace.
    ValueError names the file when it is none of these."""
    path = os.fspath(path)
    title = os.path.basename(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        data = json.loads(raw)
    except ValueError:
        # A pstats file is a marshalled dict: '{', or 0xfb with the
        # reference flag marshal sets since Python 3.4.
        if raw[:1] not in (b"{", b"\xfb"):
            raise ValueError(
                "neither JSON (monitrace, pytest summary, Chrome trace) nor a pstats file"
            ) from None
        return _from_pstats(path, title)
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply") from None
    if isinstance(data, dict) and "traceEvents" in data:
        return _from_chrome(data, title)
    if isinstance(data, list) and data and isinstance(data[0], dict) and "ph" in data[0]:
        return _from_chrome({"traceEvents": data}, title)
    if isinstance(data, dict) and data.get("schema") == "monitrace/1":
        return _from_monitrace_json(data, path, title)
    from ..saved import load

    page = Page(title, "pytest summary")
    page.all.stats = page.stats_rows(load(path))
    page.notes.append("A suite summary holds statistics only: no call tree, no flame graph.")
    return page


def _from_pstats(path: str, title: str) -> Page:
    import pstats

    from ..saved import load

    page = Page(title, "pstats")
    stats = load(path)
    page.all.stats = page.stats_rows(stats)
    index = {(s.filename, s.firstlineno, s.name): page.of_stats(s) for s in stats}
    raw = pstats.Stats(path).stats  # type: ignore[attr-defined]
    edges = []
    for callee, (_cc, _nc, _tt, _ct, callers) in raw.items():
        for caller, value in callers.items():
            if caller not in index or callee not in index:
                continue
            if isinstance(value, tuple):
                _ecc, enc, ett, ect = value
            else:  # profile's older format: a call count
                enc, ett, ect = value, 0.0, 0.0
            edges.append([index[caller], index[callee], enc, _ns(ect), _ns(ett)])
    page.all.edges = edges
    page.tree_kind = "approximate"
    page.total_ns = None
    page.notes.append(
        "pstats files hold no latency distribution: p50, p90, p99 and max are left empty."
    )
    _cap_notes(page)
    return page


def _from_monitrace_json(data: dict[str, Any], path: str, title: str) -> Page:
    from ..saved import load

    page = Page(title, "monitrace JSON")
    page.total_ns = data.get("total_ns")
    page.all.stats = page.stats_rows(load(path))
    idents = {f["id"]: function_name(dict(f, firstlineno=f["lineno"])) for f in data["functions"]}
    fn_of = {i: page.of_name(n) for i, n in idents.items()}
    views: list[ThreadView] = []
    for th in data.get("threads", ()):
        view = ThreadView(th.get("name") or f"Thread-{th['ident']}", th["ident"])
        stats = []
        for row in th.get("stats", ()):
            if row["function"] not in fn_of:
                continue
            stats.append(
                [
                    fn_of[row["function"]],
                    row["calls"],
                    row["primitive_calls"],
                    row["self_ns"],
                    row["total_ns"],
                    row["min_ns"],
                    -1,
                    -1,
                    -1,
                    row["max_ns"],
                    row.get("wall_ns", 0),
                ]
            )
        view.stats = stats
        view.edges = [
            [fn_of[e["caller"]], fn_of[e["callee"]], e["calls"], e["total_ns"], e["self_ns"]]
            for e in th.get("edges", ())
            if e["caller"] in fn_of and e["callee"] in fn_of
        ]
        views.append(view)
    events = data.get("events")
    if events:
        page.tree_kind = "exact"
        from ..model import KIND_NAMES

        kinds = {name: n for n, name in enumerate(KIND_NAMES)}
        thread_ix: dict[int, int] = {}
        log = (
            LogEvent(
                kinds[e["kind"]],
                e["time_ns"],
                thread_ix.setdefault(e["thread"], len(thread_ix)),
                e["function"],
            )
            for e in events
            if e["function"] in fn_of
        )
        named = {v.ident: v.name for v in views}

        def thread(index: int) -> tuple[int, str]:
            ident = next(i for i, n in thread_ix.items() if n == index)
            return ident, named.get(ident) or f"Thread-{ident}"

        traced = {v.ident: v for v in aggregate_events(page, log, fn_of.__getitem__, thread)}
        for view in views:
            got = traced.pop(view.ident, None)
            if got is not None:
                view.tree, view.bars, view.calls_seen = got.tree, got.bars, got.calls_seen
                assert view.tree is not None
                _finish_tree(view.tree)
                view.edges = None
        for view in traced.values():
            assert view.tree is not None
            _finish_tree(view.tree)
            views.append(view)
        page.threads = views
        page.all.tree = _finish_tree(_merged_tree(views))
    else:
        page.tree_kind = "approximate"
        page.threads = views
        page.all.edges = [e for v in views for e in (v.edges or ())]
    page.notes.append(
        "Per-thread latency percentiles are not in monitrace JSON's thread rows: "
        "the per-thread tables show min and max only."
    )
    _cap_notes(page)
    return page


def _from_chrome(data: dict[str, Any], title: str) -> Page:
    """B/E pairs (and X complete events) of each thread, well nested, back
    into the tree, the timeline and the table."""
    events = data.get("traceEvents")
    if not isinstance(events, list):
        raise ValueError(f"{title}: a Chrome trace without a traceEvents list")
    page = Page(title, "Chrome trace")
    page.tree_kind = "exact"
    thread_names: dict[Any, str] = {}
    spans: list[tuple[int, int, Any, int, bool]] = []  # time, order, key, fn, begin
    fn_cache: dict[tuple[Any, ...], int] = {}
    for n, ev in enumerate(events):
        if not isinstance(ev, dict):
            continue
        ph = ev.get("ph")
        key = (ev.get("pid"), ev.get("tid"))
        if ph == "M" and ev.get("name") == "thread_name":
            thread_names[key] = str((ev.get("args") or {}).get("name", ""))
            continue
        if ph not in ("B", "E", "X"):
            continue
        ts = _chrome_ns(ev.get("ts"))
        if ts is None:
            continue
        if ph == "E":
            spans.append((ts, n, key, -1, False))
            continue
        args = ev.get("args") or {}
        name = str(ev.get("name", "?"))
        file = str(args.get("file", "")) if isinstance(args, dict) else ""
        line = args.get("line", 0) if isinstance(args, dict) else 0
        kind = "c" if ev.get("cat") == "c" else "python"
        resumed = bool(isinstance(args, dict) and args.get("resumed"))
        ck = (name, file, line, kind)
        fn = fn_cache.get(ck)
        if fn is None:
            fn = fn_cache[ck] = page.function(
                (kind, "", name, file, int(line) if isinstance(line, int) else 0),
                name,
                short_path(file) if file else "",
            )
        spans.append((ts, n, key, fn, not resumed))
        if ph == "X":
            dur = _chrome_ns(ev.get("dur")) or 0
            spans[-1] = (ts, n, key, fn, not resumed)
            spans.append((ts + max(0, dur), n, key, -1, False))
    # Begin/end events are written in order per thread; X events need the
    # stable sort by time that keeps that order.
    spans.sort(key=lambda s: (s[0], s[1]))
    # As log events: an "E" ends the innermost open span of its thread.
    keys: dict[Any, int] = {}
    log = (
        LogEvent(
            (Kind.CALL if is_call else Kind.RESUME) if fn >= 0 else Kind.RETURN,
            ts,
            keys.setdefault(key, len(keys)),
            fn if fn >= 0 else INNERMOST,
        )
        for ts, _n, key, fn, is_call in spans
    )

    def thread(index: int) -> tuple[int | None, str]:
        key = next(k for k, n in keys.items() if n == index)
        return (
            key[1] if isinstance(key[1], int) else None,
            thread_names.get(key) or f"tid {key[1]}",
        )

    page.threads = aggregate_events(page, log, lambda fn: fn, thread, with_stats=True, chrome=True)
    for view in page.threads:
        _finish_tree(view.tree) if view.tree is not None else None
    page.all.tree = _finish_tree(_merged_tree(page.threads))
    page.all.stats = _merge_stats(page.threads)
    if page.threads:
        page.notes.append(
            "Read back from a Chrome trace: statistics are computed from its begin/end events."
        )
    _cap_notes(page)
    return page


def _chrome_ns(value: Any) -> int | None:
    """A Chrome timestamp (µs, a number or monitrace's exact decimal) in ns."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(round(value * 1000))
