"""The ``monitrace`` command: run a script, a module (``-m``) or a string
(``-c``) under a tracing session, printing the call tree (or a report).

The program sees what it would see under plain ``python``: the same
``sys.argv``, a fresh ``__main__`` module, ``sys.path[0]`` and exit code;
an uncaught exception prints its usual traceback and exits 1.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import io
import linecache
import os
import runpy
import signal
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

from .api import Session, trace
from .exporters import FORMATS, SUFFIXES, check_writable, write_atomic
from .exporters.output import REPORT, OutputPlan, choose_format, plan_output
from .filter_args import add_filter_arguments, filter_options_from_args
from .report import SORT_KEYS

USAGE = (
    "%(prog)s [options] (script.py | -m module | -c code) [args ...]\n"
    "       %(prog)s (attach | diff | view | merge) [options] ..."
)
#: Rows of the --report table unless --limit says otherwise.
REPORT_LIMIT = 40
# How the flags name the spec options in messages.
_SPEC_FLAGS = {"include": "--include", "within": "--within", "watch": "--watch"}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser. Other features add their flags here; every
    option that takes a value must say so (nargs), because the program's
    own arguments are split off before parsing."""
    parser = argparse.ArgumentParser(
        prog="monitrace",
        usage=USAGE,
        description=(
            "Trace a Python program with monitrace: print its call tree "
            "while it runs (or, with --report, a profile table at the end)."
        ),
        epilog=(
            "Trace output goes to stderr unless -o is given; colours only on a "
            "terminal (NO_COLOR and FORCE_COLOR are honoured). Subcommands, "
            "named first: attach PID (trace a running process; see "
            "'monitrace attach --help'), diff BASE NEW (compare saved runs), view FILE -o "
            "report.html (a page from a saved run), merge FILE... -o OUT (results of "
            "several processes in one). "
            "To run a script named like one, write ./NAME or -- NAME."
        ),
    )
    target = parser.add_argument_group("what to run (the rest of the line goes to the program)")
    target.add_argument(
        "-m", dest="module", metavar="MODULE", help="run a library module as a script"
    )
    target.add_argument("-c", dest="command", metavar="CODE", help="run a string of code")
    show = parser.add_argument_group("what to show")
    show.add_argument(
        "--report", action="store_true", help="print a profile table at the end instead of the tree"
    )
    show.add_argument(
        "--sort",
        choices=sorted(SORT_KEYS),
        metavar="KEY",
        help="order of the --report table: a pstats sort key (cumtime, tottime, "
        "calls, name, ...) or p50, p90, p99, max (default cumtime)",
    )
    show.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help=f"rows of the --report table (default {REPORT_LIMIT}; 0: all)",
    )
    show.add_argument(
        "--by-task",
        action="store_true",
        help="print the call tree at the end instead, one tree per asyncio "
        "task (named as the program named it) of the calls it ran",
    )
    show.add_argument("--depth", type=int, metavar="N", help="print calls up to N levels deep")
    show.add_argument("--args", action="store_true", help="show argument values")
    show.add_argument("--retval", action="store_true", help="show return values and exceptions")
    show.add_argument("--c-calls", action="store_true", help="trace C functions too")
    show.add_argument("--lines", action="store_true", help="show every line as it runs")
    show.add_argument("--path", action="store_true", help="show file paths")
    show.add_argument(
        "--full-paths",
        action="store_true",
        help="print file paths in full (default: relative to the working "
        "directory, site-packages/ or <stdlib>/)",
    )
    show.add_argument("--elapsed", action="store_true", help="show the time each call took")
    show.add_argument(
        "--all",
        action="store_true",
        help="show library code (stdlib, site-packages) in full; by default the "
        "tree shows only the first frame of each call into it (also with "
        "--stdlib)",
    )
    show.add_argument(
        "--repr-limit",
        type=int,
        default=80,
        metavar="N",
        help="cut argument and return value reprs to N characters (default 80)",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the trace to FILE instead of stderr; a FILE whose extension names "
        f"an export format ({', '.join(SUFFIXES)}, optionally .gz) or --format "
        "saves that format instead (.json: a Chrome/Perfetto trace)",
    )
    out.add_argument("--format", choices=FORMATS, help="export -o FILE in this format")
    out.add_argument("--no-color", action="store_true", help="never use colours")
    out.add_argument(
        "--subprocesses",
        action="store_true",
        help="also trace the program's child processes (subprocess, os.fork, "
        "multiprocessing) and merge their results into the report or -o FILE",
    )
    brk = parser.add_argument_group(
        "breakpoints (alone: no tree, no statistics; the program runs at full speed "
        "outside the functions that hold them)"
    )
    brk.add_argument(
        "--break",
        dest="breaks",
        action="append",
        metavar="WHERE",
        help="stop at FILE.py:LINE or at the first line of pkg.mod.func "
        "(repeatable; WHERE may end in ' if EXPR')",
    )
    brk.add_argument(
        "--break-if", metavar="EXPR", help="condition of every --break that has none of its own"
    )
    brk.add_argument(
        "--break-action",
        choices=("pdb", "print", "stack"),
        default="pdb",
        help="what a breakpoint does: open pdb there (default), print the "
        "location and local variables, or print the call stack",
    )
    brk.add_argument(
        "--errors",
        action="store_true",
        help="when an exception leaves a traced function, print the last "
        "lines that ran in it, with their variables",
    )
    add_filter_arguments(parser)
    return parser


