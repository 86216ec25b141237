"""Comparing two runs function by function: ``monitrace diff BASE NEW``,
:func:`monitrace.diff` and ``Session.diff``.

Exact call counts do not wobble between runs, so a change in them is
always shown; times do, so a time change is shown only beyond
``min_change`` (relative). Functions are matched by ``module.qualname``;
when several share it (the same name in two files, redefinitions), by
file and line, then by file, then in line order, so a match survives
lines moving.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .report import FunctionStats, latency_fields

STATUSES = ("changed", "added", "removed")


@dataclasses.dataclass(frozen=True, slots=True)
class DiffRow:
    """One function compared. Times are seconds (0.0 where the function
    is absent); p99s are None where a side has no latency data (pstats)."""

    function: str
    file: str
    line: int
    status: str  # "changed", "added", "removed" or "same"
    base_calls: int
    new_calls: int
    base_tottime: float
    new_tottime: float
    base_cumtime: float
    new_cumtime: float
    base_p99: float | None = None
    new_p99: float | None = None

    @property
    def calls_delta(self) -> int:
        return self.new_calls - self.base_calls

    @property
    def tottime_ratio(self) -> float:
        return _ratio(self.base_tottime, self.new_tottime)

    @property
    def cumtime_ratio(self) -> float:
        return _ratio(self.base_cumtime, self.new_cumtime)

    @property
    def p99_ratio(self) -> float | None:
        if self.base_p99 is None or self.new_p99 is None:
            return None
        return _ratio(self.base_p99, self.new_p99)

    @property
    def impact(self) -> float:
        """How much this change moved the run: the change in self time
        (seconds), for ordering."""
        return abs(self.new_tottime - self.base_tottime)

    def to_data(self) -> dict[str, Any]:
        """The row as ``--format json`` prints it."""
        data = dataclasses.asdict(self)
        data["calls_delta"] = self.calls_delta
        return data


def _ratio(base: float, new: float) -> float:
    if base == new:
        return 1.0
    if base <= 0:
        return math.inf
    return new / base


# ---- loading ------------------------------------------------------------------

def load(path: str | os.PathLike[str]) -> list[FunctionStats]:
    """FunctionStats from a file monitrace wrote: session JSON
    (``monitrace/1``), the pytest plugin's summary or worker JSON, or a
    pstats file (monitrace's or cProfile's)."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    # A pstats file (marshal) also starts with "{": JSON is tried first.
    try:
        data = json.loads(raw)
    except ValueError:
        return _from_pstats(path)
    return _from_json(data, path)


def _from_pstats(path: str) -> list[FunctionStats]:
    import pstats

    try:
        stats = pstats.Stats(path).stats  # type: ignore[attr-defined]
    except Exception as exc:
        raise ValueError(f"{path}: neither monitrace JSON nor a pstats file ({exc})") from None
    out = []
    for (filename, line, name), (cc, nc, tt, ct, _callers) in stats.items():
        c_function = filename == "~"
        out.append(FunctionStats(
            name=name, qualname=name, module=_module_of_file(filename),
            filename=filename, firstlineno=line, calls=nc, primitive_calls=cc,
            total_time=ct, self_time=tt, min_time=0.0, max_time=0.0,
            p50=0.0, p90=0.0, p99=0.0, kind="c" if c_function else "python",
        ))
    return out


def _module_of_file(filename: str) -> str:
    """pstats files know no modules: the file's stem stands in, the same
    for both sides of a diff."""
    if filename.startswith(("<", "~")):
        return ""
    return os.path.splitext(os.path.basename(filename))[0]


def _from_json(data: Any, path: str) -> list[FunctionStats]:
    if isinstance(data, dict) and data.get("schema") == "monitrace/1":
        return _from_session_json(data)
    if isinstance(data, dict) and "tests_traced" in data and "functions" in data:
        from .suite_stats import stats_from_data

        return [stats_from_data(d) for d in data["functions"]]
    raise ValueError(
        f"{path}: JSON that monitrace did not write (expected a session's "
        f"\"monitrace/1\" file or a pytest --monitrace summary)"
    )


@dataclasses.dataclass(slots=True)
class _Sums:
    calls: int = 0
    primitive: int = 0
    total_ns: int = 0
    self_ns: int = 0
    wall_ns: int = 0
    min_ns: float = math.inf
    max_ns: float = 0.0
    hist: dict[tuple[float, float], int] = dataclasses.field(default_factory=dict)

    def add(self, row: dict[str, Any]) -> None:
        self.calls += row["calls"]
        self.primitive += row["primitive_calls"]
        self.total_ns += row["total_ns"]
        self.self_ns += row["self_ns"]
        self.wall_ns += row.get("wall_ns", 0)
        if row.get("samples"):
            self.min_ns = min(self.min_ns, row["min_ns"])
            self.max_ns = max(self.max_ns, row["max_ns"])
        for lo, hi, count in row.get("histogram", ()):
            key = (float(lo), math.inf if hi is None else float(hi))
            self.hist[key] = self.hist.get(key, 0) + count

    def stats(self, ident: dict[str, Any]) -> FunctionStats:
        return FunctionStats(
            name=ident["name"], qualname=ident["qualname"], module=ident["module"],
            filename=ident["filename"], firstlineno=ident["lineno"],
            kind=ident.get("kind", "python"),
            calls=self.calls, primitive_calls=self.primitive,
            total_time=self.total_ns / 1e9, self_time=self.self_ns / 1e9,
            wall_time=self.wall_ns / 1e9, samples=sum(self.hist.values()),
            **latency_fields(self.hist, self.min_ns, self.max_ns),
        )


def _from_session_json(data: dict[str, Any]) -> list[FunctionStats]:
    idents = {f["id"]: f for f in data["functions"]}
    sums: dict[Any, _Sums] = {}
    for th in data.get("threads", ()):
        for row in th["stats"]:
            sums.setdefault(row["function"], _Sums()).add(row)
    for row in data.get("finished_threads", {}).get("stats", ()):
        sums.setdefault(row["function"], _Sums()).add(row)
    out = [acc.stats(idents[f]) for f, acc in sums.items() if f in idents]
    for row in data.get("retired", ()):
        acc = _Sums()
        acc.add(row)
        out.append(acc.stats(row))
    return _merge_same(out)


def _merge_same(stats: Iterable[FunctionStats]) -> list[FunctionStats]:
    """Rows of one function (a dead code object and its live twin) summed."""
    seen: dict[tuple[Any, ...], FunctionStats] = {}
    for s in stats:
        key = (s.kind, s.module, s.qualname, s.filename, s.firstlineno)
        old = seen.get(key)
        seen[key] = s if old is None else dataclasses.replace(
            old, calls=old.calls + s.calls,
            primitive_calls=old.primitive_calls + s.primitive_calls,
            total_time=old.total_time + s.total_time, self_time=old.self_time + s.self_time,
            wall_time=old.wall_time + s.wall_time)
    return list(seen.values())


def _stats_of(what: Any) -> list[FunctionStats]:
    if isinstance(what, (str, os.PathLike)):
        return load(what)
    stats = getattr(what, "stats", None)
    if callable(stats):
        return list(stats())
    items = list(what)
    if all(isinstance(s, FunctionStats) for s in items):
        return items
    raise TypeError(
        "diff() compares paths of saved results, Sessions or lists of FunctionStats, "
        f"not {type(what).__name__}"
    )


# ---- matching -------------------------------------------------------------------

def _match(
    base: Sequence[FunctionStats], new: Sequence[FunctionStats]
) -> list[tuple[FunctionStats | None, FunctionStats | None]]:
    by_name: dict[str, tuple[list[FunctionStats], list[FunctionStats]]] = {}
    for side, stats in ((0, base), (1, new)):
        for s in stats:
            by_name.setdefault(s.full_name, ([], []))[side].append(s)
    pairs: list[tuple[FunctionStats | None, FunctionStats | None]] = []
    for olds, news in by_name.values():
        if len(olds) == 1 and len(news) == 1:
            pairs.append((olds[0], news[0]))
            continue
        olds = sorted(olds, key=lambda s: (s.filename, s.firstlineno))
        news = sorted(news, key=lambda s: (s.filename, s.firstlineno))
        for key in (lambda s: (s.filename, s.firstlineno), lambda s: s.filename, lambda s: 0):
            left: list[FunctionStats] = []
            for old in olds:
                found = next((n for n in news if key(n) == key(old)), None)
                if found is None:
                    left.append(old)
                else:
                    news.remove(found)
                    pairs.append((old, found))
            olds = left
        pairs.extend((old, None) for old in olds)
        pairs.extend((None, n) for n in news)
    return pairs


def _row(old: FunctionStats | None, new: FunctionStats | None, min_change: float) -> DiffRow:
    ref = new if new is not None else old
    assert ref is not None
    row = DiffRow(
        function=ref.full_name,
        file=ref.filename,
        line=ref.firstlineno,
        status="added" if old is None else "removed" if new is None else "same",
        base_calls=old.calls if old else 0,
        new_calls=new.calls if new else 0,
        base_tottime=old.self_time if old else 0.0,
        new_tottime=new.self_time if new else 0.0,
        base_cumtime=old.total_time if old else 0.0,
        new_cumtime=new.total_time if new else 0.0,
        base_p99=old.p99 if old and old.samples else None,
        new_p99=new.p99 if new and new.samples else None,
    )
    if row.status == "same" and (row.calls_delta or _time_changed(row, min_change)):
        row = dataclasses.replace(row, status="changed")
    return row


def _time_changed(row: DiffRow, min_change: float) -> bool:
    for ratio in (row.tottime_ratio, row.cumtime_ratio):
        if abs(ratio - 1.0) > min_change:
            return True
    return False


SORT_KEYS: dict[str, Callable[[DiffRow], Any]] = {
    "impact": lambda r: (-r.impact, -abs(r.calls_delta), r.function),
    "calls": lambda r: (-abs(r.calls_delta), -r.impact, r.function),
    "tottime": lambda r: (-abs(r.new_tottime - r.base_tottime), r.function),
    "cumtime": lambda r: (-abs(r.new_cumtime - r.base_cumtime), r.function),
    "name": lambda r: (r.function, r.file, r.line),
}


def check_options(min_change: Any, sort: Any) -> None:
    """ValueError naming the option when `min_change` or `sort` is bad."""
    if not isinstance(min_change, (int, float)) or isinstance(min_change, bool) or not (
            min_change >= 0 and math.isfinite(min_change)):
        raise ValueError(f"min_change must be a number >= 0 (0.1 = 10%), not {min_change!r}")
    if sort not in SORT_KEYS:
        raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}, not {sort!r}")


