"""``monitrace attach PID``: a running target program (a worker thread, an
asyncio loop, the main thread blocked in time.sleep) is traced from
outside and must not notice: the same output and exit code, its tool id
free afterwards, a second attach works. gdb injects on 3.12/3.13,
sys.remote_exec on 3.14+, a signal handler with --signal.

Nothing here is timed: the target calls tick() once per line the test
feeds while the attacher is attached and echoes each one, and the test
ends the attach (Ctrl-C, as a user would) only once the echoes are in."""

import json
import os
import pstats
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

from monitrace import attach as attach_mod

REMOTE_EXEC = sys.version_info >= (3, 14)

TARGET = textwrap.dedent("""
    import asyncio, os, signal, sys, threading, time

    SLICE = float(sys.argv[1])  # 0: one long sleep in the main thread
    if len(sys.argv) > 2:
        import monitrace.remote
        monitrace.remote.install(signal=sys.argv[2])

    def tick():
        return 1

    class Wake(Exception):
        pass

    def on_usr2(signum, frame):
        raise Wake

    stopping = threading.Event()

    def worker():
        n = 0
        for line in sys.stdin:
            if line.strip() == "exit":
                break
            if line.strip() == "?":
                print("tool", sys.monitoring.get_tool(3), flush=True)
                continue
            if line.strip() == "beats?":
                print("beats", beats, flush=True)
                continue
            tick()
            n += 1
            print(f"tick {n}", flush=True)
        stopping.set()
        signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR2)

    beats = 0

    def pulse():
        global beats
        beats += 1

    async def beat():
        while True:
            pulse()
            await asyncio.sleep(0.01)

    signal.signal(signal.SIGUSR2, on_usr2)
    w = threading.Thread(target=worker, name="worker")
    w.start()
    threading.Thread(target=lambda: asyncio.run(beat()), name="loop", daemon=True).start()
    print("ready", flush=True)
    try:
        if SLICE == 0:
            time.sleep(3600)
        else:
            while not stopping.is_set():
                time.sleep(SLICE)
    except Wake:
        pass
    w.join()
    print("tools", sys.monitoring.get_tool(3), sys.monitoring.get_tool(4), flush=True)
    print("bye", flush=True)
    sys.exit(7)
""")


def _can_attach():
    if not sys.platform.startswith("linux"):
        return "attach works on Linux only (/proc, ptrace)"
    if not REMOTE_EXEC and shutil.which("gdb") is None:
        return "gdb is not installed: attaching to Python 3.12/3.13 needs it"
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            scope = int(f.read())
    except OSError:
        scope = 0
    if scope > 0 and os.geteuid() != 0:
        return f"ptrace is restricted (kernel.yama.ptrace_scope={scope}) and we are not root"
    return None


needs_attach = pytest.mark.skipif(_can_attach() is not None, reason=str(_can_attach()))


