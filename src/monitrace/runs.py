"""A session that belongs to the process rather than to a block of code
(``MONITRACE``, a child of ``subprocesses=True``): it writes its output
when the process ends, by a normal exit, at fork in the child, or by
SIGTERM left at its default action. Used by :mod:`monitrace.autostart`
and :mod:`monitrace.children`; it starts no session itself."""

from __future__ import annotations

import atexit
import functools
import os
import signal
import sys
from typing import Any

#: The environment variable that starts whole-program tracing.
ENV = "MONITRACE"


def output_path(template: str, pid: int | None = None) -> str:
    """The output file of process `pid` (default: this one)."""
    return template.replace("{pid}", str(os.getpid() if pid is None else pid))


class Run:
    """The session started from MONITRACE, and its output at exit."""

    def __init__(
        self,
        session: Any,
        output: tuple[str, str] | None = None,
        *,
        sort: str | None = None,
        limit: int | None = None,
    ) -> None:
        self.sort = sort
        self.limit = limit
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
            die_by(self.pending_signal)

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
        if not self.session.options.profile:
            return  # breakpoints alone: nothing was measured
        if self.output is None:
            sys.stderr.write(f"monitrace: pid {os.getpid()} {' '.join(sys.argv)}\n")
            from .exporters.output import write_report

            write_report(self.session, sys.stderr, sort=self.sort, limit=self.limit or None)
            return
        from .exporters.output import OutputPlan

        template, format = self.output
        OutputPlan(output_path(template), format).write(
            self.session, sort=self.sort, limit=self.limit or None
        )

    def after_fork_in_child(self) -> None:
        """A forked child writes output of its own. The session itself
        (``fork="continue"``) already goes on tracing the child into fresh
        data: Session decides that for every session, this only keeps the
        process's bookkeeping."""
        try:
            self.pid = os.getpid()
            self.done = False
            hook_multiprocessing(self)
            if signal.getsignal(signal.SIGTERM) is on_sigterm:
                route_sigterm()  # the parent's retry timer stayed behind
        except Exception as exc:
            sys.stderr.write(f"monitrace: could not set up the output after fork: {exc!r}\n")


def hook_multiprocessing(run: Run) -> None:
    # multiprocessing's fork children end with os._exit(), skipping atexit;
    # they run the finalizers registered after their own clean-up, though.
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util.register_after_fork(run, lambda r: util.Finalize(None, r.finish, exitpriority=-100))


#: The process's run, if any.
active: Run | None = None


def install(run: Run) -> None:
    """Make `run` the process's: it writes at exit (also at os._exit,
    which skips atexit and which multiprocessing's fork workers and many
    forking programs end their children with), carries on in forked
    children and writes at SIGTERM."""
    global active
    active = run
    atexit.register(run.finish)
    os.register_at_fork(after_in_child=run.after_fork_in_child)
    catch_sigterm()
    wrap_os_exit()


_real_exit: Any = None


def wrap_os_exit() -> None:
    """Have os._exit write the process's run first (once per process)."""
    global _real_exit
    if _real_exit is not None:
        return
    _real_exit = real = os._exit

    @functools.wraps(real)
    def _exit(status: int) -> Any:
        run = active
        if run is not None:
            try:
                run.finish()
            except BaseException:  # the exit must happen whatever
                pass
        real(status)

    os._exit = _exit


def catch_sigterm() -> None:
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
        signal.signal(signal.SIGTERM, on_sigterm)
    except (ValueError, OSError, AttributeError):  # not the main thread, no SIGTERM
        return
    route_sigterm()


def route_sigterm() -> None:
    from . import _core

    try:
        _core.route_signal(signal.SIGTERM)
    except OSError:  # the handler still runs when the main thread checks
        pass


def on_sigterm(signum: int, frame: Any) -> None:
    from . import _core

    run = active
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
    die_by(signum)


def die_by(signum: int) -> None:
    """End the process as the signal's default action would have: the
    parent sees the same wait status as without tracing, and buffered
    output the program never flushed is lost as it would have been."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