def diff(
    base: Any,
    new: Any,
    *,
    min_change: float = 0.1,
    calls_only: bool = False,
    sort: str = "impact",
    include_same: bool = False,
) -> list[DiffRow]:
    """Compare two runs: each a path (monitrace JSON, pytest summary JSON
    or pstats), a Session, or a list of FunctionStats. Returns the
    functions that changed (calls differ, or a time moved by more than
    `min_change`, relative: 0.1 = 10%), were added or removed, ordered by
    `sort` (``impact``: self time moved; ``calls``, ``tottime``,
    ``cumtime``, ``name``). `calls_only` ignores times; `include_same`
    adds the unchanged functions (status ``"same"``)."""
    check_options(min_change, sort)
    threshold = math.inf if calls_only else float(min_change)
    rows = [_row(old, n, threshold) for old, n in _match(_stats_of(base), _stats_of(new))]
    if not include_same:
        rows = [r for r in rows if r.status != "same"]
    key = SORT_KEYS["calls" if calls_only and sort == "impact" else sort]
    return sorted(rows, key=key)


def write_html(base: Any, new: Any, path: str | os.PathLike[str], *,
               min_change: float = 0.1, calls_only: bool = False, sort: str = "impact",
               title: str | None = None) -> None:
    """Write the HTML page of the diff of two runs (paths of saved runs or
    Sessions) to `path`: the table of the functions compared and a
    differential flame graph (red: more time or calls in `new`, blue:
    less). The rows are :func:`diff`'s, unchanged ones included."""
    from .exporters import write_atomic
    from .exporters.html import write_page
    from .exporters.html_diff import diff_page

    page = diff_page(base, new, min_change=min_change, calls_only=calls_only, sort=sort,
                     title=title)
    write_atomic(path, lambda f: write_page(page, f), binary=False)


