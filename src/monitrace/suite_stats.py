"""Statistics of a whole test suite: per-function totals across the traced
tests, and the slowest tests with their hottest functions. Plain data in and
out (``to_data``/``merge``), so pytest-xdist workers can send theirs to the
controller."""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterable, Sequence
from typing import Any

from .model import identity
from .report import SECONDS, FunctionStats, MergedRows, Sums

FORMAT_VERSION = 1

_Key = tuple[str, str, str, str, str, int]


def _key(s: FunctionStats) -> _Key:
    return (s.kind, s.module, s.qualname, s.name, s.filename, s.firstlineno)


def _ident_key(ident: dict[str, Any]) -> _Key:
    """_key of the function model.identity() describes."""
    return (
        ident["kind"],
        ident["module"],
        ident["qualname"],
        ident["name"],
        ident["filename"],
        ident["firstlineno"],
    )


def stats_to_data(s: FunctionStats) -> dict[str, Any]:
    """A FunctionStats as JSON-ready data (histogram as lists)."""
    data = dataclasses.asdict(s)
    data["histogram"] = [list(b) for b in s.histogram]
    data["segment_histogram"] = [list(b) for b in s.segment_histogram]
    return data


def stats_from_data(data: dict[str, Any]) -> FunctionStats:
    fields = dict(data)
    for name in ("histogram", "segment_histogram"):
        fields[name] = tuple((float(lo), float(hi), int(c)) for lo, hi, c in fields.get(name, ()))
    return FunctionStats(**fields)


