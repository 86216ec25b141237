"""Validated, frozen session options. Every bad value fails here, with the
option's name in the message, before anything is traced."""

from __future__ import annotations

import dataclasses
from typing import Any

_CLOCKS = ("auto", "tsc", "monotonic")


@dataclasses.dataclass(frozen=True, slots=True)
class Options:
    """What a session traces and how. Built by :func:`options_from`."""

    c_calls: bool = False
    clock: str = "auto"
    tool_id: int | None = None

    def __post_init__(self) -> None:
        _check_bool("c_calls", self.c_calls)
        if not isinstance(self.clock, str) or self.clock not in _CLOCKS:
            raise ValueError(
                f"clock must be one of {', '.join(map(repr, _CLOCKS))}, "
                f"not {self.clock!r}"
            )
        if self.tool_id is not None:
            if not isinstance(self.tool_id, int) or isinstance(self.tool_id, bool):
                raise TypeError(
                    f"tool_id must be an int or None, not {type(self.tool_id).__name__}"
                )
            if not 0 <= self.tool_id <= 5:
                raise ValueError(f"tool_id must be between 0 and 5, not {self.tool_id}")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")


def options_from(kwargs: dict[str, Any]) -> Options:
    """Options from keyword arguments; an unknown name is a TypeError that
    lists the known ones."""
    known = {f.name for f in dataclasses.fields(Options)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise TypeError(
            f"unknown trace() option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}; known options: {', '.join(sorted(known))}"
        )
    return Options(**kwargs)