def split_argv(
    parser: argparse.ArgumentParser, argv: Sequence[str]
) -> tuple[list[str], str, str, list[str]]:
    """(our options, mode, target, program arguments): everything from the
    script name, ``-m MODULE`` or ``-c CODE`` on belongs to the program.
    Raises SystemExit (usage error) when there is no target."""
    takes_value = {
        opt for action in parser._actions for opt in action.option_strings if action.nargs != 0
    }
    ours: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            if i + 1 < len(argv):
                return ours, "script", argv[i + 1], list(argv[i + 2 :])
            break
        for flag, mode in (("-m", "module"), ("-c", "command")):
            if arg == flag:
                if i + 1 >= len(argv):
                    parser.error(f"argument {flag}: expected one argument")
                return ours, mode, argv[i + 1], list(argv[i + 2 :])
            if arg.startswith(flag) and not arg.startswith("--"):
                return ours, mode, arg[2:], list(argv[i + 1 :])
        if not arg.startswith("-") or arg == "-":
            return ours, "script", arg, list(argv[i + 1 :])
        ours.append(arg)
        if arg in takes_value:
            if i + 1 < len(argv):
                ours.append(argv[i + 1])
            i += 1
        i += 1
    parser.parse_args(ours)  # --help, --version and bad options first
    parser.error("give a script to run, -m MODULE or -c CODE")
    raise AssertionError("unreachable")


