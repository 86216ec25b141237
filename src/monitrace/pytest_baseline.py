"""Exact call counts as a CI gate: ``--monitrace-save-baseline FILE`` and
``--monitrace-baseline FILE``.

A baseline holds, for every traced test, the functions it called (those
the tracing filters keep: ``--monitrace-include`` narrows them) with their
calls, self and inclusive time, counted from the test's setup to the end
of its call phase. Comparing fails a test whose counts rose, in its call
phase, with the functions and counts in the message. Counts are exact and
do not wobble between runs; times do, so they are checked only when a
``--monitrace-baseline-fail-on`` rule names them (``tottime>+50%``).

Loaded only when one of the options is given.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Generator
from typing import Any

import pytest

from .diff import DiffRow, FailRule

FORMAT = "monitrace-baseline/1"

Counts = dict[str, tuple[int, float, float]]  # name -> (calls, self s, inclusive s)


def load(path: str) -> dict[str, Counts]:
    """{node id: counts} from a baseline file; {} when it does not exist."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"--monitrace-baseline {path}: cannot read it ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise pytest.UsageError(
            f"--monitrace-baseline {path}: not a monitrace baseline (format {FORMAT})"
        )
    return {
        nodeid: {name: (int(c), float(s), float(t)) for name, (c, s, t) in funcs.items()}
        for nodeid, funcs in data["tests"].items()
    }


def dump(tests: dict[str, Counts]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "tests": {
            nodeid: {name: list(tests[nodeid][name]) for name in sorted(tests[nodeid])}
            for nodeid in sorted(tests)
        },
    }


def regressions(base: Counts, new: Counts, rules: list[FailRule]) -> list[str]:
    """One line per function that breaks a rule."""
    lines = []
    for name in sorted(set(base) | set(new)):
        b = base.get(name, (0, 0.0, 0.0))
        n = new.get(name, (0, 0.0, 0.0))
        row = DiffRow(
            function=name,
            file="",
            line=0,
            status="changed",
            base_calls=b[0],
            new_calls=n[0],
            base_tottime=b[1],
            new_tottime=n[1],
            base_cumtime=b[2],
            new_cumtime=n[2],
        )
        broken = [rule.text for rule in rules if rule.broken_by(row)]
        if broken:
            lines.append(
                f"  {name}: {b[0]} -> {n[0]} calls ({row.calls_delta:+d})"
                + ("" if broken == ["calls>0"] else f"  [{', '.join(broken)}]")
            )
    return lines


class Baseline:
    """The plugin object: checks each test against the baseline, and/or
    collects every test's counts to save."""

    def __init__(self, config: pytest.Config, suite: Any) -> None:
        self.config = config
        self.suite = suite  # the SuiteTracer of --monitrace
        self.compare_path: str | None = config.getoption("monitrace_baseline")
        self.save_path: str | None = config.getoption("monitrace_save_baseline")
        texts = config.getoption("monitrace_baseline_fail_on") or ["calls>0"]
        try:
            self.rules = [FailRule.parse(t) for t in texts]
        except ValueError as exc:
            raise pytest.UsageError(
                str(exc).replace("--fail-on", "--monitrace-baseline-fail-on")
            ) from None
        self.base = load(self.compare_path) if self.compare_path else {}
        self.seen: dict[str, Counts] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: Any) -> Generator[None, Any, None]:
        outcome = yield
        if call.when != "call":
            return
        counts = self.suite.current_counts()
        if counts is None:
            return
        self.seen[item.nodeid] = counts
        report = outcome.get_result()
        base = self.base.get(item.nodeid)
        if self.compare_path is None or base is None or not report.passed:
            return
        lines = regressions(base, counts, self.rules)
        if lines:
            report.outcome = "failed"
            report.longrepr = (
                f"monitrace baseline ({self.compare_path}): counts rose in {item.nodeid}\n"
                + "\n".join(lines)
                + "\n(if intended, update the baseline with --monitrace-save-baseline)"
            )

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        worker = getattr(self.config, "workeroutput", None)
        if worker is not None:
            worker["monitrace-baseline"] = json.dumps(dump(self.seen))
            return
        self.write()

    def merge_worker(self, data: str) -> None:
        self.seen.update(
            {
                nodeid: {name: (int(v[0]), float(v[1]), float(v[2])) for name, v in funcs.items()}
                for nodeid, funcs in json.loads(data)["tests"].items()
            }
        )

    def write(self) -> None:
        if self.save_path is None or not self.seen:
            return
        from .exporters import write_atomic

        tests = dict(load(self.save_path)) if os.path.exists(self.save_path) else {}
        tests.update(self.seen)  # tests not run this time keep their entries

        def out(f: Any) -> None:
            json.dump(dump(tests), f, indent=1)
            f.write("\n")

        try:
            write_atomic(self.save_path, out, binary=False)
        except OSError as exc:  # never fail the run over an output file
            warnings.warn(
                pytest.PytestWarning(f"monitrace could not write {self.save_path}: {exc}"),
                stacklevel=2,
            )