# ---- --fail-on ----------------------------------------------------------------

_RULE = re.compile(
    r"^\s*(calls|tottime|cumtime|p99)\s*(>=|>)\s*([+-]?)(\d+(?:\.\d*)?|\.\d+)\s*(%?)\s*$")


@dataclasses.dataclass(frozen=True, slots=True)
class FailRule:
    """``calls>0``: calls rose; ``tottime>+20%``: self time rose by more
    than 20%; ``cumtime>0.5``: inclusive time rose by more than 0.5 s;
    ``p99>=+50%``."""

    text: str
    metric: str
    inclusive: bool
    amount: float
    relative: bool

    @classmethod
    def parse(cls, text: str) -> FailRule:
        m = _RULE.match(text)
        if m is None:
            raise ValueError(
                f"--fail-on {text!r}: expected METRIC>VALUE, METRIC one of calls, tottime, "
                f"cumtime, p99 and VALUE a number or a percentage (calls>0, tottime>+20%)")
        metric, op, sign, number, pct = m.groups()
        if sign == "-":
            raise ValueError(f"--fail-on {text!r}: the limit is an increase, not negative")
        if metric == "calls" and pct == "" and "." in number:
            raise ValueError(f"--fail-on {text!r}: calls are counted in whole calls")
        return cls(text.strip(), metric, op == ">=", float(number), pct == "%")

    def broken_by(self, row: DiffRow) -> bool:
        if self.metric == "calls":
            base, new = float(row.base_calls), float(row.new_calls)
        elif self.metric == "p99":
            if row.base_p99 is None or row.new_p99 is None:
                return False
            base, new = row.base_p99, row.new_p99
        else:
            base = getattr(row, "base_" + self.metric)
            new = getattr(row, "new_" + self.metric)
        if self.relative:
            if base <= 0:
                change = math.inf if new > 0 else 0.0
            else:
                change = (new - base) / base * 100.0
        else:
            change = new - base
        return change >= self.amount if self.inclusive else change > self.amount


