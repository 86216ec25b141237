"""Statistics records built from a tracer snapshot, and the text table."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from .model import identity, short_path

Bucket = tuple[float, float, int]  # [low ns, high ns), count


@dataclasses.dataclass(frozen=True, slots=True)
class FunctionStats:
    """One function's numbers. Times are in seconds.

    ``calls`` counts calls (a generator or coroutine counts once, when it
    starts, not at every resume); ``primitive_calls`` those that were not
    already active on the same thread's stack (recursion). ``total_time`` is
    inclusive (outermost activation only), ``self_time`` exclusive.
    ``min_time``, ``max_time`` and the percentiles describe single
    activations, ``samples`` of them (the activations that finished). A
    generator's, coroutine's or async generator's activation runs from its
    start to its finish (return, exception, close), wall time, suspensions
    included; one that ended without running again (closed or collected
    while suspended, or still suspended at stop) counts up to its last
    yield. ``total_time`` and ``self_time`` count time on the stack only.
    Such a function is on the stack in segments (start or resume to yield
    or finish): ``segments`` counts them and the ``segment_*`` fields
    describe them as the plain fields describe activations; both stay
    0 for functions that never suspend. ``wall_time`` sums such a
    function's activations, start to finish with their suspensions (the
    time spent awaiting), where ``total_time`` has its time on the stack
    only; 0 for functions that never suspend.
    ``thread_id``/``thread_name`` are set for per-thread records only.
    """

    name: str
    qualname: str
    module: str
    filename: str
    firstlineno: int
    calls: int
    primitive_calls: int
    total_time: float
    self_time: float
    min_time: float
    max_time: float
    p50: float
    p90: float
    p99: float
    kind: str = "python"
    thread_id: int | None = None
    thread_name: str | None = None
    histogram: tuple[Bucket, ...] = ()
    samples: int = 0
    segments: int = 0
    segment_min: float = 0.0
    segment_max: float = 0.0
    segment_p50: float = 0.0
    segment_p90: float = 0.0
    segment_p99: float = 0.0
    segment_histogram: tuple[Bucket, ...] = ()
    wall_time: float = 0.0

    @property
    def full_name(self) -> str:
        """``module.qualname``, the name :meth:`Session.calls` accepts."""
        return f"{self.module}.{self.qualname}" if self.module else self.qualname

    @property
    def location(self) -> str:
        """cProfile's ``filename:lineno(function)`` label."""
        if self.kind == "c":
            if self.name.startswith("<built-in method ") and "." in self.qualname:
                # cProfile's label leaves the type out (`fromkeys`, `__new__
                # of type object`): name the function as it is written.
                owner = "" if self.module in ("", "builtins") else self.module + "."
                return "{built-in method " + owner + self.qualname + "}"
            return "{" + self.name[1:-1] + "}" if self.name.startswith("<") else self.name
        return f"{self.filename}:{self.firstlineno}({self.name})"

    @property
    def short_location(self) -> str:
        """:attr:`location` with the file as people read it
        (model.short_path: relative to the working directory,
        ``site-packages/...``, ``<stdlib>/...``)."""
        if self.kind == "c":
            return self.location
        return f"{short_path(self.filename)}:{self.firstlineno}({self.name})"

    def percentile(self, q: float) -> float:
        """The q-th percentile (0 < q <= 100) of activation times, seconds."""
        return percentile(self.histogram, q, self.min_time * 1e9, self.max_time * 1e9) / 1e9


def percentile(hist: Sequence[Bucket], q: float, lo_ns: float, hi_ns: float) -> float:
    """Read a percentile (ns) off a log histogram: the geometric middle of
    the bucket holding the rank, clamped to the observed min and max."""
    return percentiles(hist, (q,), lo_ns, hi_ns)[0]


def percentiles(
    hist: Sequence[Bucket], qs: Sequence[float], lo_ns: float, hi_ns: float
) -> list[float]:
    """Several percentiles (ns; `qs` ascending) as :func:`percentile`
    reads them, in one walk over the buckets."""
    n = 0
    for _, _, count in hist:
        n += count
    if n == 0:
        return [0.0] * len(qs)
    ranks = [max(1, math.ceil(q / 100.0 * n)) for q in qs]
    out: list[float] = []
    seen = 0
    for low, high, count in hist:
        seen += count
        while len(out) < len(ranks) and seen >= ranks[len(out)]:
            mid = math.sqrt(low * high) if low > 0 and math.isfinite(high) else low
            out.append(min(max(mid, lo_ns), hi_ns))
        if len(out) == len(ranks):
            return out
    return out + [hi_ns] * (len(ranks) - len(out))


