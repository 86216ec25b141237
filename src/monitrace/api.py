"""trace() and Session: the public face of one tracing session."""

from __future__ import annotations

import atexit
import functools
import inspect
import os
import sys
import types
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TextIO, TypeVar

from . import filters, recording, watch
from .assertions import CallCount, called_message, check_known, not_called_message
from .diff import DiffRow, diff
from .events import Event, LogReader, RecordInfo, RecordLimitWarning
from .model import check_core, core_import_error
from .names import resolve
from .options import Options, options_from
from .report import FunctionStats, build_stats, render_table

try:
    from . import _core
except ImportError as exc:
    raise core_import_error(exc) from None
check_core(_core)

F = TypeVar("F", bound=Callable[..., Any])

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_running: weakref.WeakSet[Session] = weakref.WeakSet()
_last: Session | None = None
_atexit_registered = False
_fork_hook_registered = False


class TracerError(RuntimeWarning):
    """Internal problems the tracer met while running, reported at stop."""


def _is_own(key: Any) -> bool:
    """True for monitrace's own code, which no session ever traces."""
    filename = getattr(key, "co_filename", None)
    if filename is not None:
        return isinstance(filename, str) and filename.startswith(_PACKAGE_DIR)
    # A C function: (name, owner, module, binding), see report._c_identity.
    return isinstance(key, tuple) and key[1] is _core.Tracer


def _reset_after_fork() -> None:
    """In a child of os.fork(): each running session forgets the parent's
    data, then keeps tracing the child or stops, as its ``fork`` option
    says."""
    for session in list(_running):
        try:
            session._after_fork_child()
        except Exception as exc:  # never break the child
            warnings.warn(f"monitrace: reset after fork failed: {exc!r}", TracerError, stacklevel=1)


def _flush_before_fork() -> None:
    """Write out live trees before os.fork(): the child forgets its copy
    of the buffer, so what the parent formatted appears once, in order."""
    # Through the WeakSet's own set of references: iterating the WeakSet
    # runs its Python code, which the sessions would trace.
    for ref in list(_running.data):  # type: ignore[attr-defined]
        session = ref()
        if session is not None and session._live is not None:
            session._live.flush()


def _stop_all_at_exit() -> None:
    for session in list(_running):
        try:
            session.stop()
        except Exception:  # interpreter teardown: never fail here
            pass


