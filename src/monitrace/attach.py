"""``monitrace attach PID``: trace a process that is already running.

The attacher checks the target (it exists, is ours to trace, runs Python
3.12+), makes a private directory (0700) with a request and two FIFOs
(see :mod:`monitrace.remote`), and gets the target to run a tiny
bootstrap that imports ``monitrace.remote`` and calls ``run(request)``:

- 3.14+: ``sys.remote_exec`` (PEP 768), which the target's main thread
  runs when it next executes Python code;
- 3.12, 3.13: gdb, calling ``PyRun_SimpleString`` between
  ``PyGILState_Ensure`` and ``PyGILState_Release`` in a thread that is
  blocked in a system call with the GIL released (a consistent state),
  else through ``Py_AddPendingCall`` (the main thread's next bytecode);
- ``--signal``: the handler of ``monitrace.remote.install()``.

The target answers on the ``ack`` FIFO ("started", later "done"); the
attacher says ``stop`` on the ``ctl`` FIFO after the duration or at
Ctrl-C, then prints the report or moves the file written in the private
directory to where ``-o`` asked, atomically (``write_atomic``).
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from . import remote
from .exporters import SUFFIXES, write_atomic
from .exporters.output import plan_output
from .filter_args import add_filter_arguments, filter_options_from_args, parse_duration

USAGE = "monitrace attach [options] PID"
#: How long the target may take to answer the injection before we give up.
START_TIMEOUT = 30.0


class AttachError(Exception):
    """Why the attach cannot go on: one line, said as is."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitrace attach",
        usage=USAGE,
        description=(
            "Trace a running Python (3.12+) process without restarting it: start "
            "a session inside it, trace for --duration seconds or until Ctrl-C, "
            "then print the report here or write -o FILE. Uses sys.remote_exec "
            "on 3.14+, gdb on 3.12/3.13 (ptrace must be permitted), or with "
            "--signal a handler the target set with monitrace.remote.install() "
            "or MONITRACE='signal=USR1'. The target must be able to import "
            "monitrace (the same environment)."
        ),
    )
    parser.add_argument("pid", metavar="PID", help="the process to trace")
    parser.add_argument(
        "--duration",
        metavar="SECONDS",
        type=_positive_duration,
        help="trace this long (e.g. 10, 500ms); default: until Ctrl-C",
    )
    parser.add_argument(
        "--signal",
        action="store_true",
        help="ask the target through its monitrace.remote.install() "
        "signal handler instead of a debugger",
    )
    parser.add_argument(
        "--signal-name",
        metavar="NAME",
        default="USR1",
        help="the signal the target installed (default: USR1)",
    )
    show = parser.add_argument_group("what to record")
    show.add_argument("--c-calls", action="store_true", help="time C functions too")
    show.add_argument(
        "--record",
        action="store_true",
        help="record events (for .json Chrome traces and .folded stacks; "
        "implied by those -o formats)",
    )
    show.add_argument(
        "--args", action="store_true", help="record argument values (implies --record)"
    )
    show.add_argument(
        "--retval",
        action="store_true",
        help="record return values and exceptions (implies --record)",
    )
    out = parser.add_argument_group("output (default: the report, printed on stdout)")
    out.add_argument("--report", action="store_true", help="print the profile table (the default)")
    out.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write FILE instead: the report for .txt, else the format its extension "
        f"names ({', '.join(SUFFIXES)}, optionally .gz; .json: a Chrome/Perfetto trace)",
    )
    out.add_argument(
        "--format",
        choices=sorted(set(SUFFIXES.values())),
        help="the format of -o FILE, whatever its extension",
    )
    add_filter_arguments(parser)
    return parser


def _positive_duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not 0 < seconds < 10**9:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text!r}")
    return seconds


# ---- what the user asked for ----------------------------------------------


