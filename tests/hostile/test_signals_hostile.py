"""Signals that land while monitrace runs Python code of its own on the
main thread (a filter, the threads= callable, a repr, the live printer):
the program's handler runs once, in the program, and what it raises
reaches the program exactly as it would untraced."""

import io
import os
import signal
import sys
import warnings

import pytest

import monitrace
from monitrace import _core

from hostile_util import assert_consistent, run_script

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGUSR1") or not hasattr(signal, "setitimer"),
    reason="POSIX signals",
)


class Boom(Exception):
    pass


def target(x):
    return x


def send(how, signum=signal.SIGUSR1):
    if how == "kill":
        os.kill(os.getpid(), signum)  # checks signals before it returns
    else:
        signal.raise_signal(signum)
    for _ in range(100):  # an eval-breaker check, for good measure
        pass


class Handler:
    """A handler that raises Boom and remembers the frames it ran in."""

    def __init__(self):
        self.frames = []

    def __call__(self, signum, frame):
        self.frames.append(frame.f_code.co_name if frame is not None else None)
        raise Boom(signum)


@pytest.fixture
def handler():
    h = Handler()
    old = signal.signal(signal.SIGUSR1, h)
    try:
        yield h
    finally:
        signal.signal(signal.SIGUSR1, old)


def catch(fn):
    """Run fn() and then some more code; return the Boom it raised (or
    None) and whether the code after fn() ran at all."""
    after = []
    try:
        fn()
        for i in range(100):  # the handler runs at a check in here at the latest
            after.append(i)
    except Boom as exc:
        return exc, after
    return None, after


def test_signals_are_deferred_on_this_interpreter():
    # The handler table was found and verified at import; else the tests
    # below would fail for that reason alone.
    assert _core.SIGNALS_DEFERRED == 1


@pytest.mark.parametrize("how", ["kill", "raise_signal"])
def test_handler_exception_from_a_filter_reaches_the_program(how, handler):
    def filt(code):
        if code is target.__code__:
            send(how)
            filt.returned = True  # the filter itself was not interrupted
        return True

    tr = _core.Tracer(filter=filt)
    tr.start()
    try:
        exc, after = catch(lambda: target(1))
    finally:
        errors = tr.stop()
    assert isinstance(exc, Boom) and exc.args == (signal.SIGUSR1,)
    assert errors == []
    assert filt.returned
    # Once, and in the program's code: target() itself or the caller.
    assert len(handler.frames) == 1 and handler.frames[0] in ("target", "<lambda>", "catch")
    assert signal.getsignal(signal.SIGUSR1) is handler
    assert_consistent(tr)


def test_handler_exception_from_the_threads_callable_reaches_the_program(handler):
    def threads(ident, name):
        send("raise_signal")
        return True

    tr = _core.Tracer()
    tr.set_scope(thread_filter=threads)
    exc = None
    tr.start()
    try:
        # The callable runs on this thread's first event: target's start.
        target(1)
        for _ in range(100):
            pass
    except Boom as e:
        exc = e
    finally:
        errors = tr.stop()
    assert isinstance(exc, Boom)
    assert errors == []
    assert len(handler.frames) == 1 and handler.frames[0] != "threads"
    assert_consistent(tr)


class Loud:
    """An argument whose repr sends a signal (once)."""

    def __init__(self):
        self.sent = 0

    def __repr__(self):
        if not self.sent:
            self.sent += 1
            send("kill")
        return "Loud()"


def test_handler_exception_from_an_argument_repr_reaches_the_program(handler, recwarn):
    arg = Loud()
    s = monitrace.trace(record=True, args=True)
    with s:
        exc, _ = catch(lambda: target(arg))
    assert isinstance(exc, Boom)
    assert not [w for w in recwarn if issubclass(w.category, monitrace.TracerError)]
    assert len(handler.frames) == 1 and handler.frames[0] != "__repr__"
    # The repr ran to its end: the recorded call shows its result.
    calls = [e for e in s.events() if e.kind == "call" and e.function.code is target.__code__]
    assert len(calls) == 1 and calls[0].args == (("x", "Loud()"),)
    assert_consistent(s)


def test_handler_exception_from_a_return_value_repr_reaches_the_program(handler, recwarn):
    arg = Loud()
    s = monitrace.trace(record=True, retval=True)
    with s:
        exc, _ = catch(lambda: (lambda: arg)())
    assert isinstance(exc, Boom)
    assert not [w for w in recwarn if issubclass(w.category, monitrace.TracerError)]
    assert len(handler.frames) == 1 and handler.frames[0] != "__repr__"
    assert_consistent(s)


class SignallingFile(io.StringIO):
    """Where the live printer writes; the first write sends a signal."""

    def write(self, text):
        if not self.getvalue():
            send("raise_signal")
        return super().write(text)


def test_handler_exception_from_the_live_printer_reaches_the_program(handler, recwarn):
    out = SignallingFile()
    s = monitrace.trace(live=True, file=out, include=[__name__ + ".target"])
    with s:
        exc, _ = catch(lambda: target(1))
    assert isinstance(exc, Boom)
    assert not [w for w in recwarn if issubclass(w.category, monitrace.TracerError)]
    assert len(handler.frames) == 1 and handler.frames[0] != "write"
    assert "target" in out.getvalue()  # the printer kept printing
    assert_consistent(s)


