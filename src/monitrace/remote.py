"""The traced process's side of ``monitrace attach``, and tracing on a signal.

An attacher (``monitrace attach PID``, see :mod:`monitrace.attach`) makes a
private directory (mode 0700, owned by the target's user) holding a request
(``request.json``) and two FIFOs, then gets the target to call :func:`run`
with the request's path: through ``sys.remote_exec`` (3.14+), a debugger
(3.12, 3.13) or a signal handler set by :func:`install`.

:func:`run` only claims the request and starts a daemon thread; that thread
starts the session, answers on the ``ack`` FIFO, and blocks reading the
``ctl`` FIFO, which the attacher holds open for writing. ``stop`` on it
stops the session and saves the results into the private directory; an end
of file (the attacher went away) stops the session and saves nothing.
Either way the tool id is freed and the thread ends: nothing of monitrace
keeps running in the target, and the target's output is never written to.

:func:`install` sets a signal handler (``MONITRACE="signal=USR1;..."`` does
it at start): the signal starts a session, the next one stops it and writes
the output; when an attacher has left a request for this process in
:func:`rendezvous_dir`, the signal serves that request instead.
"""

from __future__ import annotations

import json
import os
import signal as _signal
import stat
import sys
import threading
from typing import Any

#: The request format an attacher and a target must share.
PROTOCOL = 1
REQUEST = "request.json"
CTL = "ctl"
ACK = "ack"

_lock = threading.Lock()
_busy = False  # an attach session is running in this process


def run(request_path: str) -> None:
    """Serve the attach request at `request_path`. Called in the target by
    the injected bootstrap; returns at once and never raises. A request
    that is gone (taken already, or given up by its attacher) is a no-op."""
    try:
        _run(request_path)
    except Exception:  # ours: never into the target's code (its own
        pass  # KeyboardInterrupt, say, goes on)


