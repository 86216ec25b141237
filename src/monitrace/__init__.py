"""monitrace: a fast function tracer for CPython 3.12+ on sys.monitoring.

PYTEST_DONT_REWRITE: with MONITRACE set, monitrace.pth imports this
package at interpreter start, before pytest can install its assertion
rewriter; the marker tells pytest that this package is not to be
rewritten, instead of a PytestAssertRewriteWarning (an error under
``filterwarnings = error``). It has no assert statements to rewrite.
"""

from typing import TYPE_CHECKING, Any

from .diff import DiffRow, diff
from .filters import Q, UnmatchedSpecWarning
from .events import Event, FunctionInfo, RecordInfo, RecordLimitWarning
from .options import Options
from .report import FunctionStats

if TYPE_CHECKING:
    from .api import Session, TracerError, last_session, report, trace
    from .breakpoints import Breakpoint, BreakpointWarning
    from .watch import snapshot

# The names below come from .api, which loads the C extension. They are
# bound on first use, so importing the package (as pytest does for the
# plugin, through its entry point) loads no C code.
_API_NAMES = ("Session", "TracerError", "last_session", "report", "trace")
# `from .report import ...` above bound the submodule as `report`; the
# public `monitrace.report` is the function from .api. Likewise
# `monitrace.diff` is the function (the module: sys.modules).
del globals()["report"]

from ._version import __version__  # noqa: E402

__all__ = [
    "Breakpoint",
    "BreakpointWarning",
    "DiffRow",
    "Event",
    "FunctionInfo",
    "RecordInfo",
    "RecordLimitWarning",
    "FunctionStats",
    "Options",
    "Q",
    "Session",
    "TracerError",
    "UnmatchedSpecWarning",
    "__version__",
    "diff",
    "last_session",
    "report",
    "snapshot",
    "trace",
]


def __getattr__(name: str) -> Any:
    if name in ("Breakpoint", "BreakpointWarning"):
        from . import breakpoints

        return getattr(breakpoints, name)
    if name in _API_NAMES:
        from . import api

        for api_name in _API_NAMES:
            globals()[api_name] = getattr(api, api_name)
        return globals()[name]
    if name == "snapshot":
        from .watch import snapshot

        globals()["snapshot"] = snapshot
        return snapshot
    raise AttributeError(f"module 'monitrace' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