# ---- text ---------------------------------------------------------------------

def _secs(seconds: float) -> str:
    from .report import format_duration

    return format_duration(seconds) if seconds else "0"


def _times(base: float, new: float) -> str:
    ratio = _ratio(base, new)
    shown = "new" if base == 0 and new else "gone" if new == 0 and base else f"{ratio:.2f}x"
    return f"{_secs(base)} -> {_secs(new)} ({shown})"


def render_text(rows: Sequence[DiffRow], *, limit: int | None = None,
                calls_only: bool = False, title: str = "") -> str:
    """The table ``monitrace diff`` prints."""
    counts = {s: sum(1 for r in rows if r.status == s) for s in STATUSES}
    lines = []
    if title:
        lines.append(title)
    lines.append(
        f"{counts['changed']} changed, {counts['added']} added, {counts['removed']} removed"
        + ("" if rows else " (no differences)"))
    shown = rows if limit is None or limit <= 0 else rows[:limit]
    if not shown:
        return "\n".join(lines) + "\n"
    lines.append("")
    head = f"{'calls (base -> new)':>24} {'delta':>9}"
    if not calls_only:
        head += f"  {'self time':<30} {'inclusive time':<30} {'p99':<8}"
    lines.append(head + "  function")
    for r in shown:
        calls = f"{r.base_calls:,} -> {r.new_calls:,}"
        text = f"{calls:>24} {r.calls_delta:>+9,}"
        if not calls_only:
            p99 = "" if r.p99_ratio is None else f"{r.p99_ratio:.2f}x"
            text += (f"  {_times(r.base_tottime, r.new_tottime):<30}"
                     f" {_times(r.base_cumtime, r.new_cumtime):<30} {p99:<8}")
        where = f" ({r.status})" if r.status != "changed" else ""
        lines.append(f"{text}  {r.function}{where}")
    if len(shown) < len(rows):
        lines.append(f"... {len(rows) - len(shown)} more (--limit 0 shows all)")
    return "\n".join(lines) + "\n"


def render_markdown(rows: Sequence[DiffRow], *, limit: int | None = None,
                    calls_only: bool = False) -> str:
    shown = rows if limit is None or limit <= 0 else rows[:limit]
    cols = ["function", "status", "base calls", "new calls", "delta"]
    if not calls_only:
        cols += ["self time", "inclusive time", "p99"]
    out = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for r in shown:
        cells = [f"`{r.function}`", r.status, f"{r.base_calls:,}", f"{r.new_calls:,}",
                 f"{r.calls_delta:+,}"]
        if not calls_only:
            cells += [_times(r.base_tottime, r.new_tottime),
                      _times(r.base_cumtime, r.new_cumtime),
                      "" if r.p99_ratio is None else f"{r.p99_ratio:.2f}x"]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if len(shown) < len(rows):
        out.append(f"\n{len(rows) - len(shown)} more rows not shown.")
    return "\n".join(out) + "\n"


def render_json(rows: Sequence[DiffRow], *, limit: int | None = None) -> str:
    shown = rows if limit is None or limit <= 0 else rows[:limit]
    return json.dumps([r.to_data() for r in shown], indent=1, allow_nan=False) + "\n"


# ---- the command ----------------------------------------------------------------

def _percent(text: str) -> float:
    import argparse

    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 10 or 10%, not {text!r}")
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a percentage >= 0, not {text!r}")
    return value / 100.0


def _rule(text: str) -> FailRule:
    import argparse

    try:
        return FailRule.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--fail-on {text!r}: "))


