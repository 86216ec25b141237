"""Validated, frozen session options. Every bad value fails here, with the
option's name in the message, before anything is traced."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from . import filters
from .filters import Spec

_CLOCKS = ("auto", "tsc", "monotonic")
_TREE_LIBRARY = ("all", "first")
_FORK_MODES = ("stop", "continue")

#: Events kept by ``record=True`` (24 MB of event records): the first ones
#: are kept, later ones counted as dropped. Pass a number to choose.
DEFAULT_RECORD_LIMIT = 1_000_000

#: The largest count the C core takes (record=, repr_limit=, max_depth=).
MAX_COUNT = sys.maxsize
#: The longest min_duration=: nanoseconds are 64-bit in the core (292 years).
MAX_SECONDS = (2**63 - 1) // 10**9


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
    # Statement snapshots of these functions (monitrace.watch).
    watch: tuple[Spec, ...] = ()
    max_depth: int | None = None
    threads: tuple[str | int, ...] | None = None
    min_duration: float = 0.0
    # Record mode, tree output, captures, lines (see recording_checks).
    record: bool | int = False
    live: bool = False
    file: Any = None
    args: bool = False
    retval: bool = False
    lines: bool = False
    path: bool = False
    # Full file paths in trees and report tables, not model.short_path's.
    full_paths: bool = False
    elapsed: bool = False
    depth: int | None = None
    repr_limit: int = 80
    color: bool | None = None
    # Library code (stdlib, site-packages) in trees: "all" of it, or only
    # the "first" frame of each call into it from other code.
    tree_library: str = "all"
    # What a child of os.fork() does with a running session.
    fork: str = "stop"
    # Follow child processes and merge their results (monitrace.children).
    subprocesses: bool = False
    # Breakpoints (monitrace.breakpoints): str or Breakpoint items, parsed
    # into Breakpoint objects; profile=False keeps no statistics (only the
    # breakpoints and the error snooper cost anything); on_error="errors"
    # prints the last lines of a frame an exception leaves.
    breakpoints: Any = ()
    profile: bool = True
    on_error: str | None = None

    @property
    def record_limit(self) -> int:
        """Events kept at most (0 when not recording)."""
        if self.record is True:
            return DEFAULT_RECORD_LIMIT
        return int(self.record) if self.record else 0

    def __post_init__(self) -> None:
        _check_bool("c_calls", self.c_calls)
        _check_bool("subprocesses", self.subprocesses)
        _recording_checks(self)
        if not isinstance(self.clock, str) or self.clock not in _CLOCKS:
            raise ValueError(
                f"clock must be one of {', '.join(map(repr, _CLOCKS))}, not {self.clock!r}"
            )
        if self.tool_id is not None:
            if not isinstance(self.tool_id, int) or isinstance(self.tool_id, bool):
                raise TypeError(
                    f"tool_id must be an int or None, not {type(self.tool_id).__name__}"
                )
            if not 0 <= self.tool_id <= 5:
                raise ValueError(f"tool_id must be between 0 and 5, not {self.tool_id}")
        if not isinstance(self.fork, str) or self.fork not in _FORK_MODES:
            raise ValueError(
                f"fork must be one of {', '.join(map(repr, _FORK_MODES))}, not {self.fork!r}"
            )
        _check_filters(self)
        _check_targets(self)

    @property
    def dynamic_filters(self) -> bool:
        """Whether a filter decides per call (max_depth, within,
        exclude_within, threads) rather than once per function."""
        return bool(
            self.max_depth is not None
            or self.within
            or self.exclude_within
            or self.threads is not None
        )


def _recording_checks(o: Options) -> None:
    if isinstance(o.record, bool):
        pass
    elif not isinstance(o.record, int) or not 0 < o.record <= MAX_COUNT:
        raise (TypeError if not isinstance(o.record, int) else ValueError)(
            f"record must be True, False or a positive int up to {MAX_COUNT} "
            f"(the most events kept), not {o.record!r}"
        )
    for name in ("live", "args", "retval", "lines", "path", "full_paths", "elapsed"):
        _check_bool(name, getattr(o, name))
    if o.color is not None:
        _check_bool("color", o.color)
    if o.file is not None and not callable(getattr(o.file, "write", None)):
        raise TypeError(
            f"file must be a writable text stream (with .write), not {type(o.file).__name__}"
        )
    if o.file is not None and not o.live:
        raise ValueError("file= is where live=True prints the tree; pass live=True too")
    if not isinstance(o.tree_library, str) or o.tree_library not in _TREE_LIBRARY:
        raise ValueError(
            f"tree_library must be one of {', '.join(map(repr, _TREE_LIBRARY))}, "
            f"not {o.tree_library!r}"
        )
    if o.depth is not None:
        if not isinstance(o.depth, int) or isinstance(o.depth, bool):
            raise TypeError(f"depth must be a positive int or None, not {o.depth!r}")
        if o.depth < 1:
            raise ValueError(f"depth must be a positive int or None, not {o.depth}")
    if not isinstance(o.repr_limit, int) or isinstance(o.repr_limit, bool):
        raise TypeError(f"repr_limit must be a positive int, not {o.repr_limit!r}")
    if not 1 <= o.repr_limit <= MAX_COUNT:
        raise ValueError(
            f"repr_limit must be a positive int, not {o.repr_limit} (at most {MAX_COUNT})"
        )
    if not (o.record or o.live):
        for name in ("args", "retval", "path", "elapsed"):
            if getattr(o, name):
                raise ValueError(
                    f"{name}=True only matters for the call tree: pass record=True "
                    f"(s.tree() afterwards) or live=True (printed while running)"
                )
        if o.depth is not None:
            raise ValueError("depth= limits the call tree: pass record=True or live=True too")


def _check_targets(o: Options) -> None:
    if o.breakpoints:
        from . import breakpoints

        object.__setattr__(o, "breakpoints", breakpoints.normalize(o.breakpoints))
    else:
        object.__setattr__(o, "breakpoints", ())
    _check_bool("profile", o.profile)
    if o.on_error is not None and o.on_error != "errors":
        raise ValueError(f"on_error must be None or 'errors', not {o.on_error!r}")
    if not o.profile:
        for name in ("record", "live", "c_calls", "subprocesses"):
            if getattr(o, name):
                raise ValueError(
                    f"profile=False keeps no calls nor statistics: {name}= needs profile=True"
                )


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")


def _check_filters(opts: Options) -> None:
    """Validate and normalise the filter options (specs become tuples)."""
    for name in ("include", "exclude", "within", "exclude_within", "watch"):
        object.__setattr__(opts, name, filters.normalize_specs(name, getattr(opts, name)))
    _check_bool("stdlib", opts.stdlib)
    _check_bool("site_packages", opts.site_packages)
    depth = opts.max_depth
    if depth is not None:
        if not isinstance(depth, int) or isinstance(depth, bool):
            raise TypeError(f"max_depth must be an int or None, not {type(depth).__name__}")
        if not 1 <= depth <= MAX_COUNT:
            raise ValueError(
                f"max_depth must be 1 or more, up to {MAX_COUNT} (or None for no "
                f"limit), not {depth}"
            )
    object.__setattr__(opts, "threads", filters.normalize_threads(opts.threads))
    dur = opts.min_duration
    if isinstance(dur, bool) or not isinstance(dur, (int, float)):
        raise TypeError(f"min_duration must be a number of seconds, not {dur!r}")
    if not 0 <= dur <= MAX_SECONDS:  # also NaN and infinities
        raise ValueError(
            f"min_duration must be 0 or more seconds, up to {MAX_SECONDS}, not {dur!r}"
        )
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