class Plan:
    """The parsed, checked command line."""

    def __init__(
        self,
        pid: int,
        options: dict[str, Any],
        output: str | None,
        format: str,
        duration: float | None,
        use_signal: int | None,
    ) -> None:
        self.pid = pid
        self.options = options
        self.output = output  # absolute path, or None: the report on stdout
        self.format = format  # "report" or a Session.save() format
        self.duration = duration
        self.use_signal = use_signal

    @property
    def suffix(self) -> str:
        """The file name the target writes in the private directory."""
        if self.output is None:
            return "report.txt"
        name = os.path.basename(self.output)
        gz = name.lower().endswith(".gz")
        ext = os.path.splitext(name[:-3] if gz else name)[1]
        return "result" + (ext or ".txt") + (".gz" if gz else "")


def make_plan(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> Plan:
    try:
        pid = int(ns.pid)
    except ValueError:
        parser.error(f"PID must be a process id (a whole number), not {ns.pid!r}")
    if pid <= 0:
        parser.error(f"PID must be a positive process id, not {pid}")
    record = bool(ns.record or ns.args or ns.retval)
    fmt = "report"
    output = None
    if ns.output is not None:
        try:
            plan = plan_output(ns.output, ns.format, recording=True if record else None)
        except OSError as exc:
            parser.error(
                f"argument -o/--output: cannot write {ns.output!r}: "
                f"{(exc.strerror or str(exc)).removeprefix('cannot write the trace: ')}"
            )
        except ValueError as exc:
            parser.error(f"argument -o/--output: {exc}")
        assert plan is not None
        output, fmt, record = plan.path, plan.format, plan.record
    elif ns.format is not None:
        parser.error("--format needs -o FILE")
    options: dict[str, Any] = dict(c_calls=ns.c_calls)
    if record:
        options.update(record=True, args=ns.args, retval=ns.retval)
    options.update(filter_options_from_args(ns))
    from .options import options_from

    try:
        options_from(dict(options))
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    use_signal = None
    if ns.signal:
        try:
            use_signal = remote.parse_signal(ns.signal_name)
        except ValueError as exc:
            parser.error(f"argument --signal-name: {exc}")
    # Lists are what JSON carries; trace() takes them as tuples again.
    options = {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}
    return Plan(pid, options, output, fmt, ns.duration, use_signal)


# ---- the target -------------------------------------------------------------


class Target:
    """What /proc says about the process: who owns it, which Python."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
                status = f.read()
        except FileNotFoundError:
            raise AttachError(f"no process with PID {pid}") from None
        except OSError as exc:
            raise AttachError(f"cannot read process {pid}: {exc.strerror}") from None
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        self.name = fields.get("Name", "?").strip()
        self.uid = int(fields.get("Uid", "0").split()[1])  # effective
        self.caught = int(fields.get("SigCgt", "0").strip() or "0", 16)
        if fields.get("State", "").startswith("Z"):
            raise AttachError(f"process {pid} ({self.name}) has exited (a zombie)")
        self.version = self._python_version()

    def owner(self) -> str:
        try:
            return f"{pwd.getpwuid(self.uid).pw_name} (uid {self.uid})"
        except KeyError:
            return f"uid {self.uid}"

    def _python_version(self) -> tuple[int, int] | None:
        """(major, minor) of the Python the process runs (its executable or
        a mapped libpython), None when it runs none."""
        found: list[str] = []
        try:
            found.append(os.path.basename(os.readlink(f"/proc/{self.pid}/exe")))
        except OSError:
            pass
        try:
            with open(f"/proc/{self.pid}/maps", encoding="utf-8", errors="replace") as f:
                found.extend(line.rsplit("/", 1)[-1] for line in f if "python" in line)
        except OSError:
            pass
        for name in found:
            m = re.match(r"(?:lib)?python(\d+)\.(\d+)", name)
            if m:
                return int(m.group(1)), int(m.group(2))
        return None

    @property
    def alive(self) -> bool:
        try:
            with open(f"/proc/{self.pid}/stat", encoding="utf-8", errors="replace") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state not in ("Z", "X")


def check_target(target: Target, plan: Plan) -> None:
    """Refuse what cannot work, before anything is done to the target."""
    pid = target.pid
    if os.geteuid() != 0 and target.uid != os.geteuid():
        raise AttachError(
            f"process {pid} belongs to {target.owner()}, not to you: run monitrace "
            "as that user (or as root)"
        )
    if target.version is None:
        raise AttachError(f"process {pid} ({target.name}) is not a Python process")
    if target.version < (3, 12):
        raise AttachError(
            f"process {pid} ({target.name}) runs Python "
            f"{target.version[0]}.{target.version[1]}; monitrace needs 3.12 or newer"
        )
    if plan.use_signal is not None:
        if not target.caught & (1 << (plan.use_signal - 1)):
            name = signal.Signals(plan.use_signal).name
            raise AttachError(
                f"process {pid} does not handle {name}, which would end it: start it "
                f"with MONITRACE='signal={name[3:]}' or have it call "
                f"monitrace.remote.install(signal=signal.{name})"
            )
        return
    _check_ptrace(target)
    if target.version < (3, 14) and shutil.which("gdb") is None:
        raise AttachError(
            f"process {pid} runs Python {target.version[0]}.{target.version[1]}, where "
            "attaching needs gdb, and gdb is not installed: install it (apt-get install "
            "gdb), or start the target with MONITRACE='signal=USR1' and use attach --signal"
        )


def _ptrace_fix() -> str:
    return (
        "run monitrace as the target's user or as root, allow it with "
        "`sysctl kernel.yama.ptrace_scope=0`, or in a container add "
        "`--cap-add SYS_PTRACE`; or use --signal with a target that called "
        "monitrace.remote.install()"
    )


def _yama_scope() -> int | None:
    """kernel.yama.ptrace_scope, None without Yama."""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope", encoding="ascii") as f:
            return int(f.read().strip() or "0")
    except (OSError, ValueError):
        return None


def _check_ptrace(target: Target) -> None:
    scope = _yama_scope()
    if scope is None:
        return  # no Yama: the usual same-user rules apply
    if scope == 3:
        raise AttachError(
            f"cannot attach to process {target.pid}: kernel.yama.ptrace_scope is 3 "
            "(no process may be traced until reboot); use --signal with a target "
            "that called monitrace.remote.install()"
        )
    if scope >= 1 and os.geteuid() != 0:
        raise AttachError(
            f"cannot attach to process {target.pid}: kernel.yama.ptrace_scope is "
            f"{scope}, which lets only {'root' if scope == 2 else 'a parent'} trace "
            f"it: {_ptrace_fix()}"
        )


def _ptrace_denied(pid: int, detail: str) -> AttachError:
    return AttachError(
        f"cannot attach to process {pid}: ptrace is not permitted ({detail}): {_ptrace_fix()}"
    )


# ---- the private directory --------------------------------------------------


class Channel:
    """The private directory and the two FIFOs, from the attacher's end."""

    def __init__(self, target: Target, plan: Plan) -> None:
        self.dir = tempfile.mkdtemp(prefix=f"monitrace-attach-{target.pid}-")
        self.keep_bootstrap = False
        self.ack_fd = self.ctl_fd = -1
        self.interrupted = False
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            self.request = os.path.join(self.dir, remote.REQUEST)
            self.ctl = os.path.join(self.dir, remote.CTL)
            self.ack = os.path.join(self.dir, remote.ACK)
            self.result = os.path.join(self.dir, plan.suffix)
            os.mkfifo(self.ctl, 0o600)
            os.mkfifo(self.ack, 0o600)
            # Ours before the target may write: no writer ever blocks.
            self.ack_fd = os.open(self.ack, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            self.ctl_fd = os.open(self.ctl, os.O_RDWR | os.O_CLOEXEC)
            request = {
                "protocol": remote.PROTOCOL,
                "options": plan.options,
                "outputs": [{"path": self.result, "format": plan.format}],
                "ctl": self.ctl,
                "ack": self.ack,
            }
            fd = os.open(self.request, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(request, f)
            self.give_to(target.uid, self.dir, self.ctl, self.ack, self.request)
        except BaseException:
            self.close()
            raise
        self._buffer = b""

    @staticmethod
    def give_to(uid: int, *paths: str) -> None:
        """Root attaching to another user's process: the directory stays
        0700, but the target's user must own it to write its results."""
        if os.geteuid() == 0 and uid != 0:
            for path in paths:
                os.chown(path, uid, -1)

    def bootstrap(self, request: str | None = None) -> str:
        """The Python source the target runs: import monitrace.remote and
        hand it the request; an import failure goes back on the ack FIFO.
        Paths go in as literals (ascii()), never pasted into code."""
        return (
            "def _monitrace_attach(request, ack):\n"
            "    try:\n"
            "        import monitrace.remote\n"
            "    except BaseException as exc:\n"
            "        import json, os, sys\n"
            "        try:\n"
            "            fd = os.open(ack, os.O_WRONLY | os.O_NONBLOCK)\n"
            "        except OSError:\n"
            "            return\n"
            "        message = {'event': 'error', 'kind': 'import',\n"
            "                   'error': '%s: %s' % (type(exc).__name__, exc),\n"
            "                   'executable': sys.executable}\n"
            "        try:\n"
            "            os.write(fd, (json.dumps(message) + '\\n').encode())\n"
            "        finally:\n"
            "            os.close(fd)\n"
            "        return\n"
            "    monitrace.remote.run(request)\n"
            f"_monitrace_attach({ascii(request or self.request)}, {ascii(self.ack)})\n"
        )

    def one_liner(self) -> str:
        """The bootstrap as one statement that leaves no name behind in
        ``__main__`` (PyRun_SimpleString runs there)."""
        return f"exec({ascii(self.bootstrap())}, {{}})"

    def catch_interrupts(self) -> Any:
        """Ctrl-C from now on only sets `interrupted` and wakes receive():
        the attach then ends in order, whatever it was doing. Returns what
        restores the previous handling."""

        def on_sigint(signum: int, frame: Any) -> None:
            self.interrupted = True

        previous = signal.signal(signal.SIGINT, on_sigint)
        previous_fd = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)

        def restore() -> None:
            signal.set_wakeup_fd(previous_fd)
            signal.signal(signal.SIGINT, previous)

        return restore

    def receive(self, timeout: float | None) -> dict[str, Any] | None:
        """The target's next message; None at the timeout; {"event": "eof"}
        when its end closed (it exited); {"event": "interrupt"} at a Ctrl-C
        (once each)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            if self.interrupted:
                self.interrupted = False
                return {"event": "interrupt"}
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.ack_fd, self._wake_r], [], [], left)
            if not ready:
                return None
            if self._wake_r in ready:
                try:
                    os.read(self._wake_r, 512)
                except BlockingIOError:
                    pass
                continue
            chunk = os.read(self.ack_fd, 65536)
            if not chunk:
                return {"event": "eof"}
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    def stop(self) -> None:
        try:
            os.write(self.ctl_fd, b"stop\n")
        except OSError:
            pass

    def close(self) -> None:
        for name in ("_wake_r", "_wake_w"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)
        for name in ("ack_fd", "ctl_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)
        if self.keep_bootstrap:
            # A pending injection may still run: it must find a file that
            # does nothing (no request), not a missing one the interpreter
            # would complain about on the target's stderr.
            for entry in os.listdir(self.dir):
                if entry != "bootstrap.py":
                    _remove(os.path.join(self.dir, entry))
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# ---- getting the target to run the bootstrap -------------------------------

_GDB_SCRIPT = r'''
import json
import gdb

P = json.loads(%(params)s)

def say(**kw):
    gdb.write("MONITRACE-GDB " + json.dumps(kw) + "\n")
    gdb.flush()

def value(expr):
    return int(gdb.parse_and_eval(expr))

# Frames a thread must not be stopped in: it may hold the GIL's mutex or
# an allocator lock that the call would take again.
UNSAFE = ("take_gil", "drop_gil", "RestoreThread", "SaveThread", "AcquireThread",
          "malloc", "free", "realloc", "PyGILState", "ThreadState_Attach",
          "ThreadState_Detach", "PyMutex", "ParkingLot", "_PyMem", "PyObject_Malloc",
          "PyObject_Free", "dl_", "_dl_")

def idle_python_thread():
    """A thread with a Python thread state that is blocked in a system
    call with the GIL released; the main thread first."""
    inferior = gdb.selected_inferior()
    for thread in sorted(inferior.threads(), key=lambda t: t.num):
        thread.switch()
        try:
            if value("(long)PyGILState_GetThisThreadState()") == 0:
                continue
            if value("(int)PyGILState_Check()") != 0:
                continue
        except gdb.error:
            continue
        frame, names = gdb.newest_frame(), []
        while frame is not None and len(names) < 16:
            names.append(frame.name() or "")
            frame = frame.older()
        if any(u in n for n in names for u in UNSAFE):
            continue
        return thread
    return None

try:
    try:
        version = value("*(unsigned long *)&Py_Version")
    except gdb.error:
        say(result="nopython")
    else:
        if version < 0x030C0000:
            say(result="old", version=version)
        else:
            thread = idle_python_thread()
            code = P["code"].replace("\\", "\\\\").replace('"', '\\"')
            if thread is not None:
                thread.switch()
                state = value("(int)PyGILState_Ensure()")
                rc = value('(int)PyRun_SimpleString("%%s")' %% code)
                gdb.parse_and_eval("(void)PyGILState_Release(%%d)" %% state)
                say(result="ran", rc=rc, thread=thread.num)
            else:
                rc = value('(int)Py_AddPendingCall((int (*)(void *))&PyRun_SimpleString, '
                           '(void *)(char *)"%%s")' %% code)
                say(result="pending", rc=rc)
except Exception as exc:
    say(result="error", error=str(exc))
'''


#: Environment variables meant for Python processes, not for gdb.
_NOT_FOR_GDB = frozenset(
    {
        "LD_PRELOAD",
        "ASAN_OPTIONS",
        "UBSAN_OPTIONS",
        "LSAN_OPTIONS",
        "PYTHONMALLOC",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
    }
)
#: Seconds gdb gets to attach, call into the target and detach.
GDB_TIMEOUT = 120


def inject_gdb(target: Target, channel: Channel) -> bool:
    """Run the bootstrap in the target with gdb. True when it ran already
    (the answer is on the ack FIFO), False when it waits for the main
    thread's next bytecode."""
    script = os.path.join(channel.dir, "inject.py")
    with open(script, "w", encoding="utf-8") as f:
        f.write(_GDB_SCRIPT % {"params": ascii(json.dumps({"code": channel.one_liner()}))})
    cmd = [
        "gdb",
        "-nx",
        "-q",
        "-batch",
        "-iex",
        "set auto-load off",
        "-iex",
        "set debuginfod enabled off",
        "-ex",
        "set pagination off",
        "-ex",
        "set confirm off",
        # A signal inside a called function unwinds it: the target goes on
        # where it was stopped.
        "-ex",
        "set unwindonsignal on",
        "-p",
        str(target.pid),
        "-x",
        script,
        "-ex",
        "detach",
    ]
    # Its own session: a Ctrl-C on our terminal must not reach gdb while it
    # holds the target stopped in the middle of a call.
    # gdb is a program of its own: what this Python process was started
    # with (a preloaded sanitizer runtime, allocator and module paths)
    # is not for it; libasan preloaded into gdb deadlocks it at start.
    env = {k: v for k, v in os.environ.items() if k not in _NOT_FOR_GDB}
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
        env=env,
    )
    try:
        out, _ = proc.communicate(timeout=GDB_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AttachError(
            f"gdb did not finish attaching to process {target.pid} within {GDB_TIMEOUT} s "
            "(the process may be stopped in a state gdb cannot call into)"
        ) from None
    results = [
        json.loads(line.split(" ", 1)[1])
        for line in out.splitlines()
        if line.startswith("MONITRACE-GDB ")
    ]
    if not results:
        if "ptrace:" in out or "Operation not permitted" in out:
            detail = next(
                (ln.strip() for ln in out.splitlines() if "ptrace" in ln), "Operation not permitted"
            )
            raise _ptrace_denied(target.pid, detail)
        if not target.alive:
            raise AttachError(f"process {target.pid} exited while monitrace attached")
        last = [ln for ln in out.splitlines() if ln.strip()][-1:] or ["no output"]
        raise AttachError(f"gdb could not attach to process {target.pid}: {last[0]}")
    result = results[-1]
    kind = result["result"]
    if kind == "nopython":
        raise AttachError(
            f"process {target.pid} ({target.name}) is not a Python process (no Py_Version symbol)"
        )
    if kind == "old":
        raise AttachError(f"process {target.pid} runs a Python older than 3.12")
    if kind == "error":
        raise AttachError(f"gdb could not inject into process {target.pid}: {result['error']}")
    return bool(kind == "ran")


def inject_remote_exec(target: Target, channel: Channel) -> None:
    """sys.remote_exec(pid, script), from this interpreter when it is the
    target's version, else from the target's own executable."""
    script = os.path.join(channel.dir, "bootstrap.py")
    with open(script, "w", encoding="utf-8") as f:
        f.write(channel.bootstrap())
    Channel.give_to(target.uid, script)
    channel.keep_bootstrap = True  # until the target has run it
    assert target.version is not None
    if sys.version_info[:2] == target.version and hasattr(sys, "remote_exec"):
        try:
            sys.remote_exec(target.pid, script)
        except PermissionError as exc:
            raise _ptrace_denied(target.pid, str(exc)) from None
        except (OSError, RuntimeError) as exc:
            if not target.alive:
                raise AttachError(f"process {target.pid} exited while monitrace attached") from None
            raise AttachError(f"sys.remote_exec failed on process {target.pid}: {exc}") from None
        return
    exe = os.readlink(f"/proc/{target.pid}/exe")
    proc = subprocess.run(
        [
            exe,
            "-I",
            "-c",
            "import sys; sys.remote_exec(int(sys.argv[1]), sys.argv[2])",
            str(target.pid),
            script,
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        if "PermissionError" in last or "Operation not permitted" in last:
            raise _ptrace_denied(target.pid, last)
        raise AttachError(f"sys.remote_exec failed on process {target.pid}: {last}")


def inject_signal(target: Target, channel: Channel, signum: int) -> None:
    """Leave the request where the target's install() handler looks, then
    send the signal."""
    directory = remote.rendezvous_dir(target.uid)
    try:
        os.mkdir(directory, 0o700)
        Channel.give_to(target.uid, directory)
    except FileExistsError:
        pass
    try:
        remote.check_private_dir(directory, target.uid)
    except OSError as exc:
        raise AttachError(str(exc)) from None
    path = remote.signal_request_path(target.pid, target.uid)
    tmp = path + ".new"
    shutil.copyfile(channel.request, tmp)
    os.chmod(tmp, 0o600)
    Channel.give_to(target.uid, tmp)
    os.replace(tmp, path)
    os.unlink(channel.request)
    channel.request = path
    try:
        os.kill(target.pid, signum)
    except ProcessLookupError:
        raise AttachError(f"process {target.pid} exited while monitrace attached") from None


# ---- the command --------------------------------------------------------------


def _say(text: str) -> None:
    print(f"monitrace: {text}", file=sys.stderr, flush=True)


def main(argv: Sequence[str]) -> int:
    parser = build_parser()
    ns = parser.parse_args(list(argv))
    plan = make_plan(parser, ns)
    try:
        target = Target(plan.pid)
        check_target(target, plan)
        return _attach(target, plan)
    except AttachError as exc:
        _say(str(exc))
        return 1


def _attach(target: Target, plan: Plan) -> int:
    channel = Channel(target, plan)
    restore = channel.catch_interrupts()
    try:
        started = _start(target, plan, channel)
        return _trace(target, plan, channel, started)
    finally:
        restore()
        if plan.use_signal is not None:
            _remove(channel.request)
        channel.close()


def _start(target: Target, plan: Plan, channel: Channel) -> dict[str, Any]:
    """Inject, then wait for the target's answer: the started message."""
    pid = target.pid
    waiting = "its main thread"
    if plan.use_signal is not None:
        inject_signal(target, channel, plan.use_signal)
        waiting = "its signal handler (monitrace.remote.install())"
    elif target.version is not None and target.version >= (3, 14):
        inject_remote_exec(target, channel)
    elif inject_gdb(target, channel):
        waiting = ""
    said = False
    deadline = time.monotonic() + START_TIMEOUT
    message: dict[str, Any] | None = None
    while message is None:
        message = channel.receive(0.5)
        if message is not None and message["event"] == "interrupt":
            raise AttachError(f"interrupted before process {pid} started tracing")
        if message is None:
            if not target.alive:
                raise AttachError(f"process {pid} exited while monitrace attached")
            if time.monotonic() > deadline:
                raise AttachError(
                    f"process {pid} did not start tracing within {START_TIMEOUT:.0f} s "
                    f"(waiting for {waiting or 'the target'}, which runs no Python code "
                    "now); nothing was changed in it"
                )
            if not said and waiting:
                _say(
                    f"waiting for process {pid}: {waiting} runs the request when it "
                    "next executes Python code (Ctrl-C gives up)"
                )
                said = True
    event = message.get("event")
    if event == "started":
        channel.keep_bootstrap = False
        return message
    if event == "eof":
        raise AttachError(f"process {pid} exited while monitrace attached")
    channel.keep_bootstrap = False
    if message.get("kind") == "import":
        raise AttachError(
            f"process {pid} cannot import monitrace ({message['error']}; it runs "
            f"{message.get('executable')}): install monitrace in its environment"
        )
    raise AttachError(f"process {pid} could not start tracing: {message.get('error')}")


def _trace(target: Target, plan: Plan, channel: Channel, started: dict[str, Any]) -> int:
    pid = target.pid
    how = f"for {plan.duration:g} s" if plan.duration is not None else "until Ctrl-C"
    _say(
        f"tracing process {pid} (Python {started.get('python')}, tool id "
        f"{started.get('tool_id')}) {how}"
    )
    message = channel.receive(plan.duration)
    if message is not None and message.get("event") == "eof":
        _say(f"process {pid} exited while it was traced; nothing was collected")
        return 1
    if message is not None and message.get("event") == "error":
        _say(f"process {pid} failed: {message.get('error')}")
        return 1
    channel.stop()
    while True:
        message = channel.receive(None)
        assert message is not None
        if message["event"] != "interrupt":
            break
        _say(f"still waiting for process {pid} to write its results")
    if message.get("event") == "eof":
        _say(f"process {pid} exited before it wrote its results")
        return 1
    if message.get("event") != "done":
        _say(f"process {pid} failed: {message.get('error')}")
        return 1
    for line in message.get("unmatched", []):
        print(line, file=sys.stderr)
    for line in message.get("errors", []):
        _say(f"the tracer in process {pid} met an internal error: {line}")
    if not message.get("tool_free", True):
        _say(f"tool id {message.get('tool_id')} of process {pid} is still taken")
    if message.get("failed"):
        _say(f"process {pid} could not write its results: {'; '.join(message['failed'])}")
        return 1
    return _deliver(plan, channel, pid)


def _deliver(plan: Plan, channel: Channel, pid: int) -> int:
    if plan.output is None:
        with open(channel.result, encoding="utf-8") as f:
            shutil.copyfileobj(f, sys.stdout)
        sys.stdout.flush()
        return 0

    def copy(out: Any) -> None:
        with open(channel.result, "rb") as src:
            shutil.copyfileobj(src, out)

    try:
        write_atomic(plan.output, copy, binary=True)
    except OSError as exc:
        _say(
            f"could not write the trace to {plan.output}: "
            f"{(exc.strerror or str(exc)).removeprefix('cannot write the trace: ')}"
        )
        return 1
    what = "the report" if plan.format == "report" else plan.format
    _say(f"wrote {what} of process {pid} to {plan.output}")
    return 0