def parser() -> Any:
    import argparse

    p = argparse.ArgumentParser(
        prog="monitrace diff",
        description="Compare two saved runs (monitrace JSON, pytest --monitrace summaries, "
                    "or pstats) function by function: exact call count changes always, "
                    "time changes beyond --min-change.")
    p.add_argument("base", help="the earlier run")
    p.add_argument("new", help="the later run")
    p.add_argument("--sort", choices=tuple(SORT_KEYS), default="impact",
                   help="order of the rows (default: impact, the self time moved)")
    p.add_argument("--limit", type=int, default=40, metavar="N",
                   help="rows shown at most (default 40; 0: all)")
    p.add_argument("--calls-only", action="store_true", help="compare call counts only")
    p.add_argument("--min-change", type=_percent, default=0.1, metavar="PCT",
                   help="smallest relative time change shown (default 10%%)")
    p.add_argument("--format", choices=("text", "json", "markdown", "html"), default=None,
                   help="text, json or markdown print to stdout (default text); html writes "
                        "the page with the table and a differential flame graph to -o")
    p.add_argument("-o", "--output", metavar="FILE.html", default=None,
                   help="write the HTML page there (implies --format html)")
    p.add_argument("--fail-on", type=_rule, action="append", default=[], metavar="EXPR",
                   help="exit 1 when a change exceeds EXPR: calls>0, tottime>+20%%, "
                        "cumtime>0.5 (seconds), p99>+50%%; may be repeated")
    return p


def _check_output(p: Any, ns: Any) -> None:
    from .exporters import check_writable

    if ns.output is None:
        p.error("argument --format: html writes a page: name it with -o FILE.html")
    for given in (ns.base, ns.new):
        if os.path.abspath(ns.output) == os.path.abspath(given):
            p.error(f"argument -o/--output: {ns.output!r} is an input file")
    try:
        check_writable(ns.output)
    except OSError as exc:
        p.error(f"argument -o/--output: cannot write {ns.output!r}: {exc.strerror or exc}")


def main(argv: Sequence[str]) -> int:
    """``monitrace diff ...``: 0, or 1 when a --fail-on rule is broken
    (2 for bad arguments, as argparse exits)."""
    import sys

    p = parser()
    ns = p.parse_args(list(argv))
    if ns.limit < 0:
        p.error(f"argument --limit: expected a number >= 0, not {ns.limit}")
    if ns.format is None:
        ns.format = "text" if ns.output is None else "html"
    if ns.format == "html":
        _check_output(p, ns)
    elif ns.output is not None:
        p.error(f"argument -o/--output: writes the HTML page; --format {ns.format} prints "
                "to stdout")
    page = None
    try:
        if ns.format == "html":
            # The page reads what the report reads (Chrome traces too);
            # its rows are diff()'s of the same numbers.
            from .exporters.html_diff import diff_page

            page = diff_page(ns.base, ns.new, min_change=ns.min_change,
                             calls_only=ns.calls_only, sort=ns.sort)
            every = page.rows
        else:
            every = diff(ns.base, ns.new, min_change=ns.min_change, calls_only=ns.calls_only,
                         sort=ns.sort, include_same=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"monitrace diff: {exc}", file=sys.stderr)
        return 2
    rows = [r for r in every if r.status != "same"]
    if page is not None:
        from .exporters import write_atomic
        from .exporters.html import write_page

        try:
            write_atomic(ns.output, lambda f: write_page(page, f), binary=False)
        except OSError as exc:
            print(f"monitrace diff: {exc}", file=sys.stderr)
            return 2
        print(f"monitrace diff: wrote {ns.output} ({len(rows)} functions changed, added or "
              "removed)", file=sys.stderr)
    elif ns.format == "json":
        sys.stdout.write(render_json(rows, limit=ns.limit))
    elif ns.format == "markdown":
        sys.stdout.write(render_markdown(rows, limit=ns.limit, calls_only=ns.calls_only))
    else:
        sys.stdout.write(render_text(rows, limit=ns.limit, calls_only=ns.calls_only,
                                     title=f"monitrace diff: {ns.base} -> {ns.new}"))
    # Rules see every matched function, also time changes below --min-change.
    broken = [(rule, r) for rule in ns.fail_on for r in every if rule.broken_by(r)]
    for rule, r in broken:
        print(f"monitrace diff: {rule.text} broken by {r.function} ({r.file}:{r.line}): "
              f"calls {r.base_calls} -> {r.new_calls}", file=sys.stderr)
    return 1 if broken else 0