# ---- building records ----------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Latency:
    samples: int = 0
    min: float = math.inf
    max: float = 0
    hist: dict[tuple[float, float], int] = dataclasses.field(default_factory=dict)

    def add(self, samples: int, mn: float, mx: float, hist: Iterable[Bucket]) -> None:
        # Run for every row of every test the pytest plugin traces: plain
        # comparisons, no calls.
        if samples:
            self.samples += samples
            if mn < self.min:
                self.min = mn
            if mx > self.max:
                self.max = mx
        if hist:
            mine = self.hist
            for low, high, count in hist:
                bounds = (low, high)
                mine[bounds] = mine.get(bounds, 0) + count

    def extremes(self, mn: float, mx: float) -> None:
        self.min = min(self.min, mn)
        self.max = max(self.max, mx)

    def bucket(self, low: float, high: float, count: int) -> None:
        self.hist[(low, high)] = self.hist.get((low, high), 0) + count

    def fields(self, ns_per_unit: float) -> dict[str, Any]:
        return latency_fields(self.hist, self.min * ns_per_unit, self.max * ns_per_unit)


#: The unit of sums made from FunctionStats (seconds), for Sums.record.
SECONDS = 1e9


@dataclasses.dataclass(slots=True)
class Sums:
    """One function's numbers summed over rows of any source: calls,
    times, wall time, and the latency (and generator segment) extremes and
    histograms. Times are summed in the unit of the rows added (clock
    ticks from a snapshot, ns from saved JSON, seconds from FunctionStats;
    one unit per Sums), histograms are in ns whatever the source;
    :meth:`record` makes the FunctionStats. Used for every merge of rows:
    threads of a session (MergedRows), saved JSON read back (saved), the
    tests of a suite (suite_stats)."""

    calls: int = 0
    primitive: int = 0
    total: float = 0
    self_: float = 0
    wall: float = 0
    latency: _Latency = dataclasses.field(default_factory=_Latency)
    segments: _Latency = dataclasses.field(default_factory=_Latency)

    def add(self, row: Sequence[Any]) -> None:
        """A snapshot row (times in ticks): (index, calls, primitive
        calls, total, self, min, max, samples, histogram, segments, wall),
        segments being None or (samples, min, max, histogram) for
        generator rows."""
        _, calls, prim, total, self_, mn, mx, samples, hist, segments, wall = row
        self.calls += calls
        self.primitive += prim
        self.total += total
        self.self_ += self_
        self.wall += wall
        self.latency.add(samples, mn, mx, hist)
        if segments is not None:
            self.segments.add(*segments)

    def add_saved(self, row: dict[str, Any]) -> None:
        """A function's row of saved monitrace JSON (times in ns). Its
        samples are counted from its histogram; generator segments are
        not read back."""
        self.calls += row["calls"]
        self.primitive += row["primitive_calls"]
        self.total += row["total_ns"]
        self.self_ += row["self_ns"]
        self.wall += row.get("wall_ns", 0)
        latency = self.latency
        if row.get("samples"):
            latency.extremes(row["min_ns"], row["max_ns"])
        for lo, hi, count in row.get("histogram", ()):
            latency.bucket(float(lo), math.inf if hi is None else float(hi), count)
            latency.samples += count

    def add_stats(self, s: FunctionStats) -> None:
        """A FunctionStats (times in seconds, histograms in ns)."""
        self.calls += s.calls
        self.primitive += s.primitive_calls
        self.self_ += s.self_time
        self.total += s.total_time
        self.wall += s.wall_time
        latency = self.latency
        if s.histogram or s.max_time:
            latency.extremes(s.min_time, s.max_time)
        for low, high, count in s.histogram:
            latency.bucket(low, high, count)
        latency.samples += s.samples
        self.segments.add(s.segments, s.segment_min, s.segment_max, s.segment_histogram)

    def record(self, ident: dict[str, Any], ns_per_unit: float, **extra: Any) -> FunctionStats:
        """The FunctionStats of the sums: `ident` gives the function's
        identity fields (model.identity), `ns_per_unit` the unit the times
        were summed in (ns per tick; 1.0 for ns; SECONDS), `extra` further
        fields (thread_id, thread_name). Converted once, after summing."""

        def seconds(value: float) -> float:
            # Sums of seconds stay as they were added.
            return value if ns_per_unit == SECONDS else value * ns_per_unit / 1e9

        return FunctionStats(
            **ident,
            calls=self.calls,
            primitive_calls=self.primitive,
            total_time=seconds(self.total),
            self_time=seconds(self.self_),
            **self.latency.fields(ns_per_unit),
            samples=self.latency.samples,
            segments=self.segments.samples,
            **{
                "segment_" + name.removesuffix("_time"): value
                for name, value in self.segments.fields(ns_per_unit).items()
            },
            wall_time=seconds(self.wall),
            **extra,
        )