def _ident_of(s: FunctionStats) -> dict[str, Any]:
    """The identity fields of a FunctionStats (those model.identity gives)."""
    return dict(
        name=s.name,
        qualname=s.qualname,
        module=s.module,
        filename=s.filename,
        firstlineno=s.firstlineno,
        kind=s.kind,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class TestRecord:
    """One traced test: its node id, how long its traced phases took
    (seconds, wall clock), and its hottest functions by self time."""

    nodeid: str
    duration: float
    hottest: tuple[FunctionStats, ...]


class SuiteStats:
    """Totals over the traced tests of a suite; keeps the `slowest` slowest
    tests with up to `hottest` functions each.

    Tests traced here (:meth:`add_snapshot`) are summed in clock ticks, one
    table per clock, and become FunctionStats once, at the end; records
    from elsewhere (xdist workers, :meth:`add_test`) are summed as they
    come."""

    def __init__(self, *, slowest: int, hottest: int) -> None:
        self.slowest = slowest
        self.hottest = hottest
        self.tests_traced = 0
        # ns per tick -> function key -> (its identity, its sums in ticks)
        self._ticks: dict[float, dict[_Key, tuple[dict[str, Any], Sums]]] = {}
        # function key -> (its identity, its sums in seconds)
        self._functions: dict[_Key, tuple[dict[str, Any], Sums]] = {}
        # A min-heap on (duration, node id, arrival): the root is the
        # fastest kept test; arrival keeps a rerun's equal entries apart.
        self._tests: list[tuple[float, str, int, TestRecord]] = []
        self._arrivals = 0

    def add_snapshot(self, nodeid: str, duration: float, snapshot: dict[str, Any]) -> None:
        """Add one test traced here, from its session's snapshot: its rows
        are summed per function into the suite's totals, in ticks. Only a
        test that is among the slowest so far gets FunctionStats made, for
        its hottest functions (see MergedRows)."""
        self.tests_traced += 1
        if self._would_keep(duration, nodeid):
            rows = MergedRows(snapshot)
            ranked = sorted(
                rows.groups,
                key=lambda g: (
                    -rows.self_ticks(g),
                    rows.ident(g)["filename"],
                    rows.ident(g)["firstlineno"],
                ),
            )
            hottest = tuple(rows.stats(g) for g in ranked[: self.hottest])
            self._keep(TestRecord(nodeid, duration, hottest))
        scale = snapshot["ns_per_tick"]
        table = self._ticks.get(scale)
        if table is None:
            table = self._ticks[scale] = {}
        records = snapshot["records"]
        # Rows by record index, in index order (the order of build_stats,
        # in which functions first appear in the totals). Totals are keyed
        # by name, so dead code meets live code of its name there.
        by_index: dict[int, list[Sequence[Any]]] = {}
        for rows_of in (
            *(th["rows"] for th in snapshot["threads"]),
            snapshot.get("finished", {}).get("rows", ()),
        ):
            for row in rows_of:
                found_rows = by_index.get(row[0])
                if found_rows is None:
                    by_index[row[0]] = [row]
                else:
                    found_rows.append(row)
        pending = [(identity(*records[i][:3]), by_index[i]) for i in sorted(by_index)]
        pending.extend((identity("py", row[0], None), [row]) for row in snapshot.get("retired", ()))
        for ident, group_rows in pending:
            key = _ident_key(ident)
            found = table.get(key)
            if found is None:
                found = table[key] = (ident, Sums())
            acc = found[1]
            for row in group_rows:
                acc.add(row)

    def add_test(self, nodeid: str, duration: float, stats: Sequence[FunctionStats]) -> None:
        """Add one test from its FunctionStats."""
        self.tests_traced += 1
        self._add_functions(stats)
        if not self._would_keep(duration, nodeid):
            return
        hottest = sorted(stats, key=lambda s: (-s.self_time, s.filename, s.firstlineno))
        self._keep(TestRecord(nodeid, duration, tuple(hottest[: self.hottest])))

    def _add_functions(self, stats: Iterable[FunctionStats]) -> None:
        _sum_stats(self._functions, stats)

    def _would_keep(self, duration: float, nodeid: str) -> bool:
        if self.slowest <= 0:
            return False
        return len(self._tests) < self.slowest or (duration, nodeid) > self._tests[0][:2]

    def _keep(self, test: TestRecord) -> None:
        if not self._would_keep(test.duration, test.nodeid):
            return
        self._arrivals += 1
        item = (test.duration, test.nodeid, self._arrivals, test)
        if len(self._tests) < self.slowest:
            heapq.heappush(self._tests, item)
        else:
            heapq.heapreplace(self._tests, item)

    def functions(self) -> list[FunctionStats]:
        """Per-function records summed over all traced tests."""
        stats = [
            acc.record(ident, scale)
            for scale, table in self._ticks.items()
            for ident, acc in table.values()
        ]
        received = [acc.record(ident, SECONDS) for ident, acc in self._functions.values()]
        if len(self._ticks) + bool(received) <= 1:
            return stats or received
        # Sums of several clocks, or traced here and received: added as
        # seconds.
        totals: dict[_Key, tuple[dict[str, Any], Sums]] = {}
        _sum_stats(totals, stats + received)
        return [acc.record(ident, SECONDS) for ident, acc in totals.values()]

    def slowest_tests(self) -> list[TestRecord]:
        """The slowest traced tests, slowest first."""
        return [t for *_, t in sorted(self._tests, key=lambda i: (-i[0], i[1], i[2]))]

    # ---- plain data (JSON, xdist) ----------------------------------------

    def to_data(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "tests_traced": self.tests_traced,
            "functions": [stats_to_data(s) for s in self.functions()],
            "slowest_tests": [
                {
                    "nodeid": t.nodeid,
                    "duration": t.duration,
                    "hottest": [stats_to_data(s) for s in t.hottest],
                }
                for t in self.slowest_tests()
            ],
        }

    def merge(self, data: dict[str, Any]) -> None:
        """Add another SuiteStats' ``to_data()`` (from an xdist worker)."""
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"monitrace: suite data version {data.get('version')!r}, expected {FORMAT_VERSION}"
            )
        self.tests_traced += int(data["tests_traced"])
        self._add_functions(stats_from_data(d) for d in data["functions"])
        for t in data["slowest_tests"]:
            hottest = tuple(stats_from_data(d) for d in t["hottest"])
            self._keep(TestRecord(t["nodeid"], float(t["duration"]), hottest[: self.hottest]))


def _sum_stats(
    into: dict[_Key, tuple[dict[str, Any], Sums]], stats: Iterable[FunctionStats]
) -> None:
    """FunctionStats summed per function (seconds) into `into`."""
    for s in stats:
        key = _key(s)
        found = into.get(key)
        if found is None:
            found = into[key] = (_ident_of(s), Sums())
        found[1].add_stats(s)
