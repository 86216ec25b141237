"""Readable failures for assertions on call counts.

``Session.calls()`` returns a :class:`CallCount`: an ``int`` that remembers
which records it summed, so a failing ``assert s.calls("m.f") == 3`` (through
the pytest plugin's ``pytest_assertrepr_compare``) and
``Session.assert_called()`` can show the report rows behind the number.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from .report import FunctionStats, render_rows

# How many neighbouring rows a message shows when the name matched nothing.
_NEARBY_ROWS = 8


class CallCount(int):
    """A call count (an ``int``) that knows the records it came from."""

    name: str
    matches: tuple[FunctionStats, ...]
    recorded: tuple[FunctionStats, ...]
    known: bool

    def __new__(
        cls,
        name: str,
        matches: Sequence[FunctionStats],
        recorded: Sequence[FunctionStats],
        *,
        known: bool = True,
    ) -> CallCount:
        count = super().__new__(cls, sum(s.calls for s in matches))
        count.name = name
        count.matches = tuple(matches)
        count.recorded = tuple(recorded)
        # False when `name` stands for no function known to exist (not
        # recorded, not given as a function, not importable).
        count.known = known or bool(matches)
        return count

    __repr__ = int.__repr__
    __str__ = int.__repr__

    def describe(self, subject: str | None = None) -> list[str]:
        """A headline (how often `name` ran) and the report rows behind it:
        the matching records, or when none matched, the recorded functions
        whose names are closest. `subject` replaces the name in the
        headline."""
        who = self.name if subject is None else subject
        if self.matches:
            head = f"{who} was called {_times(int(self))}:"
            return [head] + render_rows(self.matches, sort="tottime")
        nearby = nearby_records(self.name, self.recorded)
        never = "was never called" if self.known else _UNKNOWN
        if not nearby:
            why = (
                "no recorded function has a close name"
                if self.recorded
                else ("no function was recorded")
            )
            return [f"{who} {never} ({why})"]
        head = f"{who} {never}; recorded functions with close names:"
        return [head] + render_rows(nearby, sort="name")


_UNKNOWN = "names no known function (it was not recorded, and it is not a dotted name that imports)"


def check_known(count: CallCount) -> None:
    """Raise ValueError, with the closest recorded names, when `count`'s
    name stands for no known function: an assertion on it would pass or
    fail for a typo."""
    __tracebackhide__ = True
    if count.known:
        return
    first, *rows = count.describe()
    if not rows:
        first += "; pass the function itself or its module.qualname"
    raise ValueError("\n".join([first] + rows))


def nearby_records(name: str, recorded: Sequence[FunctionStats]) -> list[FunctionStats]:
    """Records a user may have meant by `name`: the same qualname in other
    modules, then functions of the same module, then close spellings."""
    module, _, qualname = name.rpartition(".")
    by_full = {s.full_name: s for s in recorded}
    picked: dict[str, FunctionStats] = {}
    for s in recorded:
        if s.qualname == qualname or s.qualname.endswith("." + qualname):
            picked.setdefault(s.full_name, s)
    for s in recorded:
        if module and s.module == module:
            picked.setdefault(s.full_name, s)
    for full in difflib.get_close_matches(name, list(by_full), n=_NEARBY_ROWS):
        picked.setdefault(full, by_full[full])
    # a misspelt function name: compare the last parts of the names
    last = qualname.rpartition(".")[2]
    by_last: dict[str, list[FunctionStats]] = {}
    for s in recorded:
        by_last.setdefault(s.qualname.rpartition(".")[2], []).append(s)
    for close in difflib.get_close_matches(last, list(by_last), n=_NEARBY_ROWS):
        for s in by_last[close]:
            picked.setdefault(s.full_name, s)
    return list(picked.values())[:_NEARBY_ROWS]


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def called_message(count: CallCount, times: int | None) -> str | None:
    """The failure text of ``assert_called(name, times=...)``, or None when
    the count satisfies it."""
    if times is None:
        if count > 0:
            return None
        head = f"expected {count.name} to be called"
    else:
        if count == times:
            return None
        head = f"expected {count.name} to be called {_times(times)}"
    first, *rows = count.describe(subject="it")
    return "\n".join([f"{head}, but {first}"] + rows)


def not_called_message(count: CallCount) -> str | None:
    """The failure text of ``assert_not_called(name)``, or None."""
    if count == 0:
        return None
    first, *rows = count.describe(subject="it")
    return "\n".join([f"expected {count.name} not to be called, but {first}"] + rows)


def compare_explanation(op: str, left: object, right: object) -> list[str] | None:
    """Lines for pytest_assertrepr_compare when a CallCount takes part in a
    failed comparison, else None."""
    counts = [x for x in (left, right) if isinstance(x, CallCount)]
    if not counts:
        return None
    lines = [f"{left!r} {op} {right!r}"]
    for count in counts:
        head, *rows = count.describe()
        lines.append("monitrace: " + head)
        lines.extend("  " + row for row in rows)
    return lines
