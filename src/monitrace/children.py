"""``trace(subprocesses=True)``: child processes trace themselves and the
parent merges what they wrote.

The parent makes a private directory (mode 0700) and, while the session
runs, sets ``MONITRACE=collect=DIR`` in its environment. Python children
(``subprocess``, multiprocessing "spawn" and "forkserver" workers, and
their own children) start a session from ``monitrace.pth`` with the
parent's options (``DIR/options.json``); a child of ``os.fork()``
(multiprocessing "fork" workers too) drops what its parent recorded and
goes on tracing into data of its own. Each child announces itself
(``PID.start``: pid, parent pid, command line) and, when it ends, writes
``PID.pstats``, ``PID.chrome.json`` (when recording), ``PID.meta.json``
and finally ``PID.json``. It writes at a normal exit (atexit), at
``os._exit()`` (which multiprocessing's fork workers end with: ``os._exit``
is wrapped to write first), and at SIGTERM when the program
left that signal's default action in place (``Pool.__exit__`` terminates
its workers so), through the machinery of
:mod:`monitrace.runs`. A child killed otherwise (SIGKILL) writes
nothing: the parent names it (pid, command) and merges the rest.

When the session stops, the parent reads every finished child, restores
the environment and removes the directory. multiprocessing's helper
processes are not children of interest: the resource tracker is not
traced, and the forkserver process writes nothing of its own (its
children do).
"""

from __future__ import annotations

import dataclasses
import io
import json
import marshal
import os
import shutil
import sys
import tempfile
import warnings
from typing import Any

from . import runs

__all__ = ["ChildLostWarning", "ChildProcess", "ChildRun", "Collector", "adopt_forked"]

OPTIONS_FILE = "options.json"
#: The session options a child takes from its parent (the rest, such as
#: live output or a tool id, belong to the parent's session).
PASSED = (
    "c_calls",
    "clock",
    "include",
    "exclude",
    "stdlib",
    "site_packages",
    "within",
    "exclude_within",
    "max_depth",
    "threads",
    "min_duration",
    "record",
    "args",
    "retval",
    "repr_limit",
)

_HELPERS = {
    "from multiprocessing.resource_tracker import main": "resource_tracker",
    "from multiprocessing.forkserver import main": "forkserver",
}


class ChildLostWarning(RuntimeWarning):
    """A child process wrote no results (killed, or still running when the
    session stopped)."""


@dataclasses.dataclass(frozen=True)
class ChildProcess:
    """A child process the session followed. ``lost``: it wrote no results."""

    pid: int
    ppid: int
    argv: tuple[str, ...]
    lost: bool = False

    @property
    def command(self) -> str:
        return " ".join(self.argv)


@dataclasses.dataclass
class ChildResult:
    info: ChildProcess
    json: dict[str, Any]
    pstats: dict[Any, Any]
    chrome: dict[str, Any] | None
    wall_offset_ns: int | None
    # The child's unmatched include=/within= lines (see Session.unmatched_specs).
    unmatched: list[str]


# ---- the parent's side --------------------------------------------------------


