"""The pytest plugin, registered through the ``pytest11`` entry point.

Idle unless used: importing it loads neither the C extension nor the
tracing machinery (``monitrace.pytest_suite``), and a suite that asks for
nothing gets no per-test hook from it. What it offers:

- the ``monitrace`` fixture: ``with monitrace.trace(**options) as s:``;
- ``--monitrace`` (trace every test) and the ``@pytest.mark.monitrace``
  marker (trace the marked tests), with ``--monitrace-include``,
  ``--monitrace-exclude``, ``--monitrace-out DIR`` (or ``FILE.pstats``
  for one merged profile of the run) and ``--monitrace-report N``;
- readable failures of ``assert s.calls("mod.func") == 3``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .pytest_options import merged_out

if TYPE_CHECKING:
    from .api import Session
    from .pytest_suite import SuiteTracer

_SUITE_KEY = pytest.StashKey["SuiteTracer"]()
MARKER = "monitrace"


# pytest's own machinery, excluded unless --monitrace-include is given
# (which then decides alone). Excluded code is transparent: the test code
# it calls is traced.
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("monitrace", "function tracing (monitrace)")
    group.addoption(
        "--monitrace",
        action="store_true",
        default=False,
        help="trace every test with monitrace; at the end, print the "
        "functions with the most self time across the suite and the "
        "slowest tests' hottest functions.",
    )
    group.addoption(
        "--monitrace-include",
        action="append",
        default=[],
        metavar="SPEC",
        help="trace only code matching SPEC, a filter spec of "
        "monitrace.trace(include=...) such as 'pkg' (also covers 'pkg.sub'), "
        "'pkg.*' or 'function:handle_*'; repeatable.",
    )
    group.addoption(
        "--monitrace-exclude",
        action="append",
        default=[],
        metavar="SPEC",
        help="do not trace code matching SPEC (as for monitrace.trace(exclude=...)); repeatable.",
    )
    group.addoption(
        "--monitrace-out",
        default=None,
        metavar="DIR|FILE.pstats",
        help="write one output file per traced test into DIR, named after "
        "its node id, plus a summary of the suite; or, for a path ending "
        "in .pstats or .prof, one pstats file merging every traced test.",
    )
    group.addoption(
        "--monitrace-html",
        default=None,
        metavar="DIR",
        help="trace every test (as --monitrace) and write one self-contained "
        "HTML report per test into DIR, plus DIR/index.html for the suite.",
    )
    group.addoption(
        "--monitrace-save-baseline",
        default=None,
        metavar="FILE",
        help="trace every test (as --monitrace) and write each test's exact call "
        "counts (for the functions the filters keep) to FILE, updating the "
        "entries of the tests that ran.",
    )
    group.addoption(
        "--monitrace-baseline",
        default=None,
        metavar="FILE",
        help="trace every test and fail the tests whose call counts rose "
        "above FILE's (made by --monitrace-save-baseline).",
    )
    group.addoption(
        "--monitrace-baseline-fail-on",
        action="append",
        default=[],
        metavar="EXPR",
        help="what fails a test against the baseline, as monitrace diff's "
        "--fail-on: calls>0 (the default), tottime>+50%%, cumtime>0.5, ...; "
        "repeatable. Times are checked only when a rule names them.",
    )
    group.addoption(
        "--monitrace-report",
        type=int,
        default=10,
        metavar="N",
        help="rows of each table of the end-of-session summary (default 10; 0 prints none).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): trace this test with monitrace.trace(**options); see --monitrace.",
    )
    rows = config.getoption("monitrace_report")
    if rows < 0:
        raise pytest.UsageError(f"--monitrace-report must be 0 or more, not {rows}")
    out = config.getoption("monitrace_out")
    if out is not None:
        _check_out_dir(config, out)
    _check_filters(config)
    html = config.getoption("monitrace_html")
    if html is not None:  # a page per test: implies --monitrace
        from .pytest_html import install

        install(config, html, _suite(config, trace_all=True))
    if config.getoption("monitrace_baseline") or config.getoption("monitrace_save_baseline"):
        from .pytest_baseline import Baseline

        config.pluginmanager.register(
            Baseline(config, _suite(config, trace_all=True)), "monitrace-baseline"
        )
    if config.getoption("monitrace"):
        _suite(config, trace_all=True)


def _check_out_dir(config: pytest.Config, out: str) -> None:
    path = os.path.join(str(config.invocation_params.dir), out)
    if merged_out(out):
        if os.path.isdir(path):
            raise pytest.UsageError(f"--monitrace-out: {out!r} is a directory")
        path = os.path.dirname(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(f"--monitrace-out: cannot create {out!r}: {exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise pytest.UsageError(f"--monitrace-out: {out!r} is not writable")


def _check_filters(config: pytest.Config) -> None:
    include = config.getoption("monitrace_include")
    exclude = config.getoption("monitrace_exclude")
    if not (include or exclude):
        return
    from .filters import normalize_specs  # pure Python: no C code loads

    for option, specs in (("--monitrace-include", include), ("--monitrace-exclude", exclude)):
        try:
            normalize_specs(option, tuple(specs))
        except (TypeError, ValueError) as exc:
            raise pytest.UsageError(str(exc)) from None


def _suite(config: pytest.Config, *, trace_all: bool = False) -> SuiteTracer:
    """The session's SuiteTracer, created (and registered as a plugin) on
    first need: --monitrace, a marked test, or data from an xdist worker."""
    suite = config.stash.get(_SUITE_KEY, None)
    if suite is None:
        from .pytest_suite import SuiteTracer

        suite = SuiteTracer(config, trace_all=trace_all)
        config.stash[_SUITE_KEY] = suite
        config.pluginmanager.register(suite, "monitrace-suite")
    return suite


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if _SUITE_KEY in config.stash:
        return
    for item in items:
        if item.get_closest_marker(MARKER) is not None:
            _suite(config)
            return


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist, on the controller: a worker finished; take its data."""
    output = getattr(node, "workeroutput", {})
    data = output.get("monitrace")
    if data:
        _suite(node.config).merge_worker(data, output.get("monitrace-pstats"))
    baseline = node.config.pluginmanager.get_plugin("monitrace-baseline")
    if baseline is not None and output.get("monitrace-baseline"):
        baseline.merge_worker(output["monitrace-baseline"])


def pytest_assertrepr_compare(
    config: pytest.Config, op: str, left: object, right: object
) -> list[str] | None:
    # Called for failed comparisons only; the names test keeps this cheap.
    if "CallCount" not in (type(left).__name__, type(right).__name__):
        return None
    from .assertions import compare_explanation

    return compare_explanation(op, left, right)


class TraceFixture:
    """What the ``monitrace`` fixture gives a test: ``trace(**options)``
    makes a session (see monitrace.trace); sessions still running when the
    test ends are stopped."""

    def __init__(self) -> None:
        self._sessions: list[Session] = []

    def trace(self, **options: Any) -> Session:
        from .api import trace

        session = trace(**options)
        self._sessions.append(session)
        return session

    @property
    def sessions(self) -> list[Session]:
        """The sessions this test made, oldest first."""
        return list(self._sessions)

    def close(self) -> None:
        for session in reversed(self._sessions):
            session.stop()


@pytest.fixture(name="monitrace")
def monitrace_fixture() -> Iterator[TraceFixture]:
    """Trace inside a test: ``with monitrace.trace() as s: ...`` then
    ``assert s.calls("mod.func") == 3`` or ``s.assert_not_called(...)``."""
    fixture = TraceFixture()
    try:
        yield fixture
    finally:
        fixture.close()