def latency_fields(
    hist: dict[tuple[float, float], int], min_ns: float, max_ns: float
) -> dict[str, Any]:
    """FunctionStats' latency fields (seconds) from a merged histogram
    ({(low ns, high ns): count}) and the min and max seen (ns; min is
    infinite when nothing was measured)."""
    buckets = tuple((lo, hi, c) for (lo, hi), c in sorted(hist.items()))
    mn = 0.0 if min_ns == math.inf else float(min_ns)
    mx = float(max_ns)
    p50, p90, p99 = percentiles(buckets, (50, 90, 99), mn, mx)
    return dict(
        min_time=mn / 1e9,
        max_time=mx / 1e9,
        p50=p50 / 1e9,
        p90=p90 / 1e9,
        p99=p99 / 1e9,
        histogram=buckets,
    )


class MergedRows:
    """A snapshot's rows grouped per function: one group per function
    (threads merged), or per (thread, function) with ``by_thread``. Sums
    (in ticks) and FunctionStats (with their percentiles) are made only
    for the groups asked for, so a reader that needs a few of them (the
    pytest plugin's slowest tests) or only the tick sums (its suite
    totals) pays for no more.

    Threads that ended keep their counts and times per function; their
    latency (min, max, percentiles) is kept for all of them together, so
    it shows in the merged groups only. Code objects that died are
    merged by name (module, qualname, file, line) into one group, the
    live function of that name included; they have no per-thread view."""

    __slots__ = ("scale", "groups", "_records", "_idents")

    def __init__(self, snapshot: dict[str, Any], by_thread: bool = False) -> None:
        self.scale: float = snapshot["ns_per_tick"]
        self._records = snapshot["records"]
        self._idents: dict[Any, dict[str, Any]] = {}
        #: group -> its snapshot rows (see Sums.add); groups are record
        #: indexes (live code, C functions), ("dead", name tuple), or with
        #: ``by_thread`` (thread ident, thread name, record index); in the
        #: order of build_stats.
        self.groups: dict[Any, list[Sequence[Any]]] = (
            _per_thread(snapshot) if by_thread else _merged(snapshot, self._records)
        )

    def ident(self, group: Any) -> dict[str, Any]:
        """The identity fields (model.identity) of a group's function."""
        index = group[2] if isinstance(group, tuple) and group[0] != "dead" else group
        found = self._idents.get(index)
        if found is None:
            if isinstance(index, int):
                kind, key, module = self._records[index][:3]
                found = identity(kind, key, module)
            else:
                found = identity("py", index[1], None)
            self._idents[index] = found
        return found

    def self_ticks(self, group: Any) -> int:
        return sum(row[4] for row in self.groups[group])

    def stats(self, group: Any) -> FunctionStats:
        """The FunctionStats of one group."""
        acc = Sums()
        for row in self.groups[group]:
            acc.add(row)
        if isinstance(group, tuple) and group[0] != "dead":
            return acc.record(
                self.ident(group), self.scale, thread_id=group[0], thread_name=group[1]
            )
        return acc.record(self.ident(group), self.scale)

    def all_stats(self) -> list[FunctionStats]:
        return [self.stats(g) for g in self.groups]