def test_code_in_a_filter_may_swap_handlers_and_the_programs_stays(handler):
    seen = []

    def filt(code):
        if code is target.__code__:
            old = signal.signal(signal.SIGUSR1, lambda *a: seen.append("temporary"))
            seen.append(type(old).__name__)
            signal.signal(signal.SIGUSR1, old)
        return True

    tr = _core.Tracer(filter=filt)
    tr.start()
    try:
        target(1)
    finally:
        assert tr.stop() == []
    assert signal.getsignal(signal.SIGUSR1) is handler
    # Inside our code the table held a stand-in; called outside it, a
    # stand-in is the handler it stands in for.
    assert seen == ["SignalHandlerStandIn"]


def test_a_stand_in_kept_by_the_program_calls_the_handler(handler):
    kept = []

    def filt(code):
        if code is target.__code__:
            kept.append(signal.getsignal(signal.SIGUSR1))
        return True

    tr = _core.Tracer(filter=filt)
    tr.start()
    try:
        target(1)
    finally:
        assert tr.stop() == []
    (standin,) = kept
    assert standin is not handler and repr(handler) in repr(standin)
    with pytest.raises(Boom):
        standin(signal.SIGUSR1, None)
    # Installed again by the program, it is its handler.
    signal.signal(signal.SIGUSR1, standin)
    exc, _ = catch(lambda: send("raise_signal"))
    assert isinstance(exc, Boom) and len(handler.frames) == 2


def test_a_handler_installed_inside_our_code_is_kept(handler):
    def other(signum, frame):
        raise KeyError("other")

    def filt(code):
        if code is target.__code__:
            signal.signal(signal.SIGUSR1, other)  # and never put back
        return True

    tr = _core.Tracer(filter=filt)
    tr.start()
    try:
        target(1)
    finally:
        assert tr.stop() == []
    assert signal.getsignal(signal.SIGUSR1) is other


def test_sigterm_handler_exiting_from_a_filter_sets_the_exit_code():
    script = """
        import os, signal, sys
        from monitrace import _core

        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(7))

        def target():
            return 1

        def filt(code):
            if code is target.__code__ and TRACED:
                os.kill(os.getpid(), signal.SIGTERM)
            return True

        TRACED = sys.argv[1] == "traced"
        tr = _core.Tracer(filter=filt)
        tr.start()
        try:
            if not TRACED:
                os.kill(os.getpid(), signal.SIGTERM)
            target()
            for _ in range(100):
                pass
            print("not exited")
        finally:
            print("errors", tr.stop())
    """
    untraced = run_script(script, "untraced")
    traced = run_script(script, "traced")
    assert untraced.returncode == traced.returncode == 7
    assert untraced.stdout == traced.stdout == "errors []\n"
    assert traced.stderr == ""


class Slow:
    def __repr__(self):
        total = 0
        for i in range(2000):  # most of a traced call's time is spent here
            total += i
        return "Slow()"


def busy(x):
    return 1


def test_every_timer_signal_raises_in_the_program():
    # A one-shot timer, armed again on each round; its handler raises.
    # Traced with argument reprs, most signals land inside a repr. Every
    # one must reach the loop below: as many caught as delivered.
    counts = {"delivered": 0, "in_repr": 0}

    class Tick(Exception):
        pass

    def on_alarm(signum, frame):
        counts["delivered"] += 1
        if frame is not None and frame.f_code is Slow.__repr__.__code__:
            counts["in_repr"] += 1
        raise Tick

    rounds, caught, missed = 50, 0, 0
    old = signal.signal(signal.SIGALRM, on_alarm)
    s = monitrace.trace(record=True, args=True)
    try:
        with warnings.catch_warnings(record=True) as caught_warnings:
            warnings.simplefilter("always")
            with s:
                for _ in range(rounds):
                    try:
                        signal.setitimer(signal.ITIMER_REAL, 0.0003)
                        for _ in range(200):
                            busy(Slow())
                        signal.setitimer(signal.ITIMER_REAL, 0)
                        for _ in range(10):  # a late tick lands here
                            pass
                        missed += 1
                    except Tick:
                        caught += 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert caught == counts["delivered"] == rounds - missed
    assert counts["in_repr"] == 0
    assert not [w for w in caught_warnings if issubclass(w.category, monitrace.TracerError)]
    assert_consistent(s)


class Quiet:
    def __repr__(self):
        return "Quiet()"


def test_brackets_leave_no_reference_and_no_stand_in_behind(handler):
    # Each repr below runs in a bracket: a stand-in for every Python
    # handler (SIGUSR1's and SIGINT's at least) takes its place and leaves.
    import gc

    def standins():
        return [o for o in gc.get_objects() if type(o).__name__ == "SignalHandlerStandIn"]

    def run(n):
        s = monitrace.trace(record=True, args=True)
        with s:
            for _ in range(n):
                target(Quiet())
        return s

    gc.collect()
    run(1)
    spares = len(standins())
    before = sys.getrefcount(handler), sys.getrefcount(signal.default_int_handler)
    s = run(1000)
    after = sys.getrefcount(handler), sys.getrefcount(signal.default_int_handler)
    assert after == before
    # Kept for reuse, one per signal at most, holding no handler.
    assert len(standins()) <= spares <= len(signal.valid_signals())
    assert all("unused" in repr(o) for o in standins())
    assert signal.getsignal(signal.SIGUSR1) is handler
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    calls = [e for e in s.events() if e.function.code is target.__code__ and e.kind == "call"]
    assert len(calls) == 1000 and calls[0].args == (("x", "Quiet()"),)
