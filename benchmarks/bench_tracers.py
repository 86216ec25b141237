"""The tracers the benchmark compares, each behind the same small
interface: `begin()` starts tracing, `end()` stops it. A tracer that is not
available here (a peer not installed, a monitrace option not built yet)
says why in `unavailable` and is skipped with that note; one that breaks
while running is dropped from the rest of the run with the error as its
note. Nothing here ever fails the benchmark."""

from __future__ import annotations

import atexit
import cProfile
import dataclasses
import os
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

import monitrace
import monitrace._core


def _noop_profile(frame: Any, event: str, arg: Any) -> None:
    return None


def _noop_trace(frame: Any, event: str, arg: Any) -> None:
    # Returning None asks for no local (line) events: the cheapest settrace.
    return None


def _option_names() -> set[str]:
    return {f.name for f in dataclasses.fields(monitrace.Options)}


def _devnull() -> Any:
    return open(os.devnull, "w")  # noqa: SIM115 - closed at exit


class Tracer:
    """One way of tracing the workload. Subclasses set `name`, `label` and
    override `begin`/`end`. `warmup` asks for an untimed run before the
    timed one; tracers that cost 100 times the run itself skip it, as the
    first-run costs it hides are noise for them."""

    name = ""
    label = ""
    peer = False
    warmup = True

    def __init__(self) -> None:
        self.unavailable: str | None = self.check()

    def check(self) -> str | None:
        """None when usable here, else the reason to skip."""
        return None

    def begin(self) -> None:
        pass

    def finish(self) -> None:
        """Right after the timed run, and timed with it (saving a trace)."""

    def end(self) -> None:
        pass


def _tmp_path(suffix: str) -> str:
    import tempfile

    fd, path = tempfile.mkstemp(prefix="monitrace-bench-", suffix=suffix)
    os.close(fd)
    atexit.register(_remove, path)
    return path


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class Untraced(Tracer):
    name, label = "untraced", "untraced (baseline)"


class SetprofileNoop(Tracer):
    name, label = "setprofile", "sys.setprofile, Python no-op"

    def begin(self) -> None:
        threading.setprofile_all_threads(_noop_profile)

    def end(self) -> None:
        threading.setprofile_all_threads(None)


class SettraceNoop(Tracer):
    name, label = "settrace", "sys.settrace, Python no-op (no line events)"

    def begin(self) -> None:
        threading.settrace_all_threads(_noop_trace)

    def end(self) -> None:
        threading.settrace_all_threads(None)


class CProfile(Tracer):
    name, label = "cprofile", "cProfile"

    def begin(self) -> None:
        self.prof = cProfile.Profile()
        self.prof.enable()

    def end(self) -> None:
        self.prof.disable()
        del self.prof


class MonitraceSession(Tracer):
    """monitrace through its public API, with `options`."""

    options: dict[str, Any] = {}
    needs: tuple[str, ...] = ()

    def check(self) -> str | None:
        missing = [n for n in self.needs if n not in _option_names()]
        if missing:
            return f"trace() has no {', '.join(missing)} option in this build yet"
        try:
            monitrace.trace(**self.make_options())
        except Exception as exc:  # an option this build rejects
            return f"trace({self.make_options()}) failed: {exc}"
        return None

    def make_options(self) -> dict[str, Any]:
        return dict(self.options)

    def begin(self) -> None:
        self.session = monitrace.trace(**self.make_options())
        self.session.start()

    def end(self) -> None:
        self.session.stop()
        del self.session


class MonitraceStats(MonitraceSession):
    name, label = "monitrace", "monitrace stats mode"


class MonitraceRecord(MonitraceSession):
    name, label = "record", "monitrace record mode"
    needs = ("record",)
    # Room for every event of the largest workload, warm-up run included
    # (record=True keeps 1 million events, then counts the rest as dropped,
    # which is cheaper and would flatter the row).
    options = {"record": 4_000_000}


class MonitraceLive(MonitraceSession):
    name, label = "live", "monitrace live tree to /dev/null"
    needs = ("live",)

    def make_options(self) -> dict[str, Any]:
        if not hasattr(self, "_sink"):
            self._sink = _devnull()
        return {"live": True, "file": self._sink}


class MonitraceLiveFile(MonitraceSession):
    name, label = "live-file", "monitrace live tree to a file"
    needs = ("live",)

    def make_options(self) -> dict[str, Any]:
        if not hasattr(self, "_sink"):
            self._path = _tmp_path(".txt")
            self._sink = open(self._path, "w", encoding="utf-8")  # noqa: SIM115
        self._sink.seek(0)
        self._sink.truncate()
        return {"live": True, "file": self._sink}


class MonitraceSave(MonitraceSession):
    """Record mode, then (timed) stop and write the trace: the whole
    cost of getting a file, as a user pays it."""

    needs = ("record",)
    options = {"record": 4_000_000}
    warmup = False  # the warm-up run's events would be saved too
    suffix = ".json"

    def finish(self) -> None:
        self.session.stop()
        if not hasattr(self, "_path"):
            self._path = _tmp_path(self.suffix)
        self.write()

    def write(self) -> None:
        self.session.save(self._path)


