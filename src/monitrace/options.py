"""Validated, frozen session options. Every bad value fails here, with the
option's name in the message, before anything is traced."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from . import filters
from .filters import Spec

_CLOCKS = ("auto", "tsc", "monotonic")


@dataclasses.dataclass(frozen=True, slots=True)
class Options:
    """What a session traces and how. Built by :func:`options_from`."""

    c_calls: bool = False
    clock: str = "auto"
    tool_id: int | None = None
    # Filters (README "Filters"): static ones decide once per code object.
    include: tuple[Spec, ...] = ()
    exclude: tuple[Spec, ...] = ()
    stdlib: bool = True
    site_packages: bool = True
    within: tuple[Spec, ...] = ()
    exclude_within: tuple[Spec, ...] = ()
    max_depth: int | None = None
    threads: tuple[str | int, ...] | None = None
    min_duration: float = 0.0

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
        _check_filters(self)

    @property
    def dynamic_filters(self) -> bool:
        """Whether a filter decides per call (max_depth, within,
        exclude_within, threads) rather than once per function."""
        return bool(
            self.max_depth is not None or self.within or self.exclude_within
            or self.threads is not None
        )


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")


def _check_filters(opts: Options) -> None:
    """Validate and normalise the filter options (specs become tuples)."""
    for name in ("include", "exclude", "within", "exclude_within"):
        object.__setattr__(opts, name, filters.normalize_specs(name, getattr(opts, name)))
    _check_bool("stdlib", opts.stdlib)
    _check_bool("site_packages", opts.site_packages)
    depth = opts.max_depth
    if depth is not None:
        if not isinstance(depth, int) or isinstance(depth, bool):
            raise TypeError(f"max_depth must be an int or None, not {type(depth).__name__}")
        if depth < 1:
            raise ValueError(f"max_depth must be 1 or more (or None for no limit), not {depth}")
    object.__setattr__(opts, "threads", filters.normalize_threads(opts.threads))
    dur = opts.min_duration
    if isinstance(dur, bool) or not isinstance(dur, (int, float)):
        raise TypeError(f"min_duration must be a number of seconds, not {dur!r}")
    if not math.isfinite(dur) or dur < 0:
        raise ValueError(f"min_duration must be 0 or more seconds, not {dur!r}")
    object.__setattr__(opts, "min_duration", float(dur))


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
