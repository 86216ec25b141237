"""Command-line flags for the filters, shared by every front end (the
``monitrace`` command, the pytest plugin) so that they spell and default
the same way as ``trace()``'s options."""

from __future__ import annotations

import argparse
import re
from typing import Any

from .options import MAX_COUNT

_DURATION = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ns|us|µs|ms|s)?\s*\Z")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Seconds from ``"250us"``, ``"1.5ms"``, ``"2s"`` or ``"0.01"``
    (a bare number is seconds)."""
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(
            f"invalid duration {text!r}: use a number with an optional unit, e.g. 500us, 1.5ms, 2s"
        )
    return float(m.group(1)) * _UNIT[m.group(2)]


def parse_thread(text: str) -> str | int:
    """A thread ident (digits) or a thread name (a glob)."""
    return int(text) if text.isdigit() else text


def _duration_arg(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _spec_arg(option: str) -> Any:
    """An argparse type that checks one filter spec, errors naming `option`."""

    def check(text: str) -> str:
        from .filters import spec_to_q

        try:
            spec_to_q(text, option)
        except ValueError as exc:
            message = str(exc)
            prefix = f"{option}: "
            raise argparse.ArgumentTypeError(
                message[len(prefix) :] if message.startswith(prefix) else message
            ) from None
        return text

    return check


def _depth_arg(text: str) -> int:
    try:
        depth = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if depth < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {depth}")
    if depth >= MAX_COUNT:  # the monitrace command counts the program's module too
        raise argparse.ArgumentTypeError(f"must be less than {MAX_COUNT}, not {depth}")
    return depth


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --include, --exclude, --within, --exclude-within, --max-depth,
    --stdlib/--no-stdlib, --site-packages/--no-site-packages, --threads and
    --min-duration. Unset flags leave trace()'s defaults alone."""
    group = parser.add_argument_group(
        "filters",
        "SPEC is [module:|function:|qualname:|fullname:|file:][re:]PATTERN; "
        "without a field, a pattern with '/' or ending in .py is a file glob, "
        "anything else a module or full-name glob (pkg, pkg.*, pkg.mod.func). "
        "Repeat a flag to give several.",
    )
    group.add_argument(
        "--include",
        action="append",
        metavar="SPEC",
        type=_spec_arg("--include"),
        help="trace only functions matching a SPEC",
    )
    group.add_argument(
        "--exclude",
        action="append",
        metavar="SPEC",
        type=_spec_arg("--exclude"),
        help="never trace functions matching a SPEC",
    )
    group.add_argument(
        "--within",
        action="append",
        metavar="SPEC",
        type=_spec_arg("--within"),
        help="record only calls made inside a call of a matching function",
    )
    group.add_argument(
        "--exclude-within",
        action="append",
        metavar="SPEC",
        type=_spec_arg("--exclude-within"),
        dest="exclude_within",
        help="leave out a matching function and everything it calls",
    )
    group.add_argument(
        "--watch",
        action="append",
        metavar="SPEC",
        type=_spec_arg("--watch"),
        help="statement snapshots of matching functions: hit counts "
        "and variable values per statement, printed at the end",
    )
    group.add_argument(
        "--max-depth",
        type=_depth_arg,
        metavar="N",
        dest="max_depth",
        help="record calls down to N levels below where tracing (or a --within function) started",
    )
    group.add_argument(
        "--stdlib",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="trace the standard library (default: yes)",
    )
    group.add_argument(
        "--site-packages",
        action=argparse.BooleanOptionalAction,
        default=None,
        dest="site_packages",
        help="trace installed packages (default: yes)",
    )
    group.add_argument(
        "--threads",
        action="append",
        metavar="NAME_OR_IDENT",
        type=parse_thread,
        help="record only these threads (name globs or idents)",
    )
    group.add_argument(
        "--min-duration",
        type=_duration_arg,
        metavar="TIME",
        dest="min_duration",
        help="drop calls shorter than TIME (e.g. 50us) from trees "
        "and event logs; statistics keep them",
    )


_NAMES = (
    "include",
    "exclude",
    "within",
    "exclude_within",
    "watch",
    "max_depth",
    "stdlib",
    "site_packages",
    "threads",
    "min_duration",
)


def filter_options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """trace() keyword arguments for the filter flags that were given."""
    out = {}
    for name in _NAMES:
        value = getattr(args, name, None)
        if value is not None:
            out[name] = tuple(value) if isinstance(value, list) else value
    return out
