"""``-o FILE`` and ``--format`` for a command line: options, checks made
before the traced program starts, and the final write."""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

from . import FORMATS, SUFFIXES, check_writable, resolve_format


@dataclasses.dataclass(frozen=True)
class OutputPlan:
    """Where and how to write the trace once the program is done. `path`
    is absolute: taken from the directory the command started in, so a
    program that changes directory does not move it."""

    path: str
    format: str

    def write(self, session: Any) -> str:
        """Save `session`; returns the format written."""
        return str(session.save(self.path, self.format))


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``-o/--output FILE`` and ``--format NAME`` to `parser`."""
    suffixes = ", ".join(f"{s} ({f})" for s, f in SUFFIXES.items())
    parser.add_argument(
        "-o", "--output", metavar="FILE", default=None,
        help=f"write the trace to FILE, in the format its extension names: {suffixes}; "
        "a trailing .gz compresses text formats",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default=None,
        help="the format of -o FILE, whatever its extension",
    )


def plan_output(
    path: str | None, format: str | None = None, *, recording: bool = False
) -> OutputPlan | None:
    """Check an output request before anything runs: ValueError for a
    format that cannot be told or does not fit, OSError naming the path
    when it cannot be written. None when no output was asked for. A
    relative path is made absolute now, where it is checked."""
    if path is None:
        if format is not None:
            raise ValueError("--format needs -o FILE")
        return None
    chosen = resolve_format(path, format, events=recording)
    check_writable(path)
    return OutputPlan(path=os.path.abspath(path), format=chosen)


def output_from_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace, *, recording: bool = False
) -> OutputPlan | None:
    """plan_output() for parsed arguments; a bad request ends the command
    through ``parser.error`` (exit status 2, the message names the path)."""
    try:
        return plan_output(args.output, args.format, recording=recording)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