class Session:
    """One tracing session. Use it as a context manager, as a decorator, or
    with start()/stop(); data accumulates across starts until clear()."""

    def __init__(self, options: Options) -> None:
        self._options = options
        self._filter = filters.compile_filter(options, _is_own)
        self._watcher: watch.Watcher | None = None
        tracer_filter: Any = self._filter
        # watch= with profile=False traces the watched functions alone (with
        # their statistics); every other code object is disabled at its first
        # call, as filtered code always is.
        watch_only = bool(options.watch) and not options.profile
        if options.watch:
            self._watcher = watch.Watcher(specs=options.watch, facts=self._filter.facts)
            tracer_filter = (
                self._watcher.filter
                if watch_only
                else watch.watching_filter(self._filter, self._watcher)
            )
        # profile=False asks the filter only for the error snooper's sake.
        uses_filter = options.profile or options.on_error is not None or watch_only
        self._tracer = _core.Tracer(
            filter=tracer_filter if uses_filter else None,
            filter_module=True,
            c_calls=options.c_calls,
            clock=options.clock,
            profile=options.profile or watch_only,
        )
        filters.apply_scope(self._tracer, options)
        if self._watcher is not None:
            self._tracer.watch_configure(self._watcher.describe)
        self._targets: Any = None
        if options.breakpoints or options.on_error is not None:
            from .breakpoints import Targets

            self._targets = Targets(options.breakpoints, options.on_error)
            self._targets.install(self._tracer)
        self._errors: list[str] = []
        self._dropped_reported = 0
        self._unmatched_reported: set[str] = set()
        # Front ends that say it themselves (the CLI) turn the warning off.
        self._warn_unmatched = True
        self._recording = recording.Recording(self._tracer, options)
        self._live = self._recording.live
        # subprocesses=True: the children's directory while running (see
        # monitrace.children), what they wrote, and those that wrote nothing.
        self._collector: Any = None
        self._child_of: str | None = None  # in a forked child: where it writes
        self._children: list[Any] = []
        self._lost: list[Any] = []

    # ---- control -------------------------------------------------------

    @property
    def options(self) -> Options:
        return self._options

    @property
    def running(self) -> bool:
        return bool(self._tracer.running)

    @property
    def paused(self) -> bool:
        return bool(self._tracer.paused)

    @property
    def tool_id(self) -> int | None:
        """The sys.monitoring tool id while running, else None."""
        return self._tracer.tool_id

    @property
    def clock(self) -> str:
        """The clock in use: 'tsc' (invariant TSC) or 'monotonic'."""
        return str(self._tracer.clock)

    @property
    def errors(self) -> list[str]:
        """Internal errors reported at the stops so far."""
        return list(self._errors)

    def hide(self, code: Any) -> None:
        """Make `code` (a code object, typically the module code of a
        script you run yourself, as the monitrace command does) the root:
        its activations are recorded but not printed in trees, and calls
        it makes count as depth 1 for ``max_depth``. Only on a stopped
        session."""
        if not isinstance(code, types.CodeType):
            raise TypeError(f"hide() takes a code object, not {type(code).__name__}")
        if self.running:
            raise RuntimeError("hide() needs a stopped session")
        self._recording.hidden.add(code)
        filters.apply_scope(self._tracer, self._options, root=code)

    def ignore_thread(self) -> None:
        """Stop tracing the calling thread until the session stops (the
        monitrace command calls it once the script's main code has ended,
        while other threads still run). RuntimeError when not running."""
        self._tracer.ignore_thread()

    @property
    def warn_unmatched(self) -> bool:
        """Whether stop() warns (UnmatchedSpecWarning) about include= and
        within= specs that matched nothing. Front ends that say it in
        their own words (see :meth:`unmatched_specs`) set it to False."""
        return self._warn_unmatched

    @warn_unmatched.setter
    def warn_unmatched(self, value: bool) -> None:
        self._warn_unmatched = bool(value)

    @property
    def breakpoint_stream(self) -> Any:
        """Where stop() writes what breakpoints= and on_error= found: None
        (the default) gives warnings, a text stream is written to (the CLI
        gives stderr). Without breakpoints= or on_error= it stays None."""
        return None if self._targets is None else self._targets.stream

    @breakpoint_stream.setter
    def breakpoint_stream(self, stream: Any) -> None:
        if self._targets is not None:
            self._targets.stream = stream

    def start(self) -> Session:
        global _last, _atexit_registered, _fork_hook_registered
        tool = -1 if self._options.tool_id is None else self._options.tool_id
        # Bookkeeping first: once the tracer starts, every call is traced.
        if not _atexit_registered:
            atexit.register(_stop_all_at_exit)
            _atexit_registered = True
        if not _fork_hook_registered and hasattr(os, "register_at_fork"):
            os.register_at_fork(before=_flush_before_fork, after_in_child=_reset_after_fork)
            _fork_hook_registered = True
        if self._live is not None:
            self._live.attach()
        if self._options.subprocesses and self._collector is None and self._child_of is None:
            from .children import Collector

            self._collector = Collector(self._options)
        _running.add(self)
        try:
            self._tracer.start(tool_id=tool)
        except BaseException:
            _running.discard(self)
            self._collect_children()
            raise
        _last = self
        return self

    def stop(self) -> None:
        if not self._tracer.running:
            return
        errors = self._tracer.stop()  # writes out the live tree
        _running.discard(self)
        if self._live is not None:
            self._live.stopped()
        self._collect_children()
        if errors:
            self._errors.extend(errors)
            warnings.warn(
                "monitrace met internal errors while tracing; results may be "
                "incomplete: " + "; ".join(errors),
                TracerError,
                stacklevel=2,
            )
        self._report_dropped()
        if self._targets is not None:
            self._targets.report()
        if self._warn_unmatched:
            self._report_unmatched()

    def unmatched_specs(self, labels: dict[str, str] | None = None) -> list[str]:
        """One line for each include=/within=/watch= spec that has matched no
        function so far (the warning ``stop()`` gives once per spec);
        `labels` renames the options (``{"include": "--include"}``)."""
        # profile=False asks the filter nothing (but for the error snooper):
        # its specs cannot have matched, and saying so would be noise.
        options = self._options
        pairs = self._filter.unmatched() if options.profile or options.on_error else []
        if self._watcher is not None:
            pairs += [("watch", spec) for spec in self._watcher.unmatched()]
        lines = [filters.unmatched_line(option, spec, labels) for option, spec in pairs]
        if self._children:
            # subprocesses=True: a spec that some child matched is matched.
            plain = [filters.unmatched_line(option, spec) for option, spec in pairs]
            lines = [
                line
                for line, key in zip(lines, plain)
                if all(key in child.unmatched for child in self._children)
            ]
        return lines

    def _report_unmatched(self) -> None:
        """Warn once for each include=/within= spec that has matched no
        function while this session ran."""
        for message in self.unmatched_specs():
            if message not in self._unmatched_reported:
                self._unmatched_reported.add(message)
                # Point at the user's line that stopped the session.
                warnings.warn(
                    message, filters.UnmatchedSpecWarning, skip_file_prefixes=(_PACKAGE_DIR,)
                )

    def _collect_children(self) -> None:
        collector, self._collector = self._collector, None
        if collector is None or collector.pid != os.getpid():
            return
        from .children import warn_lost

        results, lost = collector.collect()
        self._children.extend(results)
        self._lost.extend(lost)
        warn_lost(lost)

    def _after_fork_child(self) -> None:
        collector = self._collector
        if collector is not None or self._child_of is not None:
            # subprocesses=True: this child traces on, into its own data,
            # and writes it where the collecting process reads it.
            from .children import adopt_forked

            self._child_of = collector.directory if collector is not None else self._child_of
            self._collector = None
            self._children, self._lost = [], []
            self._tracer._after_fork_child(keep=True)
            self._errors = []
            assert self._child_of is not None
            adopt_forked(self, self._child_of)
            return
        keep = self._options.fork == "continue"
        self._tracer._after_fork_child(keep=keep)
        self._errors = []
        if not keep:
            _running.discard(self)

    def pause(self) -> None:
        """Ignore events until resume(); costs one C flag test per event."""
        self._tracer.pause()

    def resume(self) -> None:
        self._tracer.resume()

    def reset(self) -> None:
        """Forget the numbers and events recorded so far but keep what the
        session learned about the code it saw (which functions its filters
        trace): cheaper than clear() between measurements, and allowed
        while paused as well as stopped. Calls in progress at the reset
        are forgotten."""
        self._tracer.reset()
        self._dropped_reported = 0
        self._children, self._lost = [], []

    def clear(self) -> None:
        """Forget everything recorded; the session must be stopped."""
        self._tracer.clear()
        self._dropped_reported = 0
        self._children, self._lost = [], []
        if self._live is not None:
            self._live.reset()

    def __enter__(self) -> Session:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __call__(self, func: F) -> F:
        """Decorate `func`: every call runs inside this session (calls made
        while it is already running just run). For a generator or an async
        generator function, the session runs while the generator does: at
        each resume (next, send, throw), until it finishes or is closed.
        Results accumulate; the session is ``func.session``."""
        session = self

        if inspect.isasyncgenfunction(func):
            wrapper: Any = _async_generator_wrapper(session, func)
        elif inspect.isgeneratorfunction(func):
            wrapper = _generator_wrapper(session, func)
        elif inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                if session.running:
                    return await func(*args, **kwargs)
                with session:
                    return await func(*args, **kwargs)

            wrapper = async_wrapper
        else:

            @functools.wraps(func)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                if session.running:
                    return func(*args, **kwargs)
                with session:
                    return func(*args, **kwargs)

            wrapper = sync_wrapper
        wrapper.session = session
        return wrapper  # type: ignore[no-any-return]

    # ---- results -------------------------------------------------------

    def snapshot(self, *, records_from: int = 0) -> dict[str, Any]:
        """The raw C snapshot (see monitrace._core.Tracer.snapshot)."""
        return self._tracer.snapshot(records_from=records_from)

    def stats(self, *, by_thread: bool = False) -> list[FunctionStats]:
        """Typed per-function records (per thread with ``by_thread``).
        With ``subprocesses=True``, the rows of every process followed,
        summed (``by_thread``: this process's threads only)."""
        if self._children and not by_thread:
            from .children import merged_stats

            return merged_stats(self, self._children)
        return build_stats(self._tracer.snapshot(), by_thread=by_thread)

    def stats_by_process(self) -> dict[int, list[FunctionStats]]:
        """Per-function records of each process (``subprocesses=True``), by
        pid; this process first."""
        from .children import stats_by_process

        return stats_by_process(self, self._children)

    def processes(self) -> list[Any]:
        """The child processes followed (``subprocesses=True``) so far, as
        monitrace.children.ChildProcess (pid, ppid, argv, command, lost);
        ``lost`` ones wrote no results (killed, or running at stop)."""
        return sorted([r.info for r in self._children] + self._lost, key=lambda c: c.pid)

    def calls(self, name: str | Callable[..., Any]) -> CallCount:
        """How many times the function `name` was called. `name` is the
        function itself (``s.calls(markdown.Markdown.convert)``), its full
        ``module.qualname``, a bare qualname or function name (``convert``)
        when only one recorded function has it, or a dotted name that
        imports (a re-export such as ``markdown.Markdown.convert``); see
        monitrace.names. 0 if it never ran (or names nothing known). The
        result is an int that also knows its report rows (see
        monitrace.assertions), for readable assertion failures."""
        recorded = self.stats()
        found = resolve(name, recorded)
        return CallCount(found.label, found.matches, recorded, known=found.known)

    def called(self, name: str | Callable[..., Any]) -> bool:
        """True if `name` (as for calls()) ran at least once."""
        return self.calls(name) > 0

    def assert_called(self, name: str | Callable[..., Any], times: int | None = None) -> None:
        """Raise AssertionError, showing the report rows of `name` (or of
        the functions nearest to it), unless `name` (as for calls()) ran
        (exactly `times` times when given). A name that stands for no known
        function raises ValueError, with the closest recorded names."""
        __tracebackhide__ = True  # pytest: show the caller's line, not ours
        if times is not None and (
            not isinstance(times, int) or isinstance(times, bool) or times < 0
        ):
            raise ValueError(f"times must be a non-negative int or None, not {times!r}")
        count = self.calls(name)
        check_known(count)
        message = called_message(count, times)
        if message is not None:
            raise AssertionError(message)

    def assert_not_called(self, name: str | Callable[..., Any]) -> None:
        """Raise AssertionError, showing the report rows of `name` (as for
        calls()), if it ran. A name that stands for no known function
        raises ValueError, with the closest recorded names: a misspelt
        name never passes."""
        __tracebackhide__ = True
        count = self.calls(name)
        check_known(count)
        message = not_called_message(count)
        if message is not None:
            raise AssertionError(message)

    def report(
        self,
        sort: str = "cumtime",
        limit: int | None = None,
        file: TextIO | None = None,
        *,
        full_paths: bool | None = None,
        hint: str | None = None,
    ) -> str:
        """Print a cProfile-style table (to `file`, default stdout) and
        return its text. `sort` takes pstats names (calls, tottime, cumtime,
        name, ...) plus p50, p90, p99, max and walltime; `limit` the most
        rows.
        Files show relative to the working directory, ``site-packages/``
        or ``<stdlib>/`` unless ``full_paths`` (default: the session's
        option). ``hint``: a line under "List reduced ..." when `limit`
        left rows out."""
        if full_paths is None:
            full_paths = self._options.full_paths
        snap = self._tracer.snapshot()
        text = render_table(
            self.stats(),
            sort=sort,
            limit=limit,
            total_seconds=snap["total_ns"] / 1e9,
            full_paths=full_paths,
            hint=hint,
        )
        if self._children or self._lost:
            from .children import lost_line

            n = len(self._children)
            if n:
                text += f"{n + 1} processes: this one and {n} child{'ren' if n != 1 else ''}\n"
            text += "".join(lost_line(child) + "\n" for child in self._lost)
        (file if file is not None else sys.stdout).write(text)
        return text

    def save(self, path: str | os.PathLike[str], format: str | None = None) -> str:
        """Write what was traced to `path` and return the format used:
        ``format`` ('pstats', ...), or the one the extension names
        (``.pstats``/``.prof``, ...; see the README). The file appears
        whole or not at all; an unwritable path raises OSError naming it."""
        from .exporters import Source, save

        if self._children:
            from .children import save_merged

            return save_merged(self, self._children, path, format)
        # The event formats stream the recorded events from the C log.
        log = self._tracer if self._options.record else None
        return save(
            Source.of(self), path, format, log=log, min_duration_ns=self._recording.min_duration_ns
        )

    def send_spans(self, tracer_provider: Any = None, context: Any = None) -> int:
        """Send the recorded calls to OpenTelemetry as spans, through
        `tracer_provider` (default: the global one); needs recorded events
        and the ``monitrace[otel]`` extra. Returns the number of spans."""
        from .exporters import Source
        from .exporters.otel import send_spans

        return send_spans(Source.of(self), tracer_provider, context)

    # ---- record mode: events, tree, lines ---------------------------------

    def events(self) -> Iterator[Event]:
        """The recorded events in order, streamed a batch at a time (needs
        ``record=``). See :class:`monitrace.Event`."""
        return self._recording.events()

    def diff(self, new: Any, **options: Any) -> list[DiffRow]:
        """This session's functions against `new` (a Session, a saved
        file, or FunctionStats), as :func:`monitrace.diff` compares them
        with this session as the base."""
        return diff(self, new, **options)

    def event_log(self) -> LogReader:
        """The recorded events as the C log holds them, with C's indexes
        (what exporters read; :meth:`events` is the friendly view). Needs
        ``record=``."""
        self._recording.require("reading the event log")
        return LogReader(self._tracer)

    def record_info(self) -> RecordInfo:
        """Events recorded and dropped (after the record limit)."""
        return self._recording.info()

    def tree(
        self,
        *,
        path: bool | None = None,
        elapsed: bool | None = None,
        depth: int | None = None,
        by_task: bool = False,
    ) -> str:
        """The call tree as text (needs ``record=``). Unset arguments take
        the session's options. ``by_task``: one tree per asyncio task, of
        the calls that task ran, merged by path (see
        :mod:`monitrace.tasktree`)."""
        if by_task:
            return self._recording.task_tree_text()
        style = self._recording.style(None, path=path, elapsed=elapsed, depth=depth, color=False)
        return self._recording.tree_text(style)

    def print_tree(
        self,
        file: TextIO | None = None,
        *,
        path: bool | None = None,
        elapsed: bool | None = None,
        depth: int | None = None,
        by_task: bool = False,
    ) -> None:
        """Write the call tree to ``file`` (default stdout), streaming;
        coloured on a terminal (see ``color=``). ``by_task``: as
        :meth:`tree` with ``by_task=True``."""
        out = file if file is not None else sys.stdout
        if by_task:
            out.write(self._recording.task_tree_text())
            return
        style = self._recording.style(out, path=path, elapsed=elapsed, depth=depth)
        self._recording.print_tree(out, style)

    def snapshots(self, *, incl_unhit: bool = False) -> watch.Snapshots:
        """Statement snapshots of the watch= functions, in the shape
        monitrace.snapshot() returns: one (stack_str, {snippet: (hits,
        {name: [(type_name, repr), ...]})}) per call, in call order (the
        first 10 calls of each session; 10 values per name and snippet)."""
        if self._watcher is None:
            raise ValueError("snapshots() needs a session started with watch=SPEC")
        return watch.results(self._tracer.watch_results(), incl_unhit)

    def line_stats(self) -> dict[tuple[str, int], int]:
        """Hits per ``(filename, lineno)`` (needs ``lines=True``), the
        shape of ``trace.CoverageResults.counts``."""
        return self._recording.line_stats()

    def _report_dropped(self) -> None:
        if not self._options.record:
            return
        dropped = self._tracer.log_info()["dropped"]
        if dropped > self._dropped_reported:
            self._dropped_reported = dropped
            warnings.warn(
                f"monitrace kept the first {self._options.record_limit} events and "
                f"dropped {dropped} more; pass a larger record= to keep them",
                RecordLimitWarning,
                stacklevel=3,
            )

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<monitrace.Session {state} tool_id={self.tool_id} clock={self.clock}>"


