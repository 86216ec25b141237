"""Output made in C (issue 13): the buffered writer behind the live tree,
the Chrome and collapsed writers, and the tree's volume policy for
library code."""

import io
import json
import os
import select
import subprocess
import sys
import textwrap
import warnings

import pytest

import monitrace
from monitrace.exporters import Source, chrome, collapsed

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "data"))
import cases  # noqa: E402
import example  # noqa: E402
from fsnodes import make_device, needs_root  # noqa: E402


class Odd:
    """An argument whose repr needs every kind of JSON escape."""

    def __repr__(self):
        return 'q"b\\s\x00\x1f\n\r\t\b\x0c\x7f é € 😀 \ud800 end'


def _workload():
    cases.take(Odd(), "x" * 3, key=Odd())
    cases.drive_generator()
    cases.catches()
    cases.two_threads()
    cases.fact(5)


def _session(**options):
    s = monitrace.trace(record=True, **options)
    with s:
        _workload()
    return s


def _c_text(module, s):
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
    module.write_log(Source.of(s), out, s._tracer)
    out.flush()
    return raw.getvalue()


# ---- Chrome ---------------------------------------------------------------------


def test_chrome_json_escapes_everything_and_stays_utf8(tmp_path):
    s = _session(args=True, retval=True)
    path = tmp_path / "t.json"
    s.save(path)
    data = path.read_bytes()
    text = data.decode("utf-8")  # strict: a lone surrogate would fail here
    doc = json.loads(text)
    (take,) = [e for e in doc["traceEvents"] if e["ph"] == "B" and e["name"].endswith(".take")]
    assert take["args"]["args"]["a"] == repr(Odd())  # \ud800 comes back as written
    assert take["args"]["args"]["b"] == "'xxx'"
    assert "\\ud800" in text and "\\u0000" in text and "\\u001f" in text
    assert "é € 😀" in text  # non-ASCII as UTF-8, not escaped


def test_chrome_from_c_is_the_python_writers_document():
    # Without lone surrogates, the C writer writes what chrome.write
    # (from the Python events) writes, byte for byte.
    s = monitrace.trace(record=True, args=True, retval=True, c_calls=True)
    with s:
        cases.take('q"\\\x00é', 1)
        cases.drive_generator()
        cases.catches()
        cases.two_threads()
    py = io.StringIO()
    chrome.write(Source.of(s), py)
    assert _c_text(chrome, s).decode("utf-8") == py.getvalue()


def test_collapsed_from_c_is_the_python_writers_text():
    s = _session(c_calls=True)
    py = io.StringIO()
    collapsed.write(Source.of(s), py)
    c_text = _c_text(collapsed, s).decode("utf-8")
    assert c_text == py.getvalue()
    # one line per distinct stack, every stack once
    stacks = [line.rsplit(" ", 1)[0] for line in c_text.splitlines()]
    assert len(stacks) == len(set(stacks))


# ---- the buffered writer ----------------------------------------------------------


def _tracer_errors(run):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
    return [str(w.message) for w in caught if w.category is monitrace.TracerError]


def test_live_tree_to_a_broken_pipe_is_reported_at_stop():
    r, w = os.pipe()
    os.close(r)  # nobody reads: write(2) fails with EPIPE
    out = os.fdopen(w, "w", encoding="utf-8")
    s = monitrace.trace(live=True, file=out)

    def run():
        with s:
            assert cases.fact(5) == 120  # the program is not disturbed
            assert example.foo() == 10

    messages = _tracer_errors(run)
    assert len(messages) == 1 and "live output: BrokenPipeError(32, 'Broken pipe')" in messages[0]
    assert s.calls("fact") == 5
    # printing stopped: a later start stays quiet until the next target
    out.close()


@needs_root
def test_live_tree_to_a_full_device_is_reported_at_stop(tmp_path):
    full = make_device(tmp_path / "full", "full")
    with open(full, "w", encoding="utf-8") as out:
        s = monitrace.trace(live=True, file=out)

        def run():
            with s:
                cases.fact(3)

        messages = _tracer_errors(run)
    assert (
        len(messages) == 1 and "live output: OSError(28, 'No space left on device')" in messages[0]
    )


