"""The HTML page of a diff (``monitrace diff BASE NEW -o diff.html``): the
table of changed functions and a differential flame graph, drawn by the
report's own script in its diff mode.

Each run is first read into the report's :class:`~.html_data.Page` (so
every input the report reads works here too: monitrace JSON, pytest
summaries, pstats, Chrome traces monitrace wrote, sessions). Functions
of the two pages are matched as :func:`monitrace.diff` matches them and
given one index on the page; each side's call tree (exact, from recorded
paths) or caller edges (the report's approximate tree) is sent with its
functions renumbered, and the script merges the two trees path by path.
"""

from __future__ import annotations

import os
from typing import Any

from ..diffrows import SORT_KEYS, DiffRow, check_options, make_row, match_functions
from ..report import FunctionStats
from .html_data import APPROXIMATE_NOTE, Page, from_file, from_source, tree_data


class DiffPage:
    """Everything the diff page shows; :meth:`to_data` is the embedded
    JSON (the report's schema, with a ``diff`` member)."""

    def __init__(
        self, title: str, base: Page, new: Page, *, min_change: float, calls_only: bool, sort: str
    ) -> None:
        self.title = title
        self.base = base
        self.new = new
        self.min_change = min_change
        self.calls_only = calls_only
        self.functions: list[list[Any]] = []
        self.rows: list[DiffRow] = []
        self._row_fns: list[int] = []
        self._maps: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self._match(sort)

    def _match(self, sort: str) -> None:
        base_fs, base_of = _page_stats(self.base)
        new_fs, new_of = _page_stats(self.new)
        threshold = float("inf") if self.calls_only else self.min_change
        made = []
        for old, cur in match_functions(base_fs, new_fs):
            index = len(self.functions)
            if cur is not None:
                fn = new_of[id(cur)]
                self._maps[1][fn] = index
                self.functions.append(self.new.functions[fn])
            if old is not None:
                fn = base_of[id(old)]
                self._maps[0][fn] = index
                if cur is None:
                    self.functions.append(self.base.functions[fn])
            made.append((make_row(old, cur, threshold), index))
        key = SORT_KEYS["calls" if self.calls_only and sort == "impact" else sort]
        made.sort(key=lambda pair: key(pair[0]))
        self.rows = [row for row, _ in made]
        self._row_fns = [fn for _, fn in made]

    def _fn(self, side: int, fn: int) -> int:
        """The page index of `side`'s function `fn` (-1 and -2, the root
        and folded small calls, stay as they are). A function in a tree
        but without a statistics row gets an index of its own."""
        if fn < 0:
            return fn
        found = self._maps[side].get(fn)
        if found is None:
            page = self.new if side else self.base
            found = self._maps[side][fn] = len(self.functions)
            self.functions.append(page.functions[fn])
        return found

    @property
    def tree_kind(self) -> str:
        sides = (self.base.all, self.new.all)
        if all(v.tree is not None for v in sides):
            return "exact"
        if all(v.tree is not None or v.edges is not None for v in sides):
            return "approximate"
        return "none"

    def notes(self) -> list[str]:
        out = []
        kind = self.tree_kind
        if kind == "approximate":
            which = [
                name
                for name, page in (("BASE", self.base), ("NEW", self.new))
                if page.all.tree is None
            ]
            verb = "hold" if len(which) > 1 else "holds"
            out.append(
                f"{' and '.join(which)} {verb} no call paths (record=True saves them): the "
                "flame graph merges trees rebuilt from caller\u2192callee pairs, approximate "
                "below their first level (~ marks estimated counts)."
            )
        elif kind == "none":
            out.append(
                "At least one side holds statistics only: no flame graph, the table "
                "compares the functions."
            )
        base = [n for n in self.base.notes if n != APPROXIMATE_NOTE]
        new = [n for n in self.new.notes if n != APPROXIMATE_NOTE]
        out.extend(("Both: " if note in new else "BASE: ") + note for note in base)
        out.extend("NEW: " + note for note in new if note not in base)
        return out

    def _side(self, side: int) -> dict[str, Any]:
        page = self.new if side else self.base
        view = page.all
        tree = None
        if view.tree is not None and self.tree_kind != "none":
            tree = tree_data(view.tree)
            for i in range(0, len(tree), 5):
                tree[i] = self._fn(side, tree[i])
        edges = None
        if view.tree is None and view.edges is not None and self.tree_kind != "none":
            # One pair per caller and callee (threads each had theirs),
            # so the merged tree finds a callee once under its caller.
            summed: dict[tuple[int, int], list[int]] = {}
            for e in view.edges:
                pair = (self._fn(side, e[0]), self._fn(side, e[1]))
                got = summed.get(pair)
                if got is None:
                    summed[pair] = [*pair, *e[2:]]
                else:
                    for i in range(2, len(got)):
                        got[i] += e[i]
            edges = list(summed.values())
        stats = [[self._fn(side, r[0]), *r[1:]] for r in view.stats]
        return {
            "name": page.title,
            "origin": page.origin,
            "total_ns": page.total_ns,
            "tree": tree,
            "edges": edges,
            "stats": stats,
        }

    def to_data(self) -> dict[str, Any]:
        from .._version import __version__

        sides = [self._side(0), self._side(1)]  # before functions: they may add some
        rows = [
            [
                fn,
                r.status,
                r.base_calls,
                r.new_calls,
                _ns(r.base_tottime),
                _ns(r.new_tottime),
                _ns(r.base_cumtime),
                _ns(r.new_cumtime),
                -1 if r.base_p99 is None else _ns(r.base_p99),
                -1 if r.new_p99 is None else _ns(r.new_p99),
            ]
            for r, fn in zip(self.rows, self._row_fns)
        ]
        return {
            "schema": "monitrace-html/1",
            "title": self.title,
            "origin": "diff",
            "generator": f"monitrace {__version__}",
            "notes": self.notes(),
            "total_ns": None,
            "tree_kind": self.tree_kind,
            "timeline_cap": 0,
            "functions": self.functions,
            "views": [],
            "links": [],
            "diff": {
                "base": sides[0],
                "new": sides[1],
                "rows": rows,
                "min_change": self.min_change,
                "calls_only": self.calls_only,
            },
        }