class MonitraceChromeSave(MonitraceSave):
    name, label = "chrome-save", "monitrace record + save Chrome .json"


class MonitraceCollapsedSave(MonitraceSave):
    name, label = "collapsed-save", "monitrace record + save .folded"
    suffix = ".folded"


class MonitraceTreeText(MonitraceSave):
    name, label = "tree-text", "monitrace record + tree() text"

    def write(self) -> None:
        self.session.tree()


class MonitraceFiltered(Tracer):
    """Every function excluded: with issue 4's options when this build has
    them, else a core tracer whose filter says no to everything."""

    name = "filtered"

    def check(self) -> str | None:
        self.use_options = "include" in _option_names()
        self.label = "monitrace, everything filtered out " + (
            "(include= nothing)" if self.use_options else "(core filter)"
        )
        if self.use_options:
            try:
                monitrace.trace(include=["monitrace_bench_no_such_module"])
            except Exception as exc:
                self.use_options = False
                self.label += f" [include= rejected: {exc}]"
        return None

    def begin(self) -> None:
        if self.use_options:
            self.session = monitrace.trace(include=["monitrace_bench_no_such_module"])
            self.session.start()
        else:
            self.core = monitrace._core.Tracer(filter=lambda key: False)
            self.core.start()

    def end(self) -> None:
        if self.use_options:
            with warnings.catch_warnings():
                # The include matches nothing on purpose.
                warnings.simplefilter("ignore", monitrace.UnmatchedSpecWarning)
                self.session.stop()
            del self.session
        else:
            self.core.stop()
            del self.core


class Pyftrace(Tracer):
    name, label = "pyftrace", "pyftrace (tree to /dev/null)"
    peer = True
    warmup = False

    def check(self) -> str | None:
        try:
            import pyftrace.tracer  # noqa: F401
        except Exception as exc:
            return f"pyftrace not installed ({type(exc).__name__})"
        return None

    def begin(self) -> None:
        from pyftrace.tracer import get_tracer

        self.sink = _devnull()
        self.tracer = get_tracer(output_stream=self.sink)
        self.tracer.setup_tracing()
        self.tracer.tracing_started = True

    def end(self) -> None:
        # pyftrace's own cleanup only frees the tool id, which on 3.12 and
        # 3.13 leaves its callbacks firing: clear them first.
        mon = sys.monitoring
        tool = self.tracer.tool_id
        mon.set_events(tool, 0)
        for ev in (mon.events.CALL, mon.events.PY_RETURN, mon.events.C_RETURN, mon.events.C_RAISE):
            mon.register_callback(tool, ev, None)
        mon.free_tool_id(tool)
        self.sink.close()
        del self.tracer


class Hunter(Tracer):
    name, label = "hunter", "hunter (profile mode, CallPrinter to /dev/null)"
    peer = True
    warmup = False

    def check(self) -> str | None:
        try:
            import hunter  # noqa: F401
        except Exception as exc:
            return f"hunter not installed ({type(exc).__name__})"
        return None

    def begin(self) -> None:
        import hunter

        self.sink = _devnull()
        self.tracer = hunter.trace(
            kind_in=("call", "return"),
            action=hunter.CallPrinter(stream=self.sink),
            profile=True,
        )

    def end(self) -> None:
        self.tracer.stop()
        self.sink.close()
        del self.tracer


class VizTracer(Tracer):
    name, label = "viztracer", "viztracer (in-memory ring buffer, not saved)"
    peer = True

    def check(self) -> str | None:
        try:
            import viztracer  # noqa: F401
        except Exception as exc:
            return f"viztracer not installed ({type(exc).__name__})"
        return None

    def begin(self) -> None:
        if not hasattr(self, "tracer"):
            from viztracer import VizTracer as Viz

            self.tracer = Viz(verbose=0, register_global=False)
        self.tracer.start()

    def end(self) -> None:
        self.tracer.stop()
        self.tracer.clear()


class VizTracerSave(Tracer):
    name, label = "viztracer-save", "viztracer + save Chrome .json"
    peer = True
    warmup = False

    def check(self) -> str | None:
        return VizTracer.check(self)  # type: ignore[arg-type]

    def begin(self) -> None:
        from viztracer import VizTracer as Viz

        self.tracer = Viz(verbose=0, register_global=False)
        self.tracer.start()

    def finish(self) -> None:
        self.tracer.stop()
        if not hasattr(self, "_path"):
            self._path = _tmp_path(".json")
        self.tracer.save(self._path)

    def end(self) -> None:
        self.tracer.stop()
        self.tracer.clear()
        del self.tracer


ALL: list[Callable[[], Tracer]] = [
    Untraced,
    SetprofileNoop,
    SettraceNoop,
    CProfile,
    MonitraceStats,
    MonitraceRecord,
    MonitraceLive,
    MonitraceLiveFile,
    MonitraceFiltered,
    MonitraceChromeSave,
    MonitraceCollapsedSave,
    MonitraceTreeText,
    Pyftrace,
    Hunter,
    VizTracer,
    VizTracerSave,
]
