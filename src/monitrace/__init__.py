"""monitrace: a fast function tracer for CPython 3.12+ on sys.monitoring."""

from .api import Session, TracerError, last_session, report, trace
from .filters import Q
from .events import Event, FunctionInfo, RecordInfo, RecordLimitWarning
from .options import Options
from .report import FunctionStats

__version__ = "0.1.0"

__all__ = [
    "Event",
    "FunctionInfo",
    "RecordInfo",
    "RecordLimitWarning",
    "FunctionStats",
    "Options",
    "Q",
    "Session",
    "TracerError",
    "__version__",
    "last_session",
    "report",
    "trace",
]
