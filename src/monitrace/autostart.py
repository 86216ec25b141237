"""``MONITRACE=...``: trace a whole program from interpreter start.

The ``monitrace.pth`` file installed in site-packages imports this module
only when the variable is set and non-empty, and calls :func:`activate`.
Child processes inherit the variable: a subprocess or a multiprocessing
"spawn" child starts its own session the same way; a forked child (os.fork,
multiprocessing "fork") drops what its parent recorded and starts afresh.
Each process writes its own output at exit.

Syntax: items separated by ``;``, each ``key=value`` or a bare flag::

    MONITRACE="include=myapp.*;report;output=trace-{pid}.txt"

See ``KEYS`` and the README ("Tracing a whole program") for the keys.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import sys
from typing import Any

ENV = "MONITRACE"

_LIST_KEYS = ("include", "exclude", "within", "exclude_within", "threads")
_BOOL_KEYS = ("stdlib", "site_packages", "c_calls")
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
    "output": "write here at exit; {pid} is the process id (default: stderr)",
    "report": "write the text report (the default when no output is given)",
    "sort": "report order (cumtime, tottime, calls, ...)",
    "limit": "report at most this many rows",
}


@dataclasses.dataclass(frozen=True)
class Config:
    """A parsed MONITRACE value."""

    options: dict[str, Any]
    output: str | None = None
    report: bool = False
    sort: str = "cumtime"
    limit: int | None = None


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
            if key in ("report", "1", "on"):
                extra["report"] = True
                continue
            raise ValueError(
                f"{item!r} is not key=value nor a known flag (report); "
                f"keys: {', '.join(KEYS)}"
            )
        if key not in KEYS:
            raise ValueError(f"unknown key {key!r}; keys: {', '.join(KEYS)}")
        if not val:
            raise ValueError(f"{key}= needs a value")
        if key in _LIST_KEYS:
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
        elif key == "min_duration":
            options[key] = parse_duration(val)
        elif key == "clock":
            options[key] = val
        elif key == "limit":
            extra[key] = _int(key, val)
        elif key == "report":
            extra[key] = val.lower() in _TRUE
            if val.lower() not in _TRUE + _FALSE:
                raise ValueError(f"report= takes 1 or 0, not {val!r}")
        else:  # output, sort
            extra[key] = val
    options.update({k: tuple(v) for k, v in lists.items()})
    return Config(options=options, **extra)


def _int(key: str, val: str) -> int:
    try:
        return int(val)
    except ValueError:
        raise ValueError(f"{key}= takes a whole number, not {val!r}") from None


def output_path(template: str, pid: int | None = None) -> str:
    """The output file of process `pid` (default: this one)."""
    return template.replace("{pid}", str(os.getpid() if pid is None else pid))


class _Run:
    """The session started from MONITRACE, and its output at exit."""

    def __init__(self, config: Config, session: Any) -> None:
        self.config = config
        self.session = session
        self.pid = os.getpid()
        self.done = False

    def finish(self) -> None:
        if self.done or self.pid != os.getpid():
            return
        self.done = True
        try:
            self.session.stop()
            self.write()
        except Exception as exc:  # never fail the program at exit
            sys.stderr.write(f"monitrace: could not write the MONITRACE output: {exc!r}\n")

    def write(self) -> None:
        cfg = self.config
        if cfg.output is None:
            sys.stderr.write(f"monitrace: pid {os.getpid()} {' '.join(sys.argv)}\n")
            self.session.report(sort=cfg.sort, limit=cfg.limit, file=sys.stderr)
            return
        path = output_path(cfg.output)
        ext = os.path.splitext(path)[1].lower()
        save = getattr(self.session, "save", None)
        if not cfg.report and ext == ".json" and save is None:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(stats_document(self.session), f, indent=1)
        elif not cfg.report and ext not in (".txt", ".log", "") and save is not None:
            save(path)  # formats of Session.save (pstats, Chrome, ...)
        else:
            with open(path, "w", encoding="utf-8") as f:
                self.session.report(sort=cfg.sort, limit=cfg.limit, file=f)

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


def stats_document(session: Any) -> dict[str, Any]:
    """The JSON written for ``output=*.json``: process and per-function
    statistics (times in seconds)."""
    snap = session.snapshot()
    return {
        "pid": os.getpid(),
        "argv": list(sys.argv),
        "total_seconds": snap["total_ns"] / 1e9,
        "functions": [dataclasses.asdict(s) for s in session.stats()],
    }


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
    if not value.strip():
        return False
    try:
        config = parse(value)
        from .api import trace

        session = trace(**config.options)
        if config.output is not None:
            _check_writable(output_path(config.output))
    except (TypeError, ValueError, OSError) as exc:
        sys.stderr.write(
            f"monitrace: ignoring {ENV}={value!r}: {exc}; the program runs untraced\n"
        )
        return False
    try:
        session.start()
    except Exception as exc:
        sys.stderr.write(f"monitrace: {ENV} could not start tracing: {exc}\n")
        return False
    _active = run = _Run(config, session)
    atexit.register(run.finish)
    os.register_at_fork(after_in_child=run.after_fork_in_child)
    return True


def _check_writable(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise OSError(f"output directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK):
        raise OSError(f"output directory {directory!r} is not writable")