def test_live_tree_to_a_file_is_buffered_and_complete_at_stop(tmp_path):
    path = str(tmp_path / "tree.txt")
    with open(path, "w", encoding="utf-8") as out:
        s = monitrace.trace(live=True, file=out, retval=True)
        with s:
            example.foo()
            assert os.stat(path).st_size == 0  # still in the C buffer
        with open(path, encoding="utf-8") as f:
            written = f.read()
    line = test_live_tree_to_a_file_is_buffered_and_complete_at_stop.__code__.co_firstlineno + 5
    assert written == textwrap.dedent(f"""\
        Called foo:1 from line {line}
            Called bar:5 from line 2
            Returning bar-> 20
        Returning foo-> 10
        """)


def test_live_tree_to_a_terminal_is_written_line_by_line():
    try:
        master, slave = os.openpty()
    except OSError as exc:  # a chroot without /dev/pts
        pytest.skip(f"no pseudo-terminal here: {exc}")
    out = os.fdopen(slave, "w", encoding="utf-8")
    try:
        s = monitrace.trace(live=True, file=out, color=False)
        with s:
            example.foo()
            # Written already (before stop); the pty may take a moment to
            # pass it on, so wait for it rather than read once.
            got = ""
            while got.count("\n") < 4 and select.select([master], [], [], 30)[0]:
                got += os.read(master, 65536).decode()
        assert got.replace("\r\n", "\n").splitlines()[-1] == "Returning foo"
        assert len(got.splitlines()) == 4
    finally:
        out.close()
        os.close(master)


def test_forked_child_does_not_repeat_the_parents_buffered_tree(tmp_path):
    path = tmp_path / "tree.txt"
    with open(path, "w", encoding="utf-8") as out:
        with monitrace.trace(live=True, file=out, include=["example"]):
            example.foo()
            pid = os.fork()
            if pid == 0:
                os._exit(0)  # the child's copy of the session stops
            os.waitpid(pid, 0)
            example.bar()
    lines = path.read_text().splitlines()
    assert [line.strip().split(" ")[:2] for line in lines] == [
        ["Called", "foo:1"],
        ["Called", "bar:5"],
        ["Returning", "bar"],
        ["Returning", "foo"],
        ["Called", "bar:5"],
        ["Returning", "bar"],
    ]


def test_tree_text_with_a_lone_surrogate_repr():
    s = monitrace.trace(record=True, args=True)
    with s:
        cases.take(Odd(), 1)
    text = s.tree()
    assert 'with a=q"b\\s\x00' in text and "€ 😀 \\ud800 end, b=1" in text


# ---- volume: library code in the tree ------------------------------------------------


def dumps_three_times():
    for i in range(3):
        json.dumps({"n": [i, {"k": "v"}]}, indent=1)


def _json_calls(s):
    json_dir = os.path.dirname(json.__file__) + os.sep
    return sum(st.calls for st in s.stats() if st.filename.startswith(json_dir))


def test_tree_library_first_shows_the_first_library_frame_and_counts_the_rest():
    buf = io.StringIO()
    s = monitrace.trace(live=True, file=buf, record=True, tree_library="first")
    with s:
        dumps_three_times()
    lines = buf.getvalue().splitlines()
    called = [line.strip() for line in lines if line.strip().startswith("Called")]
    assert called[0].startswith("Called dumps_three_times:")
    assert [c.split(":")[0] for c in called[1:]] == ["Called dumps"] * 3
    hidden = _json_calls(s) - 3
    assert hidden >= 3
    assert lines[-1] == f"monitrace: {hidden:,} calls in library code not shown; --all shows them"
    # tree() applies the same policy, and "all" shows everything
    assert s.tree().splitlines()[-1] == lines[-1]
    everything = monitrace.trace(live=True, file=io.StringIO(), tree_library="all")
    with everything:
        dumps_three_times()
    shown = everything.options.file.getvalue()
    assert "monitrace:" not in shown
    assert shown.count("Called ") == _json_calls(everything) + 1


def test_tree_library_is_validated():
    with pytest.raises(ValueError, match="tree_library must be one of 'all', 'first', not 'some'"):
        monitrace.trace(live=True, tree_library="some")