def _run(request_path: str) -> None:
    global _busy
    taken = request_path + ".taken"
    try:
        os.rename(request_path, taken)  # exactly one caller gets it
    except OSError:
        return
    with open(taken, encoding="utf-8") as f:
        request = json.load(f)
    try:
        ack = os.open(request["ack"], os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # the attacher is gone
        return
    try:
        if request.get("protocol") != PROTOCOL:
            raise _Refused(
                f"the target's monitrace {_version()} speaks attach protocol "
                f"{PROTOCOL}, the attacher {request.get('protocol')!r}: use the "
                "same monitrace version on both sides"
            )
        with _lock:
            if _busy:
                raise _Refused("another monitrace attach is tracing this process")
            _busy = True
    except _Refused as exc:
        _send(ack, {"event": "error", "kind": "busy", "error": str(exc)})
        os.close(ack)
        return
    thread = threading.Thread(
        target=_serve, args=(request, ack), name="monitrace-attach", daemon=True
    )
    try:
        thread.start()
    except BaseException:
        _release()
        os.close(ack)
        raise


class _Refused(Exception):
    pass


def _version() -> str:
    from ._version import __version__

    return str(__version__)


def _release() -> None:
    global _busy
    with _lock:
        _busy = False


def _send(fd: int, message: dict[str, Any]) -> None:
    """One JSON line to the attacher; a gone attacher is not an error."""
    data = (json.dumps(message) + "\n").encode()
    try:
        os.write(fd, data)
    except OSError:
        pass


def _serve(request: dict[str, Any], ack: int) -> None:
    """The control thread: trace until the attacher says stop or leaves."""
    ctl = -1
    try:
        # Opened before anything starts, without blocking: the attacher
        # holds its end open, and if it is gone already the first read
        # says so (end of file) instead of an open that waits forever.
        ctl = os.open(request["ctl"], os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        os.set_blocking(ctl, True)
        session = _start(request, ack)
        if session is None:
            return
        told = _wait_for_stop(ctl)
        tool = session.tool_id
        session.stop()
        done: dict[str, Any] = {
            "event": "done",
            "stopped": told,
            "tool_id": tool,
            "tool_free": tool is None or sys.monitoring.get_tool(tool) is None,
            "errors": session.errors,
            "unmatched": session.unmatched_specs({"include": "--include", "within": "--within"}),
        }
        if told:
            done["written"], done["failed"] = _write_outputs(session, request)
        _send(ack, done)
    except Exception as exc:  # said to the attacher
        _send(ack, {"event": "error", "kind": "internal", "error": f"{exc!r}"})
    finally:
        if ctl >= 0:
            os.close(ctl)
        os.close(ack)
        _release()


def _start(request: dict[str, Any], ack: int) -> Any:
    """Start the session the request asks for, in this thread, which it
    then does not trace. None (said on `ack`) when it cannot start."""
    from .api import trace

    try:
        session = trace(**request["options"])
        session.warn_unmatched = False  # the attacher says it
        session.start()
    except Exception as exc:
        _send(ack, {"event": "error", "kind": "start", "error": str(exc)})
        return None
    try:
        session.ignore_thread()
    except RuntimeError:
        pass
    _send(
        ack,
        {
            "event": "started",
            "pid": os.getpid(),
            "tool_id": session.tool_id,
            "python": "%d.%d.%d" % sys.version_info[:3],
            "monitrace": _version(),
        },
    )
    return session


def _wait_for_stop(fd: int) -> bool:
    """Block on the ctl FIFO: True for ``stop``, False for end of file."""
    data = b""
    while True:
        chunk = os.read(fd, 64)
        if not chunk:
            return False
        data += chunk
        if b"stop\n" in data:
            return True


def _write_outputs(session: Any, request: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Write each requested output into the private directory: the text
    report, or a Session.save() format. (written paths, failure lines)."""
    from .exporters.output import OutputPlan

    written: list[str] = []
    failed: list[str] = []
    for out in request["outputs"]:
        path = out["path"]
        try:
            OutputPlan(path, out["format"]).write(session)
        except (OSError, ValueError) as exc:
            failed.append(f"{os.path.basename(path)}: {exc}")
        else:
            written.append(path)
    return written, failed


# ---- tracing on a signal ----------------------------------------------------


def rendezvous_dir(uid: int | None = None) -> str:
    """Where ``monitrace attach --signal`` leaves a request for a process
    of user `uid` (default: this one): ``monitrace-<uid>`` in the temporary
    directory, a directory of that user's with mode 0700."""
    import tempfile

    uid = os.getuid() if uid is None else uid
    return os.path.join(tempfile.gettempdir(), f"monitrace-{uid}")


def signal_request_path(pid: int, uid: int | None = None) -> str:
    return os.path.join(rendezvous_dir(uid), f"attach-{pid}.json")


def check_private_dir(path: str, uid: int) -> None:
    """Raise PermissionError unless `path` is a real directory (not a
    link) owned by `uid` that nobody else may write into or read."""
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o077:
        raise PermissionError(
            f"{path} is not a private directory of user {uid} (mode 0700): remove it and try again"
        )


class _SignalToggle:
    """What install() leaves behind: a handler that starts a session on the
    signal and stops and writes it on the next one."""

    def __init__(
        self, signum: int, options: dict[str, Any], output: str | None, previous: Any
    ) -> None:
        self.signum = signum
        self.options = options
        self.output = output
        self.previous = previous
        self.session: Any = None

    def __call__(self, signum: int, frame: Any) -> None:
        from . import _core

        _core.signal_taken(signum)  # the core stops re-sending it
        path = signal_request_path(os.getpid())
        if os.path.exists(path):
            # The attacher checked the directory; check it again here.
            try:
                check_private_dir(os.path.dirname(path), os.getuid())
            except OSError:
                return
            run(path)
            return
        self._toggle()

    def _toggle(self) -> None:
        try:
            if self.session is None or not self.session.running:
                from .api import trace

                self.session = trace(**self.options)
                self.session.start()
                return
            try:
                self.session.stop()
            except RuntimeError:
                # Inside monitrace's own code run from a tracer callback,
                # where a session cannot stop: again once it has returned.
                from . import _core

                _core.signal_later(self.signum)
                return
            session, self.session = self.session, None
            _write_toggle_output(session, self.output)
        except (OSError, ValueError, TypeError, RuntimeError) as exc:
            # Ours, said, and not the program's business. Anything else
            # (the program's own exception from a nested handler) goes on.
            try:
                sys.stderr.write(f"monitrace: signal {self.signum}: {exc}\n")
            except OSError:
                pass

    def finish(self) -> None:
        """At exit: a session still running writes its output too."""
        session, self.session = self.session, None
        if session is not None and session.running:
            session.stop()
            _write_toggle_output(session, self.output)


def _write_toggle_output(session: Any, output: str | None) -> None:
    if output is None:
        sys.stderr.write(f"monitrace: pid {os.getpid()}: traced until the signal\n")
        session.report(file=sys.stderr)
        return
    from .exporters.output import OutputPlan, choose_format

    path = output.replace("{pid}", str(os.getpid()))
    format, _ = choose_format(path, recording=bool(session.options.record))
    OutputPlan(path, format).write(session)
    sys.stderr.write(f"monitrace: pid {os.getpid()}: wrote {path}\n")


_installed: _SignalToggle | None = None


def install(
    signal: int | str = _signal.SIGUSR1, *, output: str | None = None, **options: Any
) -> None:
    """Trace this process on a signal, with no debugger: the first `signal`
    starts a session with `options` (trace()'s), the next stops it and
    writes `output` (the report for ``.txt`` or no extension, else the
    format its extension names; ``{pid}`` is the process id; default: the
    report on stderr), and so on. ``monitrace attach --signal PID`` uses
    the same handler. Call it from the main thread; a bad option or signal
    raises here, at once."""
    global _installed
    import atexit

    from .options import options_from

    signum = parse_signal(signal)
    options_from(dict(options))  # every bad value fails now, naming the option
    if output is not None:
        from .exporters.output import plan_output

        plan_output(
            os.path.abspath(output.replace("{pid}", str(os.getpid()))),
            recording=bool(options.get("record")),
        )
        output = os.path.abspath(output)
    previous = _signal.getsignal(signum)
    toggle = _SignalToggle(signum, dict(options), output, previous)
    _signal.signal(signum, toggle)
    # Python runs the handler in the main thread only; one blocked in a
    # system call would not notice a signal the kernel gave another
    # thread. The core passes it on until the handler has run.
    from . import _core

    try:
        _core.route_signal(signum)
    except OSError:
        pass
    if _installed is None:
        atexit.register(_finish_installed)
    _installed = toggle


def _finish_installed() -> None:
    if _installed is not None:
        try:
            _installed.finish()
        except Exception as exc:
            sys.stderr.write(f"monitrace: could not write the signal session: {exc}\n")


def parse_signal(value: int | str) -> int:
    """A signal number from ``SIGUSR1``, ``USR1``, ``usr1`` or a number;
    ValueError naming the value otherwise. SIGKILL and SIGSTOP cannot be
    caught; SIGINT is the program's."""
    if isinstance(value, bool):
        raise ValueError(f"signal must be a signal name or number, not {value!r}")
    if isinstance(value, int):
        try:
            signum = _signal.Signals(value)
        except ValueError:
            raise ValueError(f"signal: {value} is not a signal number") from None
    elif isinstance(value, str):
        name = value.strip().upper()
        if name.isdigit():
            return parse_signal(int(name))
        if not name.startswith("SIG"):
            name = "SIG" + name
        try:
            signum = _signal.Signals[name]
        except KeyError:
            raise ValueError(f"signal: unknown signal {value!r} (e.g. USR1, USR2)") from None
    else:
        raise ValueError(f"signal must be a signal name or number, not {value!r}")
    if signum in (_signal.SIGKILL, _signal.SIGSTOP, _signal.SIGINT):
        raise ValueError(f"signal: {signum.name} cannot be used (e.g. USR1, USR2)")
    return int(signum)