class Collector:
    """The directory children write to and the environment that tells
    them; made when the session starts (errors name ``subprocesses``)."""

    def __init__(self, options: Any) -> None:
        self.pid = os.getpid()
        passed = {name: getattr(options, name) for name in PASSED}
        # Plain data only (JSON, never pickle: a child runs no code from
        # the files it reads), so Q queries cannot be passed.
        try:
            blob = json.dumps(passed, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"subprocesses=True passes the filters to child processes as plain data "
                f"(strings, not Q queries), and these cannot be passed: {exc}"
            ) from None
        self.directory = tempfile.mkdtemp(prefix="monitrace-children-")  # 0700
        if ";" in self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise ValueError(
                f"subprocesses=True: the temporary directory {self.directory!r} has a ';', "
                "which MONITRACE cannot carry; set TMPDIR to another directory"
            )
        try:
            with open(os.path.join(self.directory, OPTIONS_FILE), "xb") as f:
                f.write(blob)
        except OSError:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise
        self.value = f"collect={self.directory}"
        self._saved = os.environ.get(runs.ENV)
        os.environ[runs.ENV] = self.value

    def collect(self) -> tuple[list[ChildResult], list[ChildProcess]]:
        """Restore the environment, read what the children wrote, remove
        the directory. (results, lost children)."""
        if os.environ.get(runs.ENV) == self.value:
            if self._saved is None:
                del os.environ[runs.ENV]
            else:
                os.environ[runs.ENV] = self._saved
        results: list[ChildResult] = []
        lost: list[ChildProcess] = []
        try:
            names = sorted(os.listdir(self.directory))
        except OSError:
            names = []
        for name in names:
            if not name.endswith(".start"):
                continue
            info = _read_start(os.path.join(self.directory, name))
            if info is None:
                continue
            result = _read_result(self.directory, info)
            if result is None:
                lost.append(dataclasses.replace(info, lost=True))
            else:
                results.append(result)
        shutil.rmtree(self.directory, ignore_errors=True)
        results.sort(key=lambda r: r.info.pid)
        return results, lost


