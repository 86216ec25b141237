"""What the pytest plugin's options mean, in plain Python: shared by the
plugin's hooks (which must not load the C core at collection) and the
suite tracer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Modules every test runs through but nobody means to trace.
PYTEST_MODULES = ("_pytest", "pytest", "pluggy", "xdist", "execnet")


#: --monitrace-out paths with these endings name one merged pstats file.
MERGED_SUFFIXES = (".pstats", ".prof")


def merged_out(out: str) -> bool:
    """Whether --monitrace-out names one merged pstats file (not a DIR)."""
    return out.lower().endswith(MERGED_SUFFIXES)


def base_options(include: Sequence[str], exclude: Sequence[str]) -> dict[str, Any]:
    """The trace() options of --monitrace-include/--monitrace-exclude."""
    options: dict[str, Any] = {}
    if include:
        options["include"] = tuple(include)
    else:
        exclude = (*exclude, *PYTEST_MODULES)
    options["exclude"] = tuple(exclude)
    return options