def _per_thread(snapshot: dict[str, Any]) -> dict[Any, list[Sequence[Any]]]:
    # A thread can have several C states (one per tool id the session
    # ran on); rows of the same thread and function are merged.
    per_thread: dict[Any, list[Sequence[Any]]] = {}
    for th in snapshot["threads"]:
        name = th["name"] or f"Thread-{th['ident']}"
        for row in th["rows"]:
            per_thread.setdefault((th["ident"], name, row[0]), []).append(row)
    return per_thread


def _merged(snapshot: dict[str, Any], records: Sequence[Any]) -> dict[Any, list[Sequence[Any]]]:
    merged: dict[Any, list[Sequence[Any]]] = {}
    for th in snapshot["threads"]:
        for row in th["rows"]:
            found = merged.get(row[0])
            if found is None:
                merged[row[0]] = [row]
            else:
                found.append(row)
    for row in snapshot.get("finished", {}).get("rows", ()):
        merged.setdefault(row[0], []).append(row)
    retired = snapshot.get("retired", ())
    dead = {
        index: key
        for index, (kind, key, _module, _traced) in enumerate(records)
        if kind == "py" and not hasattr(key, "co_name")
    }
    if not (dead or retired):
        return {index: merged[index] for index in sorted(merged)}
    # Dead code is grouped by its name, with the live record of the same
    # name when there is one.
    live_by_name: dict[tuple[Any, ...], int] = {}
    for index, (kind, key, module, _traced) in enumerate(records):
        if kind == "py" and index not in dead:
            name = (key.co_name, key.co_qualname, key.co_filename, key.co_firstlineno, module)
            live_by_name.setdefault(name, index)
    grouped: dict[Any, list[Sequence[Any]]] = {}
    for index, rows in merged.items():
        group = index
        if index in dead:
            group = live_by_name.get(dead[index], ("dead", dead[index]))
        grouped.setdefault(group, []).extend(rows)
    for row in retired:
        name = row[0]
        grouped.setdefault(live_by_name.get(name, ("dead", name)), []).append(row)
    live = sorted(g for g in grouped if isinstance(g, int))
    gone = [g for g in grouped if not isinstance(g, int)]
    return {g: grouped[g] for g in live + gone}


def build_stats(snapshot: dict[str, Any], by_thread: bool = False) -> list[FunctionStats]:
    """FunctionStats from a Tracer snapshot: one per function (threads
    merged), or one per (thread, function) with ``by_thread``; see
    MergedRows."""
    return MergedRows(snapshot, by_thread).all_stats()


# ---- sorting and the table -----------------------------------------------

SORT_KEYS: dict[str, tuple[Any, bool]] = {
    # name: (key function, descending)
    "calls": (lambda s: s.calls, True),
    "ncalls": (lambda s: s.calls, True),
    "pcalls": (lambda s: s.primitive_calls, True),
    "tottime": (lambda s: s.self_time, True),
    "time": (lambda s: s.self_time, True),
    "cumtime": (lambda s: s.total_time, True),
    "cumulative": (lambda s: s.total_time, True),
    "name": (lambda s: s.name, False),
    "filename": (lambda s: (s.filename, s.firstlineno), False),
    "p50": (lambda s: s.p50, True),
    "p90": (lambda s: s.p90, True),
    "p99": (lambda s: s.p99, True),
    "max": (lambda s: s.max_time, True),
    "walltime": (lambda s: s.wall_time, True),
}

_SORT_TITLES = {
    "calls": "call count",
    "ncalls": "call count",
    "pcalls": "primitive call count",
    "tottime": "internal time",
    "time": "internal time",
    "cumtime": "cumulative time",
    "cumulative": "cumulative time",
    "name": "function name",
    "filename": "file name",
    "p50": "median latency",
    "p90": "90th percentile latency",
    "p99": "99th percentile latency",
    "max": "maximum latency",
    "walltime": "wall time",
}


def check_sort(sort: object, option: str = "sort") -> None:
    """ValueError naming `option` unless `sort` is a key of SORT_KEYS."""
    if not isinstance(sort, str) or sort not in SORT_KEYS:
        raise ValueError(f"{option} must be one of {', '.join(sorted(SORT_KEYS))}, not {sort!r}")


