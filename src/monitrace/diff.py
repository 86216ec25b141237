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
from collections.abc import Sequence
from typing import Any

from .report import FunctionStats
from .diffrows import SORT_KEYS, STATUSES, DiffRow, check_options, make_row, match_functions, ratio
from .saved import load

__all__ = [
    "SORT_KEYS",
    "STATUSES",
    "DiffRow",
    "FailRule",
    "check_options",
    "diff",
    "load",
    "main",
    "parser",
    "render_json",
    "render_markdown",
    "render_text",
    "write_html",
]


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
    rows = [
        make_row(old, n, threshold) for old, n in match_functions(_stats_of(base), _stats_of(new))
    ]
    if not include_same:
        rows = [r for r in rows if r.status != "same"]
    key = SORT_KEYS["calls" if calls_only and sort == "impact" else sort]
    return sorted(rows, key=key)


def write_html(
    base: Any,
    new: Any,
    path: str | os.PathLike[str],
    *,
    min_change: float = 0.1,
    calls_only: bool = False,
    sort: str = "impact",
    title: str | None = None,
) -> None:
    """Write the HTML page of the diff of two runs (paths of saved runs or
    Sessions) to `path`: the table of the functions compared and a
    differential flame graph (red: more time or calls in `new`, blue:
    less). The rows are :func:`diff`'s, unchanged ones included."""
    from .exporters import write_atomic
    from .exporters.html import write_page
    from .exporters.html_diff import diff_page

    page = diff_page(
        base, new, min_change=min_change, calls_only=calls_only, sort=sort, title=title
    )
    write_atomic(path, lambda f: write_page(page, f), binary=False)


# ---- --fail-on ----------------------------------------------------------------

_RULE = re.compile(
    r"^\s*(calls|tottime|cumtime|p99)\s*(>=|>)\s*([+-]?)(\d+(?:\.\d*)?|\.\d+)\s*(%?)\s*$"
)


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
                f"cumtime, p99 and VALUE a number or a percentage (calls>0, tottime>+20%)"
            )
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
    change = ratio(base, new)
    shown = "new" if base == 0 and new else "gone" if new == 0 and base else f"{change:.2f}x"
    return f"{_secs(base)} -> {_secs(new)} ({shown})"


def render_text(
    rows: Sequence[DiffRow], *, limit: int | None = None, calls_only: bool = False, title: str = ""
) -> str:
    """The table ``monitrace diff`` prints."""
    counts = {s: sum(1 for r in rows if r.status == s) for s in STATUSES}
    lines = []
    if title:
        lines.append(title)
    lines.append(
        f"{counts['changed']} changed, {counts['added']} added, {counts['removed']} removed"
        + ("" if rows else " (no differences)")
    )
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
            text += (
                f"  {_times(r.base_tottime, r.new_tottime):<30}"
                f" {_times(r.base_cumtime, r.new_cumtime):<30} {p99:<8}"
            )
        where = f" ({r.status})" if r.status != "changed" else ""
        lines.append(f"{text}  {r.function}{where}")
    if len(shown) < len(rows):
        lines.append(f"... {len(rows) - len(shown)} more (--limit 0 shows all)")
    return "\n".join(lines) + "\n"


def render_markdown(
    rows: Sequence[DiffRow], *, limit: int | None = None, calls_only: bool = False
) -> str:
    shown = rows if limit is None or limit <= 0 else rows[:limit]
    cols = ["function", "status", "base calls", "new calls", "delta"]
    if not calls_only:
        cols += ["self time", "inclusive time", "p99"]
    out = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for r in shown:
        cells = [
            f"`{r.function}`",
            r.status,
            f"{r.base_calls:,}",
            f"{r.new_calls:,}",
            f"{r.calls_delta:+,}",
        ]
        if not calls_only:
            cells += [
                _times(r.base_tottime, r.new_tottime),
                _times(r.base_cumtime, r.new_cumtime),
                "" if r.p99_ratio is None else f"{r.p99_ratio:.2f}x",
            ]
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
        raise argparse.ArgumentTypeError(
            f"expected a percentage such as 10 or 10%, not {text!r}"
        ) from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a percentage >= 0, not {text!r}")
    return value / 100.0


def _rule(text: str) -> FailRule:
    import argparse

    try:
        return FailRule.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--fail-on {text!r}: ")) from None


def parser() -> Any:
    import argparse

    p = argparse.ArgumentParser(
        prog="monitrace diff",
        description="Compare two saved runs (monitrace JSON, pytest --monitrace summaries, "
        "or pstats) function by function: exact call count changes always, "
        "time changes beyond --min-change.",
    )
    p.add_argument("base", help="the earlier run")
    p.add_argument("new", help="the later run")
    p.add_argument(
        "--sort",
        choices=tuple(SORT_KEYS),
        default="impact",
        help="order of the rows (default: impact, the self time moved)",
    )
    p.add_argument(
        "--limit", type=int, default=40, metavar="N", help="rows shown at most (default 40; 0: all)"
    )
    p.add_argument("--calls-only", action="store_true", help="compare call counts only")
    p.add_argument(
        "--min-change",
        type=_percent,
        default=0.1,
        metavar="PCT",
        help="smallest relative time change shown (default 10%%)",
    )
    p.add_argument(
        "--format",
        choices=("text", "json", "markdown", "html"),
        default=None,
        help="text, json or markdown print to stdout (default text); html writes "
        "the page with the table and a differential flame graph to -o",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE.html",
        default=None,
        help="write the HTML page there (implies --format html)",
    )
    p.add_argument(
        "--fail-on",
        type=_rule,
        action="append",
        default=[],
        metavar="EXPR",
        help="exit 1 when a change exceeds EXPR: calls>0, tottime>+20%%, "
        "cumtime>0.5 (seconds), p99>+50%%; may be repeated",
    )
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
        p.error(
            f"argument -o/--output: writes the HTML page; --format {ns.format} prints to stdout"
        )
    page = None
    try:
        if ns.format == "html":
            # The page reads what the report reads (Chrome traces too);
            # its rows are diff()'s of the same numbers.
            from .exporters.html_diff import diff_page

            page = diff_page(
                ns.base, ns.new, min_change=ns.min_change, calls_only=ns.calls_only, sort=ns.sort
            )
            every = page.rows
        else:
            every = diff(
                ns.base,
                ns.new,
                min_change=ns.min_change,
                calls_only=ns.calls_only,
                sort=ns.sort,
                include_same=True,
            )
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
        print(
            f"monitrace diff: wrote {ns.output} ({len(rows)} functions changed, added or removed)",
            file=sys.stderr,
        )
    elif ns.format == "json":
        sys.stdout.write(render_json(rows, limit=ns.limit))
    elif ns.format == "markdown":
        sys.stdout.write(render_markdown(rows, limit=ns.limit, calls_only=ns.calls_only))
    else:
        sys.stdout.write(
            render_text(
                rows,
                limit=ns.limit,
                calls_only=ns.calls_only,
                title=f"monitrace diff: {ns.base} -> {ns.new}",
            )
        )
    # Rules see every matched function, also time changes below --min-change.
    broken = [(rule, r) for rule in ns.fail_on for r in every if rule.broken_by(r)]
    for rule, r in broken:
        print(
            f"monitrace diff: {rule.text} broken by {r.function} ({r.file}:{r.line}): "
            f"calls {r.base_calls} -> {r.new_calls}",
            file=sys.stderr,
        )
    return 1 if broken else 0