class Target:
    """The target program, run as a subprocess of this interpreter."""

    def __init__(self, tmp_path, *extra, args=(), env=None, python=sys.executable, slice_=None):
        script = tmp_path / "target.py"
        script.write_text(TARGET)
        if slice_ is None:
            # sys.remote_exec waits for the main thread's next bytecode.
            slice_ = 0.02 if REMOTE_EXEC else 0
        self.proc = subprocess.Popen(
            [python, *extra, str(script), str(slice_), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=env,
        )
        self.out = [self.proc.stdout.readline()]
        assert self.out == ["ready\n"], self.proc.stderr.read()
        self.ticks = 0

    @property
    def pid(self):
        return self.proc.pid

    def feed(self, n):
        """n ticks, each echoed by the target before the next."""
        for _ in range(n):
            self.ticks += 1
            self.proc.stdin.write("x\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
            assert line == f"tick {self.ticks}\n"
            self.out.append(line)

    def tool(self):
        """Who holds tool id 3 in the target now, as it says."""
        self.proc.stdin.write("?\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line.startswith("tool ")
        self.out.append(line)
        return line.split()[1]

    def beats(self):
        """How many times the asyncio loop has called pulse() so far."""
        self.proc.stdin.write("beats?\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line.startswith("beats ")
        self.out.append(line)
        return int(line.split()[1])

    def await_beats(self, n):
        """Until the loop has called pulse() n more times."""
        first = self.beats()
        for _ in range(1_000_000):
            if self.beats() >= first + n:
                return
        raise AssertionError("the asyncio loop stopped")

    def finish(self):
        """Tell it to exit: (rest of stdout, stderr, exit code)."""
        out, err = self.proc.communicate("exit\n", timeout=120)
        return "".join(self.out) + out, err, self.proc.returncode

    def expected_stdout(self):
        """What it printed before (each line checked as it came) and at exit."""
        return "".join(self.out) + "tools None None\nbye\n"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def target(tmp_path):
    targets = []

    def make(*extra, **kw):
        t = Target(tmp_path, *extra, **kw)
        targets.append(t)
        return t

    yield make
    for t in targets:
        t.kill()


class Attacher:
    """``monitrace attach`` as a subprocess; started() once it traces."""

    def __init__(self, *args, cwd=None, env=None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitrace", "attach", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=env,
        )
        self.err = []

    def started(self):
        while True:
            line = self.proc.stderr.readline()
            assert line, "".join(self.err) + self.proc.stderr.read()
            self.err.append(line)
            if line.startswith("monitrace: tracing process"):
                return line
            assert line.startswith("monitrace: waiting for process"), line

    def interrupt(self):
        """Ctrl-C: stop now and collect. (stdout, stderr, exit code)."""
        self.proc.send_signal(signal.SIGINT)
        return self.wait()

    def wait(self):
        out, err = self.proc.communicate(timeout=120)
        return out, "".join(self.err) + err, self.proc.returncode


def report_calls(text, name):
    """ncalls of `name` in a report table (None: not listed)."""
    for line in text.splitlines():
        if line.endswith(f"({name})"):
            return int(line.split()[0].split("/")[0])
    return None


def _run_attach(t, *args, feed=3, beats=0, **kw):
    a = Attacher(t.pid, *args, **kw)
    line = a.started()
    assert f"tracing process {t.pid} (Python {sys.version.split()[0]}, tool id 3)" in line
    t.feed(feed)
    t.await_beats(beats)
    return a.interrupt()


@needs_attach
def test_attach_prints_the_report_and_leaves_the_target_unchanged(target):
    t = target()
    t.feed(2)  # before the attach: not counted
    out, err, rc = _run_attach(t, feed=3, beats=2)
    assert rc == 0, err
    assert report_calls(out, "tick") == 3
    assert report_calls(out, "pulse") >= 1  # the asyncio loop's thread
    assert "monitrace" not in out.replace("monitrace: ", "")  # none of our own code
    # A second attach works and counts only its own ticks.
    out, err, rc = _run_attach(t, "--include", "function:tick", feed=4)
    assert rc == 0, err
    assert report_calls(out, "tick") == 4
    assert "pulse" not in out
    stdout, stderr, code = t.finish()
    assert (stdout, stderr, code) == (t.expected_stdout(), "", 7)


@needs_attach
def test_attach_with_a_duration_ends_by_itself(target):
    t = target()
    a = Attacher(t.pid, "--duration", "0.2", "--report")
    a.started()
    out, err, rc = a.wait()
    assert rc == 0, err
    assert "function calls in" in out
    assert report_calls(out, "tick") is None  # nothing fed while attached
    stdout, stderr, code = t.finish()
    assert (stdout, stderr, code) == (t.expected_stdout(), "", 7)


def _tick_key(stats):
    (key,) = [k for k in stats if k[2] == "tick"]
    return key


@needs_attach
def test_attach_writes_files_where_asked(target, tmp_path):
    t = target()
    # pstats
    out, err, rc = _run_attach(t, "-o", tmp_path / "out.pstats", feed=2)
    assert rc == 0, err
    assert out == ""
    assert f"wrote pstats of process {t.pid} to {tmp_path / 'out.pstats'}" in err
    st = pstats.Stats(str(tmp_path / "out.pstats")).stats
    cc, nc, *_ = st[_tick_key(st)]
    assert (cc, nc) == (2, 2)
    # JSON statistics
    out, err, rc = _run_attach(t, "-o", tmp_path / "out.json", "--format", "json", feed=3)
    assert rc == 0, err
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["pid"] == t.pid
    (tick,) = [f["id"] for f in doc["functions"] if f["qualname"] == "tick"]
    assert (
        sum(r["calls"] for th in doc["threads"] for r in th["stats"] if r["function"] == tick) == 3
    )
    # A Chrome trace (record mode implied by the format)
    out, err, rc = _run_attach(
        t, "-o", tmp_path / "trace.json", "--include", "function:tick", feed=4
    )
    assert rc == 0, err
    events = json.loads((tmp_path / "trace.json").read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    assert (
        len([e for e in events if e.get("name", "").endswith("tick") and e.get("ph") in ("X", "B")])
        == 4
    )
    # Collapsed stacks
    out, err, rc = _run_attach(
        t, "-o", tmp_path / "stacks.folded", "--include", "function:tick", feed=1
    )
    assert rc == 0, err
    lines = (tmp_path / "stacks.folded").read_text().splitlines()
    assert len(lines) == 1 and "tick" in lines[0]
    # The text report
    out, err, rc = _run_attach(t, "-o", tmp_path / "report.txt", feed=5)
    assert rc == 0, err
    assert report_calls((tmp_path / "report.txt").read_text(), "tick") == 5
    out, err, rc = _run_attach(t, "-o", tmp_path / "report.txt.gz", feed=1)
    assert rc == 0, err
    import gzip

    assert (
        report_calls(gzip.decompress((tmp_path / "report.txt.gz").read_bytes()).decode(), "tick")
        == 1
    )
    stdout, stderr, code = t.finish()
    assert (stdout, stderr, code) == (t.expected_stdout(), "", 7)
    # Nothing of ours is left in the temporary directory.
    import tempfile

    assert not [
        n for n in os.listdir(tempfile.gettempdir()) if n.startswith(f"monitrace-attach-{t.pid}-")
    ]


def test_attach_through_the_signal_handler(target):
    """No debugger: the target called monitrace.remote.install(); its main
    thread sleeps in one long time.sleep, which the signal interrupts and
    Python resumes."""
    t = target(args=["USR1"], slice_=0)
    for _ in range(2):  # and again
        out, err, rc = _run_attach(t, "--signal", "--include", "function:tick", feed=3)
        assert rc == 0, err
        assert report_calls(out, "tick") == 3
    stdout, stderr, code = t.finish()
    assert (stdout, stderr, code) == (t.expected_stdout(), "", 7)


def test_monitrace_signal_toggles_tracing(target, tmp_path):
    """MONITRACE='signal=USR1;output=...': the first signal starts, the
    next stops and writes; nothing is traced before or after."""
    env = dict(
        os.environ,
        MONITRACE=f"signal=USR1;output={tmp_path}/t-{{pid}}.pstats;include=function:tick",
    )
    t = target(env=env, slice_=0)
    t.feed(1)
    os.kill(t.pid, signal.SIGUSR1)
    for _ in range(100_000):  # until the handler has run
        if t.tool() == "monitrace":
            break
    t.feed(2)
    os.kill(t.pid, signal.SIGUSR1)
    path = tmp_path / f"t-{t.pid}.pstats"
    assert t.proc.stderr.readline() == f"monitrace: pid {t.pid}: wrote {path}\n"
    assert t.tool() == "None"
    t.feed(1)
    stdout, stderr, code = t.finish()
    assert (stdout, stderr, code) == (t.expected_stdout(), "", 7)
    st = pstats.Stats(str(path)).stats
    assert st[_tick_key(st)][:2] == (2, 2)


def test_cli_runs_a_script_named_attach(tmp_path):
    (tmp_path / "attach").write_text("import sys; print('script', sys.argv[1:])\n")
    for argv in (["./attach", "1"], ["--", "attach", "1"]):
        res = subprocess.run(
            [sys.executable, "-m", "monitrace", "--report", *argv],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 0, res.stderr
        assert res.stdout == "script ['1']\n"


# ---- bad input: one line, a non-zero exit, the target untouched --------------


def _attach_cmd(*args, env=None):
    res = subprocess.run(
        [sys.executable, "-m", "monitrace", "attach", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    return res.stdout, res.stderr, res.returncode


def _untouched(pid):
    """Running or sleeping, not stopped, and no tracer attached."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":\t", 1) for line in f if ":\t" in line)
    return fields["State"][0] in "RSD" and fields["TracerPid"].strip() == "0"


def test_attach_to_a_pid_that_does_not_exist():
    with open("/proc/sys/kernel/pid_max") as f:
        pid = int(f.read()) + 1
    out, err, rc = _attach_cmd(pid)
    assert (out, err, rc) == ("", f"monitrace: no process with PID {pid}\n", 1)


def test_attach_to_a_process_that_is_not_python(tmp_path):
    proc = subprocess.Popen(["sleep", "3600"])
    try:
        out, err, rc = _attach_cmd(proc.pid)
        assert (out, err, rc) == (
            "",
            f"monitrace: process {proc.pid} (sleep) is not a Python process\n",
            1,
        )
        assert _untouched(proc.pid) and proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_attach_to_an_older_python():
    old = os.path.expanduser("~/.pyenv/versions/3.11.7/bin/python3.11")
    old = old if os.path.exists(old) else shutil.which("python3.11")
    if old is None:
        pytest.skip("no Python 3.11 here to play the old target")
    proc = subprocess.Popen(
        [old, "-c", "import sys, time; print('up', flush=True); time.sleep(3600)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline() == "up\n"
        out, err, rc = _attach_cmd(proc.pid)
        assert (out, err, rc) == (
            "",
            f"monitrace: process {proc.pid} (python3.11) runs "
            "Python 3.11; monitrace needs 3.12 or newer\n",
            1,
        )
        assert _untouched(proc.pid) and proc.poll() is None
    finally:
        proc.kill()
        proc.communicate()


def test_attach_to_another_users_process(monkeypatch, capsys):
    """As a user who is not root, a process of another user is refused
    before anything is tried on it (played here by pretending to be uid
    65534 against one of our own processes)."""
    proc = subprocess.Popen(["sleep", "3600"])
    try:
        me = os.geteuid()
        monkeypatch.setattr(attach_mod.os, "geteuid", lambda: 65534 if me == 0 else me)
        if me != 0:
            pytest.skip("needs root to own a process of another user")
        rc = attach_mod.main([str(proc.pid)])
        out, err = capsys.readouterr()
        assert (out, err, rc) == (
            "",
            f"monitrace: process {proc.pid} belongs to root (uid 0), not to you: "
            "run monitrace as that user (or as root)\n",
            1,
        )
        assert _untouched(proc.pid)
    finally:
        proc.kill()
        proc.wait()


@needs_attach
def test_target_that_exits_mid_attach(target):
    t = target()
    a = Attacher(t.pid)
    a.started()
    stdout, stderr, code = t.finish()
    # It looked while it was traced: its tool id was taken then.
    expected = t.expected_stdout().replace("tools None", "tools monitrace")
    assert (stdout, stderr, code) == (expected, "", 7)
    out, err, rc = a.wait()
    assert (out, rc) == ("", 1)
    assert err.splitlines()[-1] == (
        f"monitrace: process {t.pid} exited while it was traced; nothing was collected"
    )


@needs_attach
def test_target_that_cannot_import_monitrace(target):
    # -S: no site, so not the environment monitrace is installed in.
    t = target("-S")
    out, err, rc = _attach_cmd(t.pid)
    assert rc == 1 and out == ""
    assert err.startswith(
        f"monitrace: process {t.pid} cannot import monitrace "
        "(ModuleNotFoundError: No module named 'monitrace'"
    )
    assert err.endswith("install monitrace in its environment\n")
    assert err.count("\n") == 1
    stdout, stderr, code = t.finish()
    assert (stdout, stderr, code) == (t.expected_stdout(), "", 7)


@pytest.mark.skipif(REMOTE_EXEC, reason="3.14+ attaches without gdb")
def test_attach_without_gdb(target, tmp_path):
    t = target()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    env = dict(os.environ, PATH=str(bindir))
    out, err, rc = _attach_cmd(t.pid, env=env)
    assert (out, rc) == ("", 1)
    assert err == (
        f"monitrace: process {t.pid} runs Python {sys.version_info[0]}."
        f"{sys.version_info[1]}, where attaching needs gdb, and gdb is not installed: "
        "install it (apt-get install gdb), or start the target with "
        "MONITRACE='signal=USR1' and use attach --signal\n"
    )
    stdout, stderr, code = t.finish()
    assert (stdout, stderr, code) == (t.expected_stdout(), "", 7)


@pytest.mark.parametrize(
    "args, message",
    [
        (["abc"], "PID must be a process id (a whole number), not 'abc'"),
        (["0"], "PID must be a positive process id, not 0"),
        (["1", "--duration", "0"], "argument --duration: must be more than 0 seconds, not '0'"),
        (["1", "--duration", "soon"], "argument --duration: invalid duration 'soon'"),
        (["1", "-o", "/nonexistent/x.pstats"], "argument -o/--output: "),
        (["1", "--signal", "--signal-name", "KILL"], "SIGKILL cannot be used"),
    ],
)
def test_bad_command_lines(args, message):
    out, err, rc = _attach_cmd(*args)
    assert rc == 2 and out == ""
    assert message in err.splitlines()[-1]


@needs_attach
def test_signal_attach_to_a_process_without_the_handler(target):
    """SIGUSR1's default action ends a process: never sent to one that
    does not catch it."""
    t = target()
    out, err, rc = _attach_cmd(t.pid, "--signal")
    assert (out, err, rc) == (
        "",
        (
            f"monitrace: process {t.pid} does not handle SIGUSR1, which would end it: "
            "start it with MONITRACE='signal=USR1' or have it call "
            "monitrace.remote.install(signal=signal.SIGUSR1)\n"
        ),
        1,
    )
    stdout, stderr, code = t.finish()
    assert (stdout, stderr, code) == (t.expected_stdout(), "", 7)


def test_ptrace_restricted_by_yama(monkeypatch, capsys):
    """Not root, kernel.yama.ptrace_scope=1: refused with the cause and
    the fixes, before gdb or remote_exec touch the target."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    try:
        me = os.geteuid()
        monkeypatch.setattr(attach_mod.os, "geteuid", lambda: me if me else 1000)
        monkeypatch.setattr(attach_mod, "_yama_scope", lambda: 1)
        t = attach_mod.Target(proc.pid)
        t.uid = attach_mod.os.geteuid()
        plan = attach_mod.Plan(proc.pid, {}, None, "report", None, None)
        with pytest.raises(attach_mod.AttachError) as info:
            attach_mod.check_target(t, plan)
        assert str(info.value) == (
            f"cannot attach to process {proc.pid}: kernel.yama.ptrace_scope is 1, "
            "which lets only a parent trace it: run monitrace as the target's user or "
            "as root, allow it with `sysctl kernel.yama.ptrace_scope=0`, or in a "
            "container add `--cap-add SYS_PTRACE`; or use --signal with a target that "
            "called monitrace.remote.install()"
        )
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


@needs_attach
def test_attacher_killed_frees_the_target(target):
    """The attacher dies (kill -9) mid-trace: the target stops its session
    on its own (end of file on the control FIFO) and frees the tool id."""
    t = target()
    a = Attacher(t.pid)
    a.started()
    assert t.tool() == "monitrace"
    a.proc.kill()
    a.proc.communicate()
    for _ in range(100_000):
        if t.tool() == "None":
            break
    assert t.out[-1] == "tool None\n"
    out, err, rc = _run_attach(t, feed=2)  # and it can be attached again
    assert rc == 0, err
    assert report_calls(out, "tick") == 2
    stdout, stderr, code = t.finish()
    assert (stdout, stderr, code) == (t.expected_stdout(), "", 7)