def check_report_args(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> None:
    """--sort and --limit shape the --report table: a usage error without
    it, or for a negative limit."""
    for flag, value in (("--sort", ns.sort), ("--limit", ns.limit)):
        if value is not None and not ns.report:
            parser.error(f"argument {flag}: only with --report")
    if ns.limit is not None and ns.limit < 0:
        parser.error(f"argument --limit: must be 0 (all rows) or more, not {ns.limit}")
    if ns.by_task and ns.report:
        parser.error("argument --by-task: a call tree, not with --report")


def export_plan(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> OutputPlan | None:
    """The export -o asks for (an export format by extension or
    --format), checked before the program runs; None for text output
    (the tree or the report: any extension that names no export format)."""
    if ns.output is None and ns.format is None:
        return None
    try:
        if (
            ns.output is not None
            and choose_format(ns.output, ns.format, unknown_is_text=True)[0] == REPORT
        ):
            return None
        return plan_output(ns.output, ns.format)
    except OSError as exc:
        parser.error(f"argument -o/--output: cannot write {ns.output!r}: {_reason(exc)}")
    except ValueError as exc:
        parser.error(str(exc))
    raise AssertionError("unreachable")


def trace_options(
    ns: argparse.Namespace, output: Any, export: OutputPlan | None = None
) -> dict[str, Any]:
    """trace() options for the parsed command line."""
    opts: dict[str, Any] = dict(c_calls=ns.c_calls, lines=ns.lines, repr_limit=ns.repr_limit)
    if export is not None:
        if export.record:
            opts.update(record=True)
        if export.format in ("chrome", "collapsed"):  # events that show them
            opts.update(args=ns.args, retval=ns.retval)
    opts.update(filter_options_from_args(ns))
    if ns.subprocesses:
        opts["subprocesses"] = True
    if ns.break_if is not None and not ns.breaks:
        raise ValueError("argument --break-if: give --break WHERE too")
    if ns.breaks:
        from .breakpoints import Breakpoint

        opts["breakpoints"] = [
            Breakpoint(
                where, action=ns.break_action, condition=None if " if " in where else ns.break_if
            )
            for where in ns.breaks
        ]
    if ns.errors:
        opts["on_error"] = "errors"
    if (ns.breaks or ns.errors) and not ns.report and export is None:
        # Breakpoints alone: no tree, no statistics.
        opts["profile"] = False
        return opts
    if ns.by_task and export is None:
        opts.update(record=True)
    elif not ns.report and export is None:
        opts.update(
            live=True,
            file=output,
            args=ns.args,
            retval=ns.retval,
            path=ns.path,
            full_paths=ns.full_paths,
            elapsed=ns.elapsed,
            depth=ns.depth,
            tree_library="all" if ns.all or ns.stdlib else "first",
        )
        if ns.no_color:
            opts["color"] = False
    return opts


# ---- preparing the program ------------------------------------------------


class _Program:
    def __init__(
        self, code: types.CodeType, module: types.ModuleType, argv0: str, path0: str
    ) -> None:
        self.code = code
        self.module = module
        self.argv0 = argv0
        self.path0 = path0


class _CannotRun(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _import_sets_cached() -> bool:
    """Whether this interpreter gives modules ``__cached__``: up to 3.14 it
    does (``None`` for a script run as ``__main__``); 3.15 dropped it, from
    ``__main__`` too. This module was imported from source, so it tells."""
    return "__cached__" in globals()


def _module_code_stores_annotations() -> bool:
    """Whether module code keeps its annotations in ``__annotations__``.
    For as long as it did (up to 3.13), CPython's start-up seeded
    ``__main__`` with an empty one; with deferred annotations (PEP 649,
    3.14) module code defines ``__annotate__`` instead and the seed is gone."""
    namespace: dict[str, Any] = {}
    exec(compile("x: int", "<probe>", "exec", dont_inherit=True), namespace)
    return "__annotations__" in namespace


def _new_main(**attrs: Any) -> types.ModuleType:
    """A fresh ``__main__`` with what plain ``python`` of this version puts
    in it: `attrs` (``__cached__`` among them only where the interpreter
    sets it) and the start-up names."""
    if not _import_sets_cached():
        attrs.pop("__cached__", None)
    module = types.ModuleType("__main__")
    module.__dict__.update(attrs)
    module.__dict__["__builtins__"] = __import__("builtins")
    if _module_code_stores_annotations():
        module.__dict__.setdefault("__annotations__", {})
    return module


def _script(path: str) -> _Program:
    try:
        with io.open_code(path) as f:
            source = f.read()
    except OSError as exc:
        raise _CannotRun(
            f"monitrace: can't open file {os.path.abspath(path)!r}: "
            f"[Errno {exc.errno}] {exc.strerror}",
            2,
        ) from None
    filename = os.path.abspath(path)
    code = compile(source, filename, "exec", dont_inherit=True)
    module = _new_main(
        __file__=filename,
        __cached__=None,
        __loader__=importlib.machinery.SourceFileLoader("__main__", filename),
    )
    return _Program(code, module, path, os.path.dirname(os.path.realpath(path)))


def _module(name: str) -> _Program:
    sys.path[0] = os.getcwd()
    try:
        # What `python -m` runs: a package's __main__, a module's code.
        _, spec, code = runpy._get_module_details(name)  # type: ignore[attr-defined]
    except Exception as exc:  # runpy's own error: "No module named ..."
        raise _CannotRun(f"monitrace: {exc}", 1) from None
    module = _new_main(
        __file__=spec.origin,
        __cached__=spec.cached,
        __loader__=spec.loader,
        __package__=spec.parent,
        __spec__=spec,
    )
    return _Program(code, module, spec.origin or name, os.getcwd())


def _command(text: str) -> _Program:
    code = compile(text, "<string>", "exec", dont_inherit=True)
    if sys.version_info >= (3, 13):  # python -c shows its source in tracebacks
        linecache.cache["<string>"] = (len(text), None, text.splitlines(True), "<string>")
    module = _new_main(__loader__=importlib.machinery.BuiltinImporter)
    return _Program(code, module, "-c", "")


def prepare(mode: str, target: str) -> _Program:
    if mode == "module":
        return _module(target)
    if mode == "command":
        return _command(target)
    return _script(target)


# ---- running it -------------------------------------------------------------


def _user_traceback(
    tb: types.TracebackType | None, code: types.CodeType
) -> types.TracebackType | None:
    """The traceback from the program's own first frame on (drop ours)."""
    first = tb
    while first is not None and first.tb_frame.f_code is not code:
        first = first.tb_next
    return first if first is not None else tb


def run(session: Session, program: _Program, args: list[str]) -> None:
    sys.argv = [program.argv0, *args]
    if sys.path:
        sys.path[0] = program.path0
    else:
        sys.path.append(program.path0)
    sys.modules["__main__"] = program.module
    # The program's module code is the root: depth counts from the calls
    # it makes, as the tree shows them, on every thread.
    session.hide(program.code)
    session.start()
    exec(program.code, program.module.__dict__)


def _pdb_quit(exc: BaseException) -> bool:
    """Whether `exc` is pdb's quit (only a breakpoint's pdb raises it)."""
    bdb = sys.modules.get("bdb")
    return bdb is not None and isinstance(exc, bdb.BdbQuit)


def _exit_message(exc: SystemExit) -> SystemExit:
    """What python does with a SystemExit that ends the main code before
    it joins the threads: a code that is neither None nor an int is
    printed on stderr and the status is 1. The exception to raise on."""
    code = exc.code
    if code is None or isinstance(code, int):
        return exc
    try:
        print(code, file=sys.stderr, flush=True)
    except Exception:
        pass
    return SystemExit(1)


def _main_code_ended(session: Session) -> bool:
    """The program's main code has ended: stop tracing, or, when some of
    its non-daemon threads still run, stop tracing only this (the main)
    thread, whose work from now on (a traceback, joining the threads) is
    not the program's. Whether threads still run."""
    if not _outliving_threads():
        session.stop()
        return False
    try:
        session.ignore_thread()
    except RuntimeError:  # not running (the program stopped it)
        pass
    return True


def _join_threads(session: Session, threads: bool) -> None:
    """Keep tracing the program's non-daemon threads that outlived its
    main code until they end, then stop. The interpreter would join them
    now (threading._shutdown, which first runs threading's own exit
    hooks, such as the one that lets executor workers end), so we do it
    here for it, and it joins nothing twice."""
    failed: BaseException | None = None
    try:
        if threads:
            sys.modules["threading"]._shutdown()
    except BaseException as exc:  # said as python says it, and ignored
        failed = exc
    finally:
        session.stop()
    if failed is not None:
        try:
            print(f"Exception ignored on threading shutdown: {failed!r}", file=sys.stderr)
        except Exception:
            pass


def _outliving_threads() -> bool:
    """Whether a non-daemon thread other than the main one is running.
    Read from threading's tables without calling its Python code, which
    the session would trace; a table that is not there means join."""
    threading = sys.modules.get("threading")
    if threading is None:
        return False
    active = getattr(threading, "_active", None)
    main = getattr(threading, "_main_thread", None)
    if not isinstance(active, dict):
        return True
    return any(
        thread is not main and not getattr(thread, "_daemonic", False)
        for thread in list(active.values())
    )


class _LiveFile:
    """``-o FILE`` for the live tree: opened before the program starts and
    written while it runs, in place (a symlink is followed, a FIFO or a
    device stays what it is). A failed write does not reach the tracer or
    the program: the first error is kept and reported once at the end."""

    # The live tree may hand this file whole chunks (not a line at a time).
    monitrace_chunks = True

    def __init__(self, path: str) -> None:
        self.path = path
        self._stream = open(path, "w", encoding="utf-8")
        self.error: OSError | None = None

    def write(self, text: str) -> int:
        if self.error is None:
            try:
                self._stream.write(text)
            except OSError as exc:
                self.error = exc
        return len(text)

    def flush(self) -> None:
        if self.error is None:
            try:
                self._stream.flush()
            except OSError as exc:
                self.error = exc

    def isatty(self) -> bool:
        return self._stream.isatty()

    def close(self) -> None:
        try:
            self._stream.close()
        except OSError as exc:
            if self.error is None:
                self.error = exc


def _text_output(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> str | None:
    """The absolute path of ``-o FILE`` for text output (the tree or the
    report), checked before the program runs and taken from the directory
    the command started in; None for stderr."""
    if ns.output is None:
        return None
    path = os.path.abspath(str(ns.output))
    try:
        check_writable(path)
    except OSError as exc:
        parser.error(f"argument -o/--output: cannot write {ns.output!r}: {_reason(exc)}")
        raise AssertionError("unreachable") from exc
    return path


def _open_live(parser: argparse.ArgumentParser, ns: argparse.Namespace, path: str) -> _LiveFile:
    try:
        return _LiveFile(path)
    except OSError as exc:
        parser.error(f"argument -o/--output: cannot write {ns.output!r}: {_reason(exc)}")
        raise AssertionError("unreachable") from exc


def _cannot_write(path: str, exc: BaseException) -> None:
    """The one line a failed output gets; the exit status stays the
    program's."""
    print(f"monitrace: could not write the trace to {path}: {_reason(exc)}", file=sys.stderr)


def _reason(exc: BaseException) -> str:
    """Why: the OSError's own words, without the file name (said already)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.removeprefix("cannot write the trace: ")
    return str(exc)


def _die_by_sigint() -> int:
    """Exit as an interrupted python does: killed by SIGINT."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except (OSError, ValueError, AttributeError):
        pass
    return 130


def _attach(argv: list[str]) -> int:
    from .attach import main as attach_main

    return attach_main(argv)


def _diff(argv: list[str]) -> int:
    from .diff import main as diff_main

    return diff_main(argv)


def _view(argv: list[str]) -> int:
    from .view import main as view_main

    return view_main(argv)


def _merge(argv: list[str]) -> int:
    from .merge import main as merge_main

    return merge_main(argv)


#: Subcommands, by the first argument; anything else is run as a program
#: (``./attach`` or ``-- attach`` runs a script of that name).
SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {
    "attach": _attach,
    "diff": _diff,
    "view": _view,
    "merge": _merge,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    parser = build_parser()
    ours, mode, target, args = split_argv(parser, argv)
    ns = parser.parse_args(ours)
    check_report_args(parser, ns)
    export = export_plan(parser, ns)
    if ns.by_task and export is not None:
        parser.error("argument --by-task: the tree is text; -o FILE takes a text file here")
    if ns.subprocesses and not ns.report and export is None:
        parser.error(
            "argument --subprocesses: the live call tree is this process's only; "
            "add --report, or -o FILE in an export format, for the merged result"
        )
    text_path = _text_output(parser, ns) if export is None else None
    live = (
        _open_live(parser, ns, text_path)
        if text_path is not None and not (ns.report or ns.by_task)
        else None
    )
    finish = _Finish(session=None, ns=ns, live=live, export=export, text_path=text_path)
    try:
        try:
            session = finish.session = trace(**trace_options(ns, live, export))
        except (TypeError, ValueError) as exc:
            parser.error(str(exc))
        session.warn_unmatched = False  # _finish says it in one line
        session.breakpoint_stream = sys.stderr
        try:
            program = prepare(mode, target)
        except _CannotRun as exc:
            print(exc, file=sys.stderr)
            return exc.status
        except SyntaxError as exc:  # printed as python prints it
            exc = exc.with_traceback(None)
            sys.excepthook(type(exc), exc, None)
            return 1
        # The order of plain python: the main code ends (its traceback or
        # exit message printed), the threads are joined, then we write.
        try:
            run(session, program, args)
        except SystemExit as exc:
            threads = _main_code_ended(session)
            ending = _exit_message(exc)
            _join_threads(session, threads)
            finish()
            raise ending from None
        except BaseException as exc:
            threads = _main_code_ended(session)
            if _pdb_quit(exc):  # q in pdb ends the program quietly, as under pdb
                _join_threads(session, threads)
                finish()
                return 0
            exc = exc.with_traceback(_user_traceback(exc.__traceback__, program.code))
            sys.excepthook(type(exc), exc, exc.__traceback__)
            _join_threads(session, threads)
            finish()
            if isinstance(exc, KeyboardInterrupt):
                finish.close()
                return _die_by_sigint()
            return 1
        _join_threads(session, _main_code_ended(session))
        finish()
        return 0
    finally:
        finish.close()


class _Finish:
    """What the command writes once the program is done: the report, the
    export, the end of the live tree. A failed write is one line on
    stderr; it never changes the program's exit status."""

    def __init__(
        self,
        session: Session | None,
        ns: argparse.Namespace,
        live: _LiveFile | None,
        export: OutputPlan | None,
        text_path: str | None,
    ) -> None:
        self.session = session
        self.ns = ns
        self.live = live
        self.export = export
        self.text_path = text_path

    def __call__(self) -> None:
        session = self.session
        assert session is not None
        if session.options.profile or session.options.on_error:
            for line in session.unmatched_specs(_SPEC_FLAGS):
                print(line, file=sys.stderr)
        if self.ns.report:
            ns = self.ns

            def write_report(f: Any) -> None:
                session.report(
                    sort=ns.sort or "cumtime",
                    limit=REPORT_LIMIT if ns.limit is None else ns.limit or None,
                    file=f,
                    full_paths=ns.full_paths,
                    hint="(--limit 0 prints them all)",
                )

            if self.text_path is None:
                write_report(sys.stderr)
            else:
                try:
                    write_atomic(self.text_path, write_report, binary=False)
                except OSError as exc:
                    _cannot_write(self.text_path, exc)
        if session.options.watch:
            from .watch import write_text

            write_text(session.snapshots(), sys.stderr)
        if self.ns.by_task:
            text = session.tree(by_task=True)

            def write_tree(f: Any) -> None:
                f.write(text)

            if self.text_path is None:
                write_tree(sys.stderr)
            else:
                try:
                    write_atomic(self.text_path, write_tree, binary=False)
                except OSError as exc:
                    _cannot_write(self.text_path, exc)
        if self.export is not None:
            try:
                written = self.export.write(session)
            except (OSError, ValueError) as exc:
                _cannot_write(self.export.path, exc)
            else:
                print(f"monitrace: wrote {written} to {self.export.path}", file=sys.stderr)
        stream: Any = self.live if self.live is not None else sys.stderr
        try:
            stream.flush()
        except Exception:
            pass

    def close(self) -> None:
        live, self.live = self.live, None
        if live is not None:
            live.close()
            if live.error is not None:
                _cannot_write(live.path, live.error)