def test_command_hides_deep_library_frames_unless_all(tmp_path):
    script = tmp_path / "uses_json.py"
    script.write_text(
        "import json\n\n\ndef main():\n    return json.dumps([1, {'a': 2}])\n\n\nmain()\n"
    )
    cmd = [sys.executable, "-m", "monitrace"]
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    first = subprocess.run(
        [*cmd, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    lines = first.stderr.splitlines()
    assert lines[:4] == [
        "Called main:4 from line 8",
        "    Called dumps:183 from line 5" if sys.version_info < (3, 14) else lines[1],
        lines[2],
        lines[3],
    ]
    assert lines[1].strip().startswith("Called dumps:") and lines[2].strip() == "Returning dumps"
    assert lines[-1].startswith("monitrace: ") and lines[-1].endswith(
        " calls in library code not shown; --all shows them"
    )
    full = subprocess.run(
        [*cmd, "--all", str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert "JSONEncoder.encode" in full.stderr and "not shown" not in full.stderr
    hidden = int(lines[-1].split()[1].replace(",", ""))
    shown_all = sum(1 for line in full.stderr.splitlines() if line.strip().startswith("Called "))
    shown_first = sum(1 for line in lines if line.strip().startswith("Called "))
    assert shown_all - shown_first == hidden
    # --stdlib asks for the standard library: shown in full too
    stdlib = subprocess.run(
        [*cmd, "--stdlib", str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert stdlib.stderr == full.stderr


class _YieldingStream:
    """A text stream whose write() lets other threads run (its lines are
    checked afterwards)."""

    def __init__(self):
        self.parts = []

    def write(self, text):
        import time

        time.sleep(0)  # gives the GIL away: other threads print meanwhile
        self.parts.append(text)
        return len(text)

    def flush(self):
        pass


def _leaf(n):
    return n + 1


def _branch(n):
    total = 0
    for i in range(n):
        total += _leaf(i)
    return total


def test_live_tree_from_many_threads_keeps_every_line_whole():
    import threading

    out = _YieldingStream()
    s = monitrace.trace(live=True, file=out, include=[__name__ + "._*"])
    with s:
        threads = [threading.Thread(target=_branch, args=(50,), name=f"w{i}") for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    lines = "".join(out.parts).splitlines()
    words = []
    for line in lines:
        if line.startswith("["):  # a prefix once a second thread shows up
            name, line = line[1:].split("] ", 1)
            assert name in ("w0", "w1", "w2", "w3")
        words.append(" ".join(line.strip().split(" ")[:2]).split(":")[0])
    assert sorted(set(words)) == [
        "Called _branch",
        "Called _leaf",
        "Returning _branch",
        "Returning _leaf",
    ]
    assert [words.count(w) for w in ("Called _branch", "Returning _branch")] == [4, 4]
    assert [words.count(w) for w in ("Called _leaf", "Returning _leaf")] == [200, 200]


def _user_default(obj):
    return sorted(obj)


def dumps_with_a_callback():
    return json.dumps({"s": {3, 1, 2}}, default=_user_default)


def test_tree_library_first_still_shows_user_callbacks_below_hidden_frames():
    buf = io.StringIO()
    with monitrace.trace(live=True, file=buf, tree_library="first"):
        assert dumps_with_a_callback() == '{"s": [1, 2, 3]}'
    lines = buf.getvalue().splitlines()
    assert [
        line.split(":")[0] if line.lstrip().startswith("Called") else line for line in lines[:-1]
    ] == [
        "Called dumps_with_a_callback",
        "    Called dumps",
        "        Called _user_default",
        "        Returning _user_default",
        "    Returning dumps",
        "Returning dumps_with_a_callback",
    ]
    assert lines[-1].endswith("calls in library code not shown; --all shows them")


@pytest.mark.parametrize("min_duration", [1e-9, 1e-6, 2e-6, 5e-6, 1000.0])
def test_min_duration_exports_from_c_match_the_python_writers(min_duration):
    # The C writers leave out what events() leaves out (min_duration=).
    s = monitrace.trace(record=True, retval=True, min_duration=min_duration)
    with s:
        _workload()
    source = Source.of(s)
    ns = int(round(min_duration * 1e9))
    for module in (chrome, collapsed):
        py = io.StringIO()
        module.write(source, py)
        raw = io.BytesIO()
        out = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
        module.write_log(source, out, s._tracer, ns)
        out.flush()
        mine = raw.getvalue().decode("utf-8")
        if module is chrome:
            # Threads' events may come in another order across threads
            # (events() holds a thread's events back): compare per thread.
            def per_thread(text):
                doc = json.loads(text)
                return sorted(json.dumps(e, sort_keys=True) for e in doc["traceEvents"])

            assert per_thread(mine) == per_thread(py.getvalue())
        else:
            assert mine == py.getvalue()