def _read_start(path: str) -> ChildProcess | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return ChildProcess(int(data["pid"]), int(data["ppid"]), tuple(data["argv"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read_result(directory: str, info: ChildProcess) -> ChildResult | None:
    base = os.path.join(directory, str(info.pid))
    try:
        # .json is written last: with it, the rest is there too.
        with open(base + ".json", encoding="utf-8") as f:
            doc = json.load(f)
        with open(base + ".pstats", "rb") as f:
            table = marshal.load(f)
        with open(base + ".meta.json", encoding="utf-8") as f:
            meta = json.load(f)
        chrome = None
        if os.path.exists(base + ".chrome.json"):
            with open(base + ".chrome.json", encoding="utf-8") as f:
                chrome = json.load(f)
    except (OSError, ValueError, EOFError, TypeError):
        return None
    doc.pop("events", None)  # the Chrome trace keeps them; they are large
    doc["argv"] = list(info.argv)
    return ChildResult(
        info, doc, table, chrome, meta.get("wall_offset_ns"), list(meta.get("unmatched", ()))
    )


def warn_lost(lost: list[ChildProcess]) -> None:
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    for child in lost:
        warnings.warn(lost_line(child), ChildLostWarning, skip_file_prefixes=(package,))


def lost_line(child: ChildProcess) -> str:
    return (
        f"monitrace: child process {child.pid} ({child.command}) wrote no results "
        "(killed, or still running when tracing stopped): its calls are missing"
    )


# ---- merged views of a session ------------------------------------------------


def _own_json(session: Any) -> dict[str, Any]:
    from .exporters import Source
    from .exporters import json as json_format

    out = io.StringIO()
    json_format.write(Source(snapshot=session.snapshot()), out)
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def merged_json(session: Any, results: list[ChildResult]) -> dict[str, Any]:
    from .merge import merge_json

    return merge_json([_own_json(session)] + [r.json for r in results])


def merged_stats(session: Any, results: list[ChildResult]) -> list[Any]:
    from .saved import from_session_json

    return from_session_json(merged_json(session, results))


def stats_by_process(session: Any, results: list[ChildResult]) -> dict[int, list[Any]]:
    from .saved import from_session_json
    from .report import build_stats

    out = {os.getpid(): build_stats(session.snapshot())}
    for r in results:
        out[r.info.pid] = from_session_json(r.json)
    return out


def save_merged(session: Any, results: list[ChildResult], path: Any, format: str | None) -> str:
    """Session.save for a session with children: the formats that merge
    (json, pstats, chrome, html) hold every process; others this one."""
    from .exporters import Source, resolve_format, save, write_atomic
    from .exporters import chrome as chrome_format
    from .exporters import pstats as pstats_format
    from .merge import dump, merge_chrome, merge_pstats, write_html

    source = Source.of(session)
    chosen = resolve_format(path, format, events=source.events is not None)
    name = os.fspath(path)  # a str: resolve_format() checked it
    gz = name.lower().endswith(".gz")
    if chosen == "json":
        merged: Any = merged_json(session, results)
    elif chosen == "pstats":
        buf = io.BytesIO()
        pstats_format.write(source, buf)
        merged = merge_pstats([marshal.loads(buf.getvalue())] + [r.pstats for r in results])
    elif chosen == "chrome":
        text = io.StringIO()
        chrome_format.write(source, text)
        own = session.record_info().wall_offset_ns
        docs = [json.loads(text.getvalue())]
        shifts = [0.0]
        for r in results:
            if r.chrome is not None:
                docs.append(r.chrome)
                wall = r.wall_offset_ns
                shifts.append(0.0 if wall is None else (wall - own) / 1000)
        merged = merge_chrome(docs, shifts)
    elif chosen == "html":
        write_html("json", merged_json(session, results), name)
        return chosen
    else:
        package = os.path.dirname(os.path.abspath(__file__)) + os.sep
        warnings.warn(
            f"monitrace: the {chosen} format holds this process only; "
            "json, pstats, chrome and html merge the child processes",
            ChildLostWarning,
            skip_file_prefixes=(package,),
        )
        return save(source, path, chosen)
    kind = "chrome" if chosen == "chrome" else chosen
    write_atomic(name, lambda out: dump(kind, merged, out), binary=chosen == "pstats", gz=gz)
    return chosen


# ---- the child's side ---------------------------------------------------------


def helper_process() -> str | None:
    """Which multiprocessing helper process this is, if one."""
    argv = getattr(sys, "orig_argv", sys.argv)
    for n, arg in enumerate(argv[:-1]):
        if arg == "-c":
            for start, name in _HELPERS.items():
                if start in argv[n + 1]:
                    return name
    return None


class ChildRun(runs.Run):
    """A child's session and what it writes into the parent's directory."""

    def __init__(self, directory: str, session: Any, *, announce: bool = True) -> None:
        super().__init__(session, None)
        self.directory = directory
        self.announced = False
        if announce:
            self.announce()

    def announce(self) -> None:
        """Tell the parent this process exists (so it can say if it is lost)."""
        from .exporters import write_atomic

        argv = list(getattr(sys, "orig_argv", sys.argv))
        data = {"pid": os.getpid(), "ppid": os.getppid(), "argv": argv}
        try:
            write_atomic(
                os.path.join(self.directory, f"{os.getpid()}.start"),
                lambda f: json.dump(data, f),
                binary=False,
            )
            self.announced = True
        except OSError:  # the parent stopped collecting: trace for nobody
            self.announced = False

    def _say_unmatched(self) -> None:
        pass  # the parent says it; a child's stderr stays the program's

    def write(self) -> None:
        if not self.announced or not os.path.isdir(self.directory):
            return
        from .exporters import write_atomic

        session = self.session
        base = os.path.join(self.directory, str(os.getpid()))
        session.save(base + ".pstats", "pstats")
        meta: dict[str, Any] = {"pid": os.getpid(), "unmatched": session.unmatched_specs()}
        if session.options.record:
            session.save(base + ".chrome.json", "chrome")
            meta["wall_offset_ns"] = session.record_info().wall_offset_ns
        write_atomic(base + ".meta.json", lambda f: json.dump(meta, f), binary=False)
        session.save(base + ".json", "json")  # last: the parent reads it as "done"

    def after_fork_in_child(self) -> None:
        super().after_fork_in_child()
        self.announce()


def adopt_forked(session: Any, directory: str) -> None:
    """In a child of os.fork() of the collecting process: `session` (the
    parent's, still running, its data already forgotten by Session) goes
    on tracing, and this process writes what it records at its end."""
    active = runs.active
    if isinstance(active, ChildRun) and active.session is session:
        return  # a grandchild: the run's own fork hook carries on
    session.warn_unmatched = False  # a child's stderr stays the program's
    runs.install(ChildRun(directory, session))
