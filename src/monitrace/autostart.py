"""``MONITRACE=...``: trace a whole program from interpreter start.

The ``monitrace.pth`` file installed in site-packages imports this module
only when the variable is set, non-empty and not an "off" value (``0``,
``off``, ``false``, ``no``), and calls :func:`activate`.
Child processes inherit the variable: a subprocess or a multiprocessing
"spawn" child starts its own session the same way; a forked child (os.fork,
multiprocessing "fork") drops what its parent recorded and starts afresh.
Each process writes its own output at exit, and also when SIGTERM ends it
(as ``multiprocessing.Pool.__exit__`` ends its workers) while the program
left that signal's default action in place.

Syntax: items separated by ``;``, each ``key=value`` or a bare flag::

    MONITRACE="include=myapp.*;report;output=trace-{pid}.txt"

See ``KEYS`` and the README ("Tracing a whole program") for the keys.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

from . import runs
from .runs import ENV, output_path


_LIST_KEYS = ("include", "exclude", "within", "exclude_within", "watch", "threads")
_BOOL_KEYS = ("stdlib", "site_packages", "c_calls", "args", "retval")
# Keys that may also be given bare, meaning on.
_FLAGS = ("report", "record", "args", "retval")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

KEYS = {
    "include": "trace only these specs (repeat the key, or separate with ',')",
    "exclude": "never trace these specs",
    "within": "record only inside calls of these",
    "exclude_within": "leave these and what they call out",
    "watch": "statement snapshots of these functions, written with the report",
    "max_depth": "record calls down to this depth",
    "stdlib": "trace the standard library (1/0)",
    "site_packages": "trace installed packages (1/0)",
    "threads": "record only these threads (names or idents)",
    "min_duration": "drop shorter calls from trees and logs (e.g. 50us)",
    "c_calls": "also time C functions (1/0)",
    "clock": "auto, tsc or monotonic",
    "record": "record events, for the .json (Chrome), .folded and .collapsed "
    "outputs (bare or 1/0; a number from 2 on: keep at most that many events)",
    "args": "record argument values in the events (needs record)",
    "retval": "record return values and exceptions in the events (needs record)",
    "output": "write here at exit; {pid} is the process id (default: stderr)",
    "report": "write the text report (the default when no output is given)",
    "sort": "report order (cumtime, tottime, calls, ...)",
    "limit": "report at most this many rows (0: all, the default)",
    "collect": "(set by trace(subprocesses=True)) trace with the options the "
    "parent left in this directory and write the results there",
    "break": "a breakpoint: file.py:LINE or pkg.mod.func, optionally ' if EXPR' "
    "(repeat the key for more); alone (no report, no output) nothing else is "
    "traced and nothing written at exit",
    "break_action": "what breakpoints do: pdb (default), print or stack",
    "errors": "when an exception leaves a traced function, print the last "
    "lines it ran with their variables (bare or 1/0)",
    "signal": "do not trace from the start: this signal (e.g. USR1) starts a "
    "session and the next one stops it and writes the output; "
    "`monitrace attach --signal PID` uses it too",
}


@dataclasses.dataclass(frozen=True)
class Config:
    """A parsed MONITRACE value."""

    options: dict[str, Any]
    output: str | None = None
    report: bool = False
    sort: str = "cumtime"
    limit: int | None = None
    signal: int | None = None
    collect: str | None = None


def parse(value: str) -> Config:
    """Parse a MONITRACE value; ValueError says what is wrong."""
    from .filter_args import parse_duration, parse_thread

    options: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {}
    extra: dict[str, Any] = {}
    for raw in value.split(";"):
        item = raw.strip()
        if not item:
            continue
        key, sep, val = item.partition("=")
        key = key.strip().replace("-", "_")
        val = val.strip()
        if not sep:
            if key.lower() in _TRUE:
                key = "report"
            if key == "report":
                extra["report"] = True
                continue
            if key == "errors":
                options["on_error"] = "errors"
                continue
            if key in _FLAGS:
                options[key] = True
                continue
            raise ValueError(
                f"{item!r} is not key=value nor a known flag ({', '.join(_FLAGS)}); "
                f"keys: {', '.join(KEYS)}"
            )
        if key not in KEYS:
            raise ValueError(f"unknown key {key!r}; keys: {', '.join(KEYS)}")
        if not val:
            raise ValueError(f"{key}= needs a value")
        if key == "break":
            lists.setdefault("breakpoints", []).append(val)
        elif key == "break_action":
            if val not in ("pdb", "print", "stack"):
                raise ValueError(f"break_action= takes pdb, print or stack, not {val!r}")
            extra["break_action"] = val
        elif key == "errors":
            if val.lower() not in _TRUE + _FALSE:
                raise ValueError(f"errors= takes 1 or 0, not {val!r}")
            if val.lower() in _TRUE:
                options["on_error"] = "errors"
        elif key in _LIST_KEYS:
            parts = [val] if "re:" in val else [p.strip() for p in val.split(",")]
            values: list[str | int] = list(parts)
            if key == "threads":
                values = [parse_thread(p) for p in parts]
            lists.setdefault(key, []).extend(values)
        elif key in _BOOL_KEYS:
            if val.lower() not in _TRUE + _FALSE:
                raise ValueError(f"{key}= takes 1 or 0 (true/false), not {val!r}")
            options[key] = val.lower() in _TRUE
        elif key == "max_depth":
            options[key] = _int(key, val)
        elif key == "record":
            if val.lower() in _TRUE + _FALSE:
                options[key] = val.lower() in _TRUE
            else:
                try:
                    options[key] = int(val)
                except ValueError:
                    raise ValueError(
                        f"record= takes 1 or 0 (true/false), or the most events to "
                        f"keep, not {val!r}"
                    ) from None
        elif key == "min_duration":
            options[key] = parse_duration(val)
        elif key == "clock":
            options[key] = val
        elif key == "signal":
            from .remote import parse_signal

            extra[key] = parse_signal(val)
        elif key == "limit":
            extra[key] = _int(key, val)
            if extra[key] < 0:
                raise ValueError(f"limit= takes 0 or more rows, not {extra[key]}")
        elif key == "sort":
            from .report import SORT_KEYS

            if val not in SORT_KEYS:
                raise ValueError(f"sort= takes one of {', '.join(sorted(SORT_KEYS))}, not {val!r}")
            extra[key] = val
        elif key == "report":
            extra[key] = val.lower() in _TRUE
            if val.lower() not in _TRUE + _FALSE:
                raise ValueError(f"report= takes 1 or 0, not {val!r}")
        else:  # output: checked with the session's options, in plan_output()
            extra[key] = val
    action = extra.pop("break_action", "pdb")
    if "breakpoints" in lists:
        from .breakpoints import Breakpoint

        lists["breakpoints"] = [Breakpoint(w, action=action) for w in lists["breakpoints"]]
    options.update({k: tuple(v) for k, v in lists.items()})
    if (options.get("breakpoints") or options.get("on_error")) and not (
        extra.get("report") or extra.get("output") or options.get("record")
    ):
        # Breakpoints (or the error snooper) alone: no statistics, no output.
        options["profile"] = False
    for key in ("args", "retval"):
        if options.get(key) and not options.get("record"):
            raise ValueError(f"{key} is kept in recorded events: add record")
    return Config(options=options, **extra)


def _int(key: str, val: str) -> int:
    try:
        return int(val)
    except ValueError:
        raise ValueError(f"{key}= takes a whole number, not {val!r}") from None


def is_off(value: str) -> bool:
    """Whether a MONITRACE value asks for no tracing at all."""
    return not value.strip() or value.strip().lower() in _FALSE


def plan_output(config: Config) -> tuple[str, str] | None:
    """Where and how this process writes at exit, checked now: the
    ``output=`` template made absolute (a relative one is taken from the
    directory the program starts in, whatever it changes to later) and
    the format (``exporters.output.REPORT`` for the text report, else a
    Session.save format;
    see :func:`monitrace.exporters.output.choose_format`). None for the
    report on stderr. A ValueError naming ``output=`` when the format is
    unknown or does not fit, or the file cannot be written."""
    from .exporters.output import plan_output as plan

    if config.output is None:
        return None
    template = os.path.abspath(config.output)
    try:
        chosen = plan(
            output_path(template),
            report=config.report,
            recording=bool(config.options.get("record")),
        )
    except OSError as exc:  # the path is said already
        raise ValueError(f"output={config.output}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"output={config.output}: {exc}") from None
    assert chosen is not None
    return template, chosen.format


_tried = False


def activate(value: str | None = None) -> bool:
    """Start the MONITRACE session, once per process (site processes the
    .pth files of a virtual environment twice on some builds).
    Never raises: a malformed value is reported on stderr and the program
    runs untraced. Returns whether tracing started."""
    global _tried
    if _tried:
        return False
    _tried = True
    if value is None:
        value = os.environ.get(ENV, "")
    if is_off(value):
        return False
    try:
        config = parse(value)
        if config.collect is not None:
            return activate_child(config.collect)
        if config.signal is not None:
            from .remote import install

            install(config.signal, output=config.output, **config.options)
            return True
        from .api import trace

        # Each process writes its own output: a forked child traces on.
        session = trace(**{**config.options, "fork": "continue"})
        output = plan_output(config)
    except (TypeError, ValueError, OSError) as exc:
        sys.stderr.write(f"monitrace: ignoring {ENV}={value!r}: {exc}; the program runs untraced\n")
        return False
    session.warn_unmatched = False  # Run._say_unmatched decides
    try:
        session.start()
    except Exception as exc:
        sys.stderr.write(f"monitrace: {ENV} could not start tracing: {exc}\n")
        return False
    runs.install(runs.Run(session, output, sort=config.sort, limit=config.limit))
    return True


def activate_child(directory: str) -> bool:
    """Start this process's session from its parent's options (called by
    :func:`activate` for ``MONITRACE=collect=DIR``). Never raises."""
    import json

    from .children import OPTIONS_FILE, PASSED, ChildRun, helper_process

    helper = helper_process()
    if helper == "resource_tracker":
        return False
    try:
        with open(os.path.join(directory, OPTIONS_FILE), "rb") as f:
            options = {
                name: tuple(value) if isinstance(value, list) else value
                for name, value in json.load(f).items()
                if name in PASSED
            }
    except OSError:
        return False  # the parent is done collecting: run untraced
    except Exception as exc:
        sys.stderr.write(f"monitrace: could not read the parent's options: {exc!r}\n")
        return False
    try:
        from .api import trace

        session = trace(**options, fork="continue")
        session.warn_unmatched = False
        session.start()
    except Exception as exc:
        sys.stderr.write(f"monitrace: could not trace this child process: {exc}\n")
        return False
    runs.install(ChildRun(directory, session, announce=helper is None))
    return True