def _ns(seconds: float) -> int:
    return int(round(seconds * 1e9))


def _page_stats(page: Page) -> tuple[list[FunctionStats], dict[int, int]]:
    """The page's table back as FunctionStats (what diff matches), and the
    page index of each (by id)."""
    keys = page.function_keys()
    out: list[FunctionStats] = []
    of: dict[int, int] = {}

    def secs(ns: int) -> float:
        return ns / 1e9 if ns >= 0 else 0.0  # -1: unknown (pstats)

    for r in page.all.stats:
        kind, module, qualname, filename, line = keys[r[0]]
        known = r[8] >= 0
        s = FunctionStats(
            name=qualname.rsplit(".", 1)[-1],
            qualname=qualname,
            module=module,
            filename=filename,
            firstlineno=line,
            kind=kind,
            calls=r[1],
            primitive_calls=r[2],
            self_time=r[3] / 1e9,
            total_time=r[4] / 1e9,
            min_time=secs(r[5]),
            p50=secs(r[6]),
            p90=secs(r[7]),
            p99=secs(r[8]),
            max_time=secs(r[9]),
            samples=1 if known else 0,
        )
        out.append(s)
        of[id(s)] = r[0]
    return out, of


def page_of(what: Any, title: str | None = None) -> Page:
    """The report's page of a run: a path of a saved run or a Session."""
    if isinstance(what, (str, os.PathLike)):
        return from_file(what)
    if hasattr(what, "snapshot"):
        from .source import Source

        return from_source(Source.of(what), title or "session")
    raise TypeError(
        f"the HTML diff compares paths of saved runs or Sessions, not {type(what).__name__}"
    )


def diff_page(
    base: Any,
    new: Any,
    *,
    min_change: float = 0.1,
    calls_only: bool = False,
    sort: str = "impact",
    title: str | None = None,
) -> DiffPage:
    """The diff page of two runs (paths of saved runs or Sessions)."""
    check_options(min_change, sort)
    base_page, new_page = page_of(base, "base"), page_of(new, "new")
    if title is None:
        title = f"{base_page.title} \u2192 {new_page.title}"
    return DiffPage(
        title, base_page, new_page, min_change=float(min_change), calls_only=calls_only, sort=sort
    )
