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

import atexit
import dataclasses
import os
import signal
import sys
from typing import Any

ENV = "MONITRACE"

_LIST_KEYS = ("include", "exclude", "within", "exclude_within", "threads")
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
                raise ValueError(
                    f"sort= takes one of {', '.join(sorted(SORT_KEYS))}, not {val!r}"
                )
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


def output_path(template: str, pid: int | None = None) -> str:
    """The output file of process `pid` (default: this one)."""
    return template.replace("{pid}", str(os.getpid() if pid is None else pid))


#: Extensions of ``output=`` that get the text report.
TEXT_SUFFIXES = (".txt", ".log", "")
REPORT = "report"


def is_off(value: str) -> bool:
    """Whether a MONITRACE value asks for no tracing at all."""
    return not value.strip() or value.strip().lower() in _FALSE


def plan_output(config: Config) -> tuple[str, str] | None:
    """Where and how this process writes at exit, checked now: the
    ``output=`` template made absolute (a relative one is taken from the
    directory the program starts in, whatever it changes to later) and
    the format (REPORT for the text report, else a Session.save format).
    None for the report on stderr. A ValueError naming ``output=`` when
    the format is unknown or does not fit, or the file cannot be written."""
    from .exporters import SUFFIXES, check_writable, needs_events, resolve_format

    if config.output is None:
        return None
    template = os.path.abspath(config.output)
    path = output_path(template)
    suffix = os.path.splitext(path)[1].lower()
    try:
        if config.report or suffix in TEXT_SUFFIXES:
            format = REPORT
        else:
            recording = bool(config.options.get("record"))
            base = os.path.splitext(path[:-3])[1].lower() if suffix == ".gz" else suffix
            named = SUFFIXES.get(base)
            if named is not None and needs_events(named) and not recording:
                raise ValueError(
                    f"the {named} format ({base}) needs record mode, and this "
                    "session records no events; write .pstats, .prof, .json "
                    "(statistics) or .txt (the report)"
                )
            format = resolve_format(path, None, events=recording)
        check_writable(path)
    except OSError as exc:  # the path is said already
        raise ValueError(f"output={config.output}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"output={config.output}: {exc}") from None
    return template, format


class _Run:
    """The session started from MONITRACE, and its output at exit."""

    def __init__(
        self, config: Config, session: Any, output: tuple[str, str] | None = None
    ) -> None:
        self.config = config
        self.session = session
        self.output = output
        self.pid = os.getpid()
        self.done = False
        self.finishing = False
        # A SIGTERM that came while the output was being written.
        self.pending_signal: int | None = None

    def finish(self) -> None:
        if self.done or self.pid != os.getpid():
            return
        self.done = self.finishing = True
        try:
            self.session.stop()
            self._say_unmatched()
            self.write()
        except Exception as exc:  # never fail the program at exit
            sys.stderr.write(f"monitrace: could not write the MONITRACE output: {exc}\n")
        finally:
            self.finishing = False
        if self.pending_signal is not None:
            _die_by(self.pending_signal)

    def _say_unmatched(self) -> None:
        """Specs are often meant for some processes of a program only (the
        workers of a pool), so one that matched nothing here is said only
        when this process traced nothing at all: why its output is empty."""
        session = self.session
        if session.stats():
            return
        for line in session.unmatched_specs():
            line = line.removeprefix("monitrace: ")
            sys.stderr.write(f"monitrace: pid {os.getpid()}: {ENV} {line}\n")

    def write(self) -> None:
        cfg = self.config
        if not self.session.options.profile:
            return  # breakpoints alone: nothing was measured
        if self.output is None:
            sys.stderr.write(f"monitrace: pid {os.getpid()} {' '.join(sys.argv)}\n")
            self.session.report(sort=cfg.sort, limit=cfg.limit or None, file=sys.stderr)
            return
        from .exporters import write_atomic

        template, format = self.output
        path = output_path(template)
        if format == REPORT:
            write_atomic(
                path,
                lambda f: self.session.report(sort=cfg.sort, limit=cfg.limit or None, file=f),
                binary=False,
            )
        else:
            self.session.save(path, format)

    def after_fork_in_child(self) -> None:
        """A forked child records its own calls only, into its own output."""
        try:
            session = self.session
            if session.running:
                session.stop()
            session.clear()
            session.start()
            self.pid = os.getpid()
            self.done = False
            _hook_multiprocessing(self)
            if signal.getsignal(signal.SIGTERM) is _on_sigterm:
                _route_sigterm()  # the parent's retry timer stayed behind
        except Exception as exc:
            sys.stderr.write(f"monitrace: could not restart tracing after fork: {exc!r}\n")


def _hook_multiprocessing(run: _Run) -> None:
    # multiprocessing's fork children end with os._exit(), skipping atexit;
    # they run the finalizers registered after their own clean-up, though.
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util.register_after_fork(
            run, lambda r: util.Finalize(None, r.finish, exitpriority=-100)
        )


_active: _Run | None = None
_tried = False


def activate(value: str | None = None) -> bool:
    """Start the MONITRACE session, once per process (site processes the
    .pth files of a virtual environment twice on some builds).
    Never raises: a malformed value is reported on stderr and the program
    runs untraced. Returns whether tracing started."""
    global _active, _tried
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
            from .children import activate_child

            return activate_child(config.collect)
        if config.signal is not None:
            from .remote import install

            install(config.signal, output=config.output, **config.options)
            return True
        from .api import trace

        session = trace(**config.options)
        output = plan_output(config)
    except (TypeError, ValueError, OSError) as exc:
        sys.stderr.write(
            f"monitrace: ignoring {ENV}={value!r}: {exc}; the program runs untraced\n"
        )
        return False
    session._warn_unmatched = False  # _Run._say_unmatched decides
    try:
        session.start()
    except Exception as exc:
        sys.stderr.write(f"monitrace: {ENV} could not start tracing: {exc}\n")
        return False
    _active = run = _Run(config, session, output)
    atexit.register(run.finish)
    os.register_at_fork(after_in_child=run.after_fork_in_child)
    _catch_sigterm()
    return True


def _catch_sigterm() -> None:
    """Write the output when SIGTERM ends the process, but only where the
    signal has its default action: a program's own handler, or an ignored
    SIGTERM, stays as it is. Forked children inherit the handler.

    Python runs the handler in the main thread only, when it next checks
    for signals; the core passes a SIGTERM that another thread received on
    to the main thread and repeats it until the handler has run, or a main
    thread blocked on a lock (a pool worker waiting for its next task)
    might never run it, and the process would not end."""
    try:
        if signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):  # not the main thread, no SIGTERM
        return
    _route_sigterm()


def _route_sigterm() -> None:
    from . import _core

    try:
        _core.route_signal(signal.SIGTERM)
    except OSError:  # the handler still runs when the main thread checks
        pass


def _on_sigterm(signum: int, frame: Any) -> None:
    from . import _core

    run = _active
    if run is not None and run.finishing:
        # Writing the output already (atexit): die once it is written.
        run.pending_signal = signum
        return
    if run is not None and not run.done and run.pid == os.getpid():
        try:
            run.session.stop()
        except RuntimeError:
            # The signal landed in monitrace's own Python code run from a
            # tracer callback (a filter), where the session cannot stop:
            # take it again once that code has returned to the program.
            _core.signal_later(signum)
            return
        _core.signal_taken(signum)
        run.finish()
    _die_by(signum)


def _die_by(signum: int) -> None:
    """End the process as the signal's default action would have: the
    parent sees the same wait status as without tracing, and buffered
    output the program never flushed is lost as it would have been."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