def check_limit(limit: object, option: str = "limit") -> None:
    """ValueError naming `option` unless `limit` is None or an int >= 0."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ValueError(f"{option} must be a non-negative int or None, not {limit!r}")


def sort_stats(stats: Iterable[FunctionStats], sort: str) -> list[FunctionStats]:
    check_sort(sort)
    key, descending = SORT_KEYS[sort]
    # Ties broken by location, so output is stable across runs.
    rows = sorted(stats, key=lambda s: (s.filename, s.firstlineno, s.name))
    return sorted(rows, key=key, reverse=descending)


def format_duration(seconds: float) -> str:
    """A short human duration: 850ns, 12.3us, 4.56ms, 1.23s."""
    ns = seconds * 1e9
    if ns < 1e3:
        return f"{ns:.0f}ns"
    if ns < 1e6:
        return f"{ns / 1e3:.3g}us"
    if ns < 1e9:
        return f"{ns / 1e6:.3g}ms"
    return f"{seconds:.3g}s"


def _ncalls(s: FunctionStats) -> str:
    if s.calls != s.primitive_calls:
        return f"{s.calls}/{s.primitive_calls}"
    return str(s.calls)


def render_table(
    stats: Sequence[FunctionStats],
    *,
    sort: str = "cumtime",
    limit: int | None = None,
    total_seconds: float | None = None,
    file: TextIO | None = None,
    full_paths: bool = False,
    hint: str | None = None,
) -> str:
    """cProfile's table (ncalls tottime percall cumtime percall
    filename:lineno(function)) plus p50, p99 and max, and a ``wall``
    column (:attr:`FunctionStats.wall_time`, blank for functions that
    never suspend) whenever a generator or coroutine ran. Returns the text and
    writes it to ``file`` when given. Files show as
    :attr:`FunctionStats.short_location` unless ``full_paths``; ``hint``
    is a line printed under "List reduced ..." when `limit` left rows out
    (how to see them all)."""
    check_limit(limit)
    check_sort(sort)
    rows = [s for s in sort_stats(stats, sort) if s.calls or s.total_time]
    calls = sum(s.calls for s in rows)
    prim = sum(s.primitive_calls for s in rows)
    if total_seconds is None:
        total_seconds = sum(s.self_time for s in rows)
    lines = []
    head = f"{calls} function calls"
    if prim != calls:
        head += f" ({prim} primitive calls)"
    lines.append(f"         {head} in {total_seconds:.6f} seconds")
    lines.append("")
    lines.append(f"   Ordered by: {_SORT_TITLES[sort]}")
    if limit is not None and limit < len(rows):
        lines.append(f"   List reduced from {len(rows)} to {limit} due to restriction <{limit}>")
        if hint:
            lines.append(f"   {hint}")
        rows = rows[:limit]
    lines.append("")
    wall = any(s.wall_time for s in rows)
    lines.append(
        f"{'ncalls':>9} {'tottime':>9} {'percall':>9} {'cumtime':>9} {'percall':>9} "
        + (f"{'walltime':>9} " if wall else "")
        + f"{'p50':>8} {'p99':>8} {'max':>8}  filename:lineno(function)"
    )
    for s in rows:
        tot_pc = s.self_time / s.calls if s.calls else 0.0
        cum_pc = s.total_time / s.primitive_calls if s.primitive_calls else 0.0
        wall_cell = ""
        if wall:
            wall_cell = f"{s.wall_time:9.6f} " if s.wall_time else f"{'':9} "
        lines.append(
            f"{_ncalls(s):>9} {s.self_time:9.6f} {tot_pc:9.6f} {s.total_time:9.6f} "
            f"{cum_pc:9.6f} {wall_cell}{format_duration(s.p50):>8} "
            f"{format_duration(s.p99):>8} {format_duration(s.max_time):>8}  "
            f"{s.location if full_paths else s.short_location}"
        )
    text = "\n".join(lines) + "\n"
    if file is not None:
        file.write(text)
    return text


def render_rows(
    stats: Sequence[FunctionStats],
    *,
    sort: str = "cumtime",
    limit: int | None = None,
    full_paths: bool = False,
) -> list[str]:
    """The table's column header and rows, without the summary lines above
    them: for embedding in other messages."""
    lines = render_table(stats, sort=sort, limit=limit, full_paths=full_paths).splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return lines[start:]
