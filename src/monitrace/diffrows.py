"""Two runs' functions paired and compared: the rows of
:func:`monitrace.diff`, which the text, JSON and HTML diffs all show.

Functions are matched by ``module.qualname``; when several share it, by
file and line, then by file, then in line order."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

from .report import FunctionStats

__all__ = [
    "SORT_KEYS",
    "STATUSES",
    "DiffRow",
    "check_options",
    "make_row",
    "match_functions",
    "ratio",
]


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
        return ratio(self.base_tottime, self.new_tottime)

    @property
    def cumtime_ratio(self) -> float:
        return ratio(self.base_cumtime, self.new_cumtime)

    @property
    def p99_ratio(self) -> float | None:
        if self.base_p99 is None or self.new_p99 is None:
            return None
        return ratio(self.base_p99, self.new_p99)

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


def ratio(base: float, new: float) -> float:
    if base == new:
        return 1.0
    if base <= 0:
        return math.inf
    return new / base


# ---- matching -------------------------------------------------------------------


def match_functions(
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


def make_row(old: FunctionStats | None, new: FunctionStats | None, min_change: float) -> DiffRow:
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
    if (
        not isinstance(min_change, (int, float))
        or isinstance(min_change, bool)
        or not (min_change >= 0 and math.isfinite(min_change))
    ):
        raise ValueError(f"min_change must be a number >= 0 (0.1 = 10%), not {min_change!r}")
    if sort not in SORT_KEYS:
        raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}, not {sort!r}")
