"""Per-test tracing for the pytest plugin (loaded only when used): one
session per traced test, spanning its setup, call and teardown; output
files; the end-of-session summary; pytest-xdist transport."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import marshal
import os
import re
import time
import warnings
from collections.abc import Callable, Generator
from typing import Any

import pytest

from .api import Session, trace
from .filters import UnmatchedSpecWarning
from .exporters import pstats as pstats_format
from .exporters import write_atomic
from .report import FunctionStats, render_rows, render_table
from .model import identity, short_path
from .pytest_options import base_options, merged_out
from .suite_stats import SuiteStats

SLOWEST_TESTS = 3
_REUSED_SESSIONS = 16
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")
_MAX_STEM = 150


def file_stem(nodeid: str) -> str:
    """A file name (without extension) for a test's node id: unsafe
    characters become '_', '::' becomes '--'; long ids are shortened and
    keep a hash so they stay distinct."""
    stem = _UNSAFE.sub("_", nodeid.replace("::", "--")).strip("._") or "test"
    if len(stem) > _MAX_STEM:
        digest = hashlib.sha1(nodeid.encode()).hexdigest()[:12]
        stem = f"{stem[:_MAX_STEM]}-{digest}"
    return stem


def _nested(
    outer: Generator[None, Any, None], inner: Generator[None, Any, None]
) -> Generator[None, Any, None]:
    """Two one-yield wrappers as one: outer's setup, inner's, the wrapped
    code, inner's teardown, outer's."""
    next(outer)
    next(inner)
    result = yield
    for gen in (inner, outer):
        try:
            gen.send(result)
        except StopIteration:
            pass


def _calls_pyfunc(item: pytest.Item) -> bool:
    """Whether `item` runs its test through pytest_pyfunc_call: a
    pytest.Function whose class keeps pytest's runtest. unittest's
    TestCaseFunction is a Function that calls the TestCase directly."""
    return isinstance(item, pytest.Function) and type(item).runtest is pytest.Function.runtest


@dataclasses.dataclass(slots=True)
class _TestRun:
    """The tracing of the test running now. The session runs (is not
    paused) only inside windows, which nest."""

    nodeid: str
    session: Session
    seconds: float = 0.0
    depth: int = 0

    def enter(self) -> None:
        if self.depth == 0:
            self.session.resume()
        self.depth += 1

    def leave(self) -> None:
        if self.depth == 0:
            return
        self.depth -= 1
        if self.depth == 0:
            self.session.pause()


class SuiteTracer:
    """Registered as a pytest plugin when tracing is asked for; with
    pytest-xdist the controller's instance only merges workers' data."""

    def __init__(self, config: pytest.Config, *, trace_all: bool) -> None:
        self.config = config
        self.trace_all = trace_all
        self.rows: int = config.getoption("monitrace_report")
        self.base_options = base_options(
            config.getoption("monitrace_include"), config.getoption("monitrace_exclude")
        )
        out = config.getoption("monitrace_out")
        path = None if out is None else os.path.join(str(config.invocation_params.dir), out)
        # Per-test files in a directory, or one pstats file for the run.
        self.out_dir: str | None = None
        self.merged_path: str | None = None
        self.merged: dict[pstats_format.Key, pstats_format.Entry] = {}
        if path is not None and merged_out(path):
            self.merged_path = path
        else:
            self.out_dir = path
        workerinput = getattr(config, "workerinput", None)
        self.worker_id: str | None = workerinput["workerid"] if workerinput else None
        self.suite = SuiteStats(slowest=min(SLOWEST_TESTS, self.rows), hottest=self.rows)
        self._run: _TestRun | None = None
        self._stems: set[str] = set()
        self._sessions: dict[Any, Session] = {}
        self._running: Session | None = None  # the one started, paused between tests
        # id(session) -> its snapshot records so far (see _finish)
        self._records: dict[int, list[Any]] = {}
        # Called with (nodeid, seconds, session, item) once a traced test's
        # session has paused, before it is cleared (pytest_html's pages).
        self.test_hooks: list[Callable[[str, float, Session, pytest.Item | None], None]] = []

    # ---- which tests, with which options --------------------------------

    def _options(self, item: pytest.Item) -> dict[str, Any] | None:
        marker = item.get_closest_marker("monitrace")
        if marker is None:
            return dict(self.base_options) if self.trace_all else None
        if marker.args:
            raise TypeError(
                "@pytest.mark.monitrace takes keyword options only (those of "
                f"monitrace.trace()), not {marker.args!r}"
            )
        return {**self.base_options, **marker.kwargs}

    def _begin(self, item: pytest.Item) -> None:
        options = self._options(item)
        if options is None:
            return
        session = self._session_for(options)
        if not session.running:
            # One session runs (paused between tests) from the first test
            # that needs it until a test needs other options or the run
            # ends: restarting per test would make every function decide
            # and instrument again, the largest cost of a short test.
            self._stop_running()
            try:
                session.start()
            except ValueError as exc:  # no free tool id: run the test untraced
                item.warn(pytest.PytestWarning(f"monitrace cannot trace this test: {exc}"))
                return
            session.pause()
            self._running = session
        self._run = _TestRun(item.nodeid, session)

    def current_counts(self) -> dict[str, tuple[int, float, float]] | None:
        """The running test's functions so far: {module.qualname: (calls,
        self seconds, inclusive seconds)}, threads and dead code merged;
        None when no test is being traced. Call it between windows (the
        session is paused then), e.g. after the call phase."""
        run = self._run
        if run is None or run.depth:
            return None
        snapshot = run.session.snapshot()
        scale = snapshot["ns_per_tick"] / 1e9
        records = snapshot["records"]
        sums: dict[str, list[Any]] = {}  # name -> [calls, self ticks, total ticks]
        rows = [row for th in snapshot["threads"] for row in th["rows"]]
        for row in rows + list(snapshot.get("retired", ())):
            key = row[0]
            ident = (
                identity(*records[key][:3]) if isinstance(key, int) else identity("py", key, None)
            )
            name = (
                f"{ident['module']}.{ident['qualname']}" if ident["module"] else ident["qualname"]
            )
            acc = sums.setdefault(name, [0, 0, 0])
            acc[0] += row[1]
            acc[1] += row[4]
            acc[2] += row[3]
        return {
            name: (calls, self_ * scale, total * scale)
            for name, (calls, self_, total) in sums.items()
            if calls
        }

    def _stop_running(self) -> None:
        session, self._running = self._running, None
        if session is None or not session.running:
            return
        with warnings.catch_warnings():
            # A spec that matched nothing in one test may match in the
            # next: the run's summary says which matched in none.
            warnings.simplefilter("ignore", UnmatchedSpecWarning)
            session.stop()
        session.clear()
        self._records.pop(id(session), None)

    def _session_for(self, options: dict[str, Any]) -> Session:
        """A stopped, empty session with these options. Sessions are reused
        from test to test (cleared after each): building one compiles its
        filters, which costs more than tracing a short test."""
        key: Any = tuple(sorted(options.items()))
        try:
            session = self._sessions.get(key)
        except TypeError:  # an unhashable option value: no reuse
            key, session = None, None
        if session is not None:
            return session
        try:
            session = trace(**options)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"@pytest.mark.monitrace: {exc}") from None
        if key is not None and len(self._sessions) < _REUSED_SESSIONS:
            self._sessions[key] = session
        return session

    def _timed(self) -> Generator[None, Any, None]:
        """Wrap a phase: add its wall time to the test's duration."""
        start = time.perf_counter()
        yield
        if self._run is not None:
            self._run.seconds += time.perf_counter() - start

    def _window(self) -> Generator[None, Any, None]:
        """Wrap code to trace: the session runs until it returns."""
        run = self._run
        if run is None:
            yield
            return
        run.enter()
        yield
        run.leave()

    def _enter(self) -> None:
        if self._run is not None:
            self._run.enter()

    def _leave(self) -> None:
        if self._run is not None:
            self._run.leave()

    # ---- the phases of a test and the windows traced in them -------------
    # Traced: fixture functions, at setup (pytest_fixture_setup) and at
    # teardown (finalizers that open and close a window around each
    # fixture's own), and the call phase of every item: unittest.TestCase
    # methods with their setUp/tearDown and subtests, doctests and other
    # plugins' items run their tests without pytest_pyfunc_call, so the
    # window opens around pytest_runtest_call. Only a plain pytest.Function
    # (whose runtest is pytest's own) narrows it to pytest_pyfunc_call,
    # which keeps pytest's bookkeeping of the call phase out of the records.

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, Any, None]:
        self._finish(item)  # a run left over by an interrupted test
        self._begin(item)
        yield from self._timed()

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_fixture_setup(self, fixturedef: Any) -> Generator[None, Any, None]:
        # Finalizers run last-in first-out: _leave after the fixture's own.
        fixturedef.addfinalizer(self._leave)
        yield from self._window()
        fixturedef.addfinalizer(self._enter)

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, None]:
        if _calls_pyfunc(item):
            yield from self._timed()
        else:
            yield from _nested(self._timed(), self._window())

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_pyfunc_call(self) -> Generator[None, Any, None]:
        yield from self._window()

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, Any, None]:
        yield from self._timed()
        self._finish(item)

    def _finish(self, item: pytest.Item | None) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        run.session.pause()  # it is, unless a window was left open
        # Records (every function the session met) only grow until the
        # session is cleared: the new ones are fetched, not all again.
        known = self._records.setdefault(id(run.session), [])
        snapshot = run.session.snapshot(records_from=len(known))
        known.extend(snapshot["records"])
        snapshot["records"] = known
        self.suite.add_snapshot(run.nodeid, run.seconds, snapshot)
        profile = (
            pstats_format.build(snapshot)
            if self.out_dir is not None or self.merged_path is not None
            else None
        )
        if self.out_dir is not None:
            assert profile is not None
            self._write_test(run, item, profile)
        if self.merged_path is not None:
            assert profile is not None
            pstats_format.merge(self.merged, profile)
        for hook in self.test_hooks:
            hook(run.nodeid, run.seconds, run.session, item)
        if run.session.running:
            run.session.reset()
        else:  # stopped by the test (a fork, a stop() of its own)
            run.session.clear()
            self._records.pop(id(run.session), None)

    # ---- rows and files ---------------------------------------------------

    def _write_test(self, run: _TestRun, item: pytest.Item | None, profile: dict[Any, Any]) -> None:
        """`<stem>.pstats` (`profile`, the test's pstats data), plus the
        Chrome trace `<stem>.json` when the session recorded events."""
        assert self.out_dir is not None
        stem = file_stem(run.nodeid)
        if stem in self._stems:
            stem += "-" + hashlib.sha1(run.nodeid.encode()).hexdigest()[:12]
        self._stems.add(stem)
        outputs = [(stem + ".pstats", "pstats")]
        if getattr(run.session.options, "record", False):
            outputs.append((stem + ".json", "chrome"))
        for name, format in outputs:
            path = os.path.join(self.out_dir, name)
            try:
                if format == "pstats":  # from the snapshot taken already
                    write_atomic(path, lambda out: marshal.dump(profile, out), binary=True)
                else:
                    run.session.save(path, format)
            except (OSError, ValueError) as exc:  # never fail a test over a file
                self._warn(f"monitrace could not write {name}: {exc}", item)

    def _warn(self, message: str, item: pytest.Item | None) -> None:
        warning = pytest.PytestWarning(message)
        if item is not None:
            item.warn(warning)
        else:
            warnings.warn(warning, stacklevel=2)

    def _write_merged(self) -> None:
        assert self.merged_path is not None
        merged = self.merged
        try:
            write_atomic(self.merged_path, lambda out: marshal.dump(merged, out), binary=True)
        except OSError as exc:  # never fail the run over an output file
            self._warn(f"monitrace could not write {self.merged_path}: {exc}", None)

    def _write_json(self, path: str, data: dict[str, Any], item: pytest.Item | None = None) -> None:
        def dump(f: Any) -> None:
            json.dump(data, f, indent=1)
            f.write("\n")

        try:
            write_atomic(path, dump, binary=False)
        except OSError as exc:  # never fail a test over an output file
            self._warn(f"monitrace could not write {path}: {exc}", item)

    # ---- end of session, xdist -------------------------------------------

    def merge_worker(self, data: str, pstats_data: str | None = None) -> None:
        self.suite.merge(json.loads(data))
        if pstats_data:
            pstats_format.merge(self.merged, pstats_format.from_data(json.loads(pstats_data)))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._finish(None)
        self._stop_running()
        # The suite's data is made only for a worker's controller or the
        # summary file; the terminal summary makes its own rows.
        data: dict[str, Any] | None = None
        if self.worker_id is not None:
            data = self.suite.to_data()
            output = self.config.workeroutput  # type: ignore[attr-defined]
            output["monitrace"] = json.dumps(data)
            if self.merged_path is not None:
                # The controller merges the workers' profiles into one file.
                output["monitrace-pstats"] = json.dumps(pstats_format.to_data(self.merged))
        elif self.merged_path is not None and self.suite.tests_traced:
            self._write_merged()
        if self.out_dir is None or not self.suite.tests_traced:
            return
        name = (
            f"monitrace-worker-{self.worker_id}.json"
            if self.worker_id
            else "monitrace-summary.json"
        )
        self._write_json(os.path.join(self.out_dir, name), data or self.suite.to_data())

    def _unmatched_specs(self) -> list[str]:
        """The lines of the specs that matched no function in any test
        (of the sessions kept for reuse: every test with the same
        options)."""
        unmatched: set[str] | None = None
        for session in self._sessions.values():
            lines = set(
                session.unmatched_specs({"include": "--monitrace-include", "within": "within"})
            )
            unmatched = lines if unmatched is None else unmatched & lines
        return sorted(unmatched or ())

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.worker_id is not None:
            return
        tr = terminalreporter
        for line in self._unmatched_specs():
            tr.write_line(line)
        if self.rows == 0 or not self.suite.tests_traced:
            return
        n = self.suite.tests_traced
        tr.write_sep("=", f"monitrace: {n} test{'s' if n != 1 else ''} traced")
        functions = [self._short(s) for s in self.suite.functions()]
        tr.write_line("Functions with the most self time across the suite:")
        tr.write(render_table(functions, sort="tottime", limit=self.rows))
        slowest = self.suite.slowest_tests()
        if slowest:
            tr.write_line("")
            tr.write_line("Slowest tests and their hottest functions (self time):")
        for test in slowest:
            tr.write_line("")
            tr.write_line(f"{test.nodeid}  {test.duration:.6f}s")
            rows = [self._short(s) for s in test.hottest]
            for line in (
                render_rows(rows, sort="tottime", limit=self.rows)
                if rows
                else ["  (no function recorded)"]
            ):
                tr.write_line(line)
        if self.out_dir is not None:
            tr.write_line("")
            tr.write_line(f"monitrace: per-test files in {self.out_dir}")
        if self.merged_path is not None:
            tr.write_line("")
            tr.write_line(f"monitrace: one profile of the run in {self.merged_path}")

    def _short(self, s: FunctionStats) -> FunctionStats:
        """`s` with its file as people read it (model.short_path): relative
        to the rootdir when inside it, ``site-packages/...``,
        ``<stdlib>/...``."""
        if s.kind != "python":
            return s
        short = short_path(s.filename, cwd=str(self.config.rootpath))
        return s if short == s.filename else dataclasses.replace(s, filename=short)
