"""``pytest --monitrace-html DIR``: one HTML report per traced test, and
``DIR/index.html`` with the suite's statistics and a link to each.

Loaded only when the option is given. The suite tracer hands every
finished test's session to :meth:`HtmlReports.test_done` before clearing
it; the index is written when the run ends (after the suite tracer's own
end, so the last test is in it).
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from typing import Any

import pytest

INDEX = "index.html"


class HtmlReports:
    def __init__(self, config: pytest.Config, directory: str, suite: Any) -> None:
        self.config = config
        self.directory = directory
        self.suite = suite  # the SuiteTracer: its SuiteStats feed the index
        self.started = time.time()
        self.pages: list[tuple[str, str, float]] = []  # nodeid, file name, seconds
        self._stems: set[str] = set()

    def test_done(self, nodeid: str, seconds: float, session: Any, item: Any) -> None:
        """Write the page of a finished test (its session is stopped, not
        yet cleared). Never fails the test: a write error is a warning."""
        from .exporters import Source, write_atomic
        from .exporters.html import from_source, write_page
        from .pytest_suite import file_stem

        stem = file_stem(nodeid)
        if stem in self._stems or stem == "index":
            stem += "-" + hashlib.sha1(nodeid.encode()).hexdigest()[:12]
        self._stems.add(stem)
        name = stem + ".html"
        try:
            page = from_source(Source.of(session), title=nodeid)
            page.notes.insert(0, f"Test {nodeid}: {seconds:.6f} s (setup, call and teardown).")
            write_atomic(
                os.path.join(self.directory, name), lambda out: write_page(page, out), binary=False
            )
        except (OSError, ValueError) as exc:
            _warn(f"monitrace could not write {name}: {exc}", item)
            return
        self.pages.append((nodeid, name, seconds))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if getattr(self.config, "workerinput", None) is not None:
            return  # an xdist worker: the controller writes the index
        self._write_index()

    def _pages(self) -> list[list[str]]:
        """Links to this run's test pages: the ones written here, or with
        pytest-xdist the ones the workers wrote into the directory."""
        if self.pages:
            return [[nodeid, name, f"{seconds:.6f} s"] for nodeid, name, seconds in self.pages]
        found = []
        for entry in sorted(os.scandir(self.directory), key=lambda e: e.name):
            if (
                entry.name.endswith(".html")
                and entry.name != INDEX
                and entry.is_file()
                and entry.stat().st_mtime >= self.started - 1
            ):
                found.append([entry.name[:-5], entry.name, ""])
        return found

    def _write_index(self) -> None:
        from .exporters import write_atomic
        from .exporters.html import write_page
        from .exporters.html_data import Page

        stats = self.suite.suite
        tests = stats.tests_traced
        if not tests:
            return
        page = Page(f"pytest: {tests} test{'s' if tests != 1 else ''} traced", "pytest suite")
        page.all.stats = page.stats_rows(stats.functions())
        page.links = self._pages()
        page.notes.append(
            "The table sums every traced test; each test's own page has its "
            "call tree (and with record=True its flame graph and timeline)."
        )
        path = os.path.join(self.directory, INDEX)
        try:
            write_atomic(path, lambda out: write_page(page, out), binary=False)
        except OSError as exc:
            _warn(f"monitrace could not write {path}: {exc}", None)


def _warn(message: str, item: Any) -> None:
    warning = pytest.PytestWarning(message)
    if item is not None:
        item.warn(warning)
    else:
        warnings.warn(warning, stacklevel=2)


def install(config: pytest.Config, option: str, suite: Any) -> None:
    """Check --monitrace-html's directory (created if missing; a usage
    error names it when it cannot be) and hook the reports into `suite`
    (the SuiteTracer) for this run."""
    directory = os.path.join(str(config.invocation_params.dir), option)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(f"--monitrace-html: cannot create {option!r}: {exc}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise pytest.UsageError(f"--monitrace-html: {option!r} is not writable")
    reports = HtmlReports(config, directory, suite)
    suite.test_hooks.append(reports.test_done)
    config.pluginmanager.register(reports, "monitrace-html")