def _generator_wrapper(session: Session, func: Callable[..., Any]) -> Any:
    """A generator function that runs `func`'s generator step by step,
    each step (and the final close) inside `session` unless it is running
    already. Values, sent values, thrown exceptions and the return value
    pass through unchanged."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        gen = func(*args, **kwargs)
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            started = not session.running
            if started:
                session.start()
            try:
                if thrown is None:
                    value = gen.send(sent)
                else:
                    value, thrown = gen.throw(thrown), None
            except StopIteration as stop:
                return stop.value
            finally:
                if started:
                    session.stop()
            try:
                sent = yield value
            except GeneratorExit:
                _close_inside(session, gen.close)
                raise
            except BaseException as exc:  # thrown in by the caller: pass it on
                thrown, sent = exc, None

    return wrapper


def _async_generator_wrapper(session: Session, func: Callable[..., Any]) -> Any:
    """As _generator_wrapper, for an async generator function: each step
    (one asend/athrow, with the awaits inside it) runs inside `session`."""

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        agen = func(*args, **kwargs)
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            started = not session.running
            if started:
                session.start()
            try:
                if thrown is None:
                    value = await agen.asend(sent)
                else:
                    value, thrown = await agen.athrow(thrown), None
            except StopAsyncIteration:
                return
            finally:
                if started:
                    session.stop()
            try:
                sent = yield value
            except GeneratorExit:
                started = not session.running
                if started:
                    session.start()
                try:
                    await agen.aclose()
                finally:
                    if started:
                        session.stop()
                raise
            except BaseException as exc:
                thrown, sent = exc, None

    return wrapper


def _close_inside(session: Session, close: Callable[[], Any]) -> None:
    started = not session.running
    if started:
        session.start()
    try:
        close()
    finally:
        if started:
            session.stop()


def trace(**options: Any) -> Session:
    """A new tracing session: ``with trace() as s:``, ``@trace()``, or
    ``s = trace(); s.start(); ...; s.stop()``.

    Options: ``c_calls`` (also time C functions), ``clock`` ('auto', 'tsc'
    or 'monotonic'), ``tool_id`` (a sys.monitoring tool id; default the
    first free of 3 and 4), ``fork`` ('stop' or 'continue': what a child
    of os.fork() does with a running session). Two sessions can run at
    once (one per free tool id), each with correct results.

    Filters (see the README): ``include``, ``exclude`` (specs such as
    ``"pkg.*"``, ``"function:handle_*"``, ``"file:*/vendor/*"`` or
    ``monitrace.Q`` queries), ``stdlib``, ``site_packages``, ``within``,
    ``exclude_within``, ``max_depth``, ``threads``, ``min_duration``.

    Call trees: ``record`` (True, or the most events kept) for
    ``s.tree()``/``s.events()``; ``live`` (print the tree while running, to
    ``file``); ``args``, ``retval`` (bounded reprs, ``repr_limit``
    characters); ``lines`` (LINE events, ``s.line_stats()``); display:
    ``path``, ``elapsed``, ``depth``, ``color``. See the README.

    Breakpoints (docs/breakpoints.md): ``breakpoints`` (``"file.py:LINE"``,
    ``"pkg.mod.func"``, either with ``" if EXPR"``, or
    ``monitrace.Breakpoint`` objects); ``profile=False`` keeps no
    statistics, so only breakpoints cost anything; ``on_error="errors"``
    prints the last lines of a frame an exception leaves.
    """
    return Session(options_from(options))


def last_session() -> Session | None:
    """The session started most recently."""
    return _last


def report(
    sort: str = "cumtime",
    limit: int | None = None,
    file: TextIO | None = None,
    *,
    full_paths: bool | None = None,
) -> str:
    """Report of the most recently started session (see Session.report)."""
    session = last_session()
    if session is None:
        raise RuntimeError("monitrace.report(): no session has been started")
    return session.report(sort=sort, limit=limit, file=file, full_paths=full_paths)
