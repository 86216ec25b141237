"""What an output path means, decided in one place for every front end
(the monitrace command, ``attach``, ``MONITRACE``'s ``output=``, the
signal toggle): the text report or an export format, whether the session
must record events for it, and the checks made before anything runs.
Also ``-o FILE`` and ``--format`` for a command line."""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

from . import (
    FORMATS,
    SUFFIXES,
    check_writable,
    needs_events,
    resolve_format,
    wants_events,
    write_atomic,
)

#: Extensions (after an optional .gz) that mean the text report.
TEXT_SUFFIXES = (".txt", ".log", "")
#: The format name of the text report.
REPORT = "report"


@dataclasses.dataclass(frozen=True)
class OutputPlan:
    """Where and how to write the trace once the program is done. `path`
    is absolute: taken from the directory the command started in, so a
    program that changes directory does not move it. `format` is REPORT
    (the text report) or an export format; `record`: the session must
    record events for it."""

    path: str
    format: str
    record: bool = False

    @property
    def is_report(self) -> bool:
        return self.format == REPORT

    def write(self, session: Any, *, sort: str | None = None, limit: int | None = None) -> str:
        """Write `session` as planned; returns the format written."""
        if self.is_report:
            write_atomic(
                self.path,
                lambda f: write_report(session, f, sort=sort, limit=limit),
                binary=False,
                gz=self.path.lower().endswith(".gz"),
            )
            return REPORT
        return str(session.save(self.path, self.format))


def write_report(
    session: Any, file: Any, *, sort: str | None = None, limit: int | None = None
) -> None:
    """The text report of `session` to `file`, followed by the statement
    snapshots of its watched functions, if it watches any."""
    shape: dict[str, Any] = {"limit": limit}
    if sort is not None:
        shape["sort"] = sort
    session.report(file=file, **shape)
    if session.options.watch:
        from ..watch import write_text

        write_text(session.snapshots(), file)


def _suffix(path: str) -> str:
    """The extension that names the format (before a trailing .gz)."""
    base = path[:-3] if path.lower().endswith(".gz") else path
    return os.path.splitext(base)[1].lower()


def choose_format(
    path: str,
    format: str | None = None,
    *,
    report: bool = False,
    recording: bool | None = None,
    unknown_is_text: bool = False,
    text: bool = True,
) -> tuple[str, bool]:
    """The one decision of what writing `path` means: (format, record).

    `report` asks for the text report whatever the extension. Otherwise
    `format` when given, else the extension: .txt, .log or none (and any
    other unknown one when `unknown_is_text`) mean the report. `recording`
    says whether the session records events; None means the caller turns
    recording on where the format needs it (the commands do: there
    ``.json`` is then a Chrome trace, unless ``format="json"``).
    `text=False` leaves the report out (only Session.save formats). A
    ValueError names what does not fit."""
    suffix = _suffix(path)
    if report or (
        text
        and format is None
        and (suffix in TEXT_SUFFIXES or (unknown_is_text and suffix not in SUFFIXES))
    ):
        return REPORT, bool(recording)
    if format is not None and format not in FORMATS:
        resolve_format(path, format)  # raises, naming the formats there are
    if recording is None:
        named = format or SUFFIXES.get(suffix)
        recording = named is not None and (
            wants_events(named) or (format is None and named == "json")
        )
    elif format is None and not recording:
        named = SUFFIXES.get(suffix)
        if named is not None and needs_events(named):
            raise ValueError(
                f"the {named} format ({suffix}) needs record mode, and this session "
                "records no events; write .pstats, .prof, .json (statistics) or .txt "
                "(the report)"
            )
    return resolve_format(path, format, events=recording), recording


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``-o/--output FILE`` and ``--format NAME`` to `parser`."""
    suffixes = ", ".join(f"{s} ({f})" for s, f in SUFFIXES.items())
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default=None,
        help=f"write the trace to FILE, in the format its extension names: {suffixes}; "
        "a trailing .gz compresses text formats",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="the format of -o FILE, whatever its extension",
    )


def plan_output(
    path: str | None,
    format: str | None = None,
    *,
    report: bool = False,
    recording: bool | None = None,
    unknown_is_text: bool = False,
    text: bool = True,
) -> OutputPlan | None:
    """Check an output request before anything runs (see
    :func:`choose_format`): ValueError for a format that cannot be told or
    does not fit, OSError naming the path when it cannot be written. None
    when no output was asked for. A relative path is made absolute now,
    where it is checked."""
    if path is None:
        if format is not None:
            raise ValueError("--format needs -o FILE")
        return None
    chosen, record = choose_format(
        path, format, report=report, recording=recording, unknown_is_text=unknown_is_text, text=text
    )
    check_writable(path)
    return OutputPlan(path=os.path.abspath(path), format=chosen, record=record)


def output_from_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace, *, recording: bool = False
) -> OutputPlan | None:
    """plan_output() for parsed arguments; a bad request ends the command
    through ``parser.error`` (exit status 2, the message names the path)."""
    try:
        return plan_output(args.output, args.format, recording=recording, text=False)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
