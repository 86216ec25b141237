"""Writing a session to a file: format choice, path checks, atomic writes.

Every exporter reads a :class:`~monitrace.exporters.source.Source` (a
snapshot, plus the recorded events for the event formats); none touches
the C internals. One module per format; :data:`SUFFIXES` maps file
extensions to formats, and a trailing ``.gz`` compresses any text format.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import secrets
import stat
from collections.abc import Callable
from typing import IO, Any

from . import chrome as chrome_format
from . import collapsed as collapsed_format
from . import html as html_format
from . import json as json_format
from . import pstats as pstats_format
from .source import Source

__all__ = [
    "FORMATS",
    "SUFFIXES",
    "Source",
    "check_writable",
    "needs_events",
    "resolve_format",
    "save",
    "wants_events",
    "write_atomic",
]


@dataclasses.dataclass(frozen=True)
class _Format:
    write: Callable[[Source, IO[Any]], None]
    binary: bool
    needs_events: bool = False
    # Much richer from recorded events (html: the exact call tree and the
    # timeline), though statistics alone also make it: the commands turn
    # record mode on for it.
    wants_events: bool = False
    # Streams the recorded events from the C event log (a _core.Tracer).
    write_log: Callable[[Source, IO[Any], Any, int], None] | None = None


_FORMATS: dict[str, _Format] = {
    "pstats": _Format(pstats_format.write, binary=True),
    "json": _Format(json_format.write, binary=False),
    "chrome": _Format(
        chrome_format.write, binary=False, needs_events=True, write_log=chrome_format.write_log
    ),
    "collapsed": _Format(
        collapsed_format.write,
        binary=False,
        needs_events=True,
        write_log=collapsed_format.write_log,
    ),
    "html": _Format(html_format.write, binary=False, wants_events=True),
}

FORMATS: tuple[str, ...] = tuple(_FORMATS)

SUFFIXES: dict[str, str] = {
    ".pstats": "pstats",
    ".prof": "pstats",
    ".json": "json",  # "chrome" when the session recorded events
    ".folded": "collapsed",
    ".collapsed": "collapsed",
    ".html": "html",
    ".htm": "html",
}


def needs_events(format: str) -> bool:
    """Whether `format` is written from recorded events (record mode)."""
    return _FORMATS[format].needs_events


def wants_events(format: str) -> bool:
    """Whether `format` needs or is much richer with recorded events."""
    spec = _FORMATS[format]
    return spec.needs_events or spec.wants_events


def _split_gz(name: str) -> tuple[str, bool]:
    if name.lower().endswith(".gz"):
        return name[:-3], True
    return name, False


def _fspath(path: str | os.PathLike[str]) -> str:
    name = os.fspath(path)
    if not isinstance(name, str):
        raise TypeError(f"path must be a str or os.PathLike[str], not {type(name).__name__}")
    return name


def resolve_format(
    path: str | os.PathLike[str], format: str | None = None, *, events: bool = False
) -> str:
    """The format to write `path` in: `format` when given (checked), else
    chosen from the extension (`events`: whether the session records
    events, which decides what ``.json`` means). Raises ValueError naming
    the path or the format when neither says."""
    name = _fspath(path)
    base, gz = _split_gz(name)
    if format is not None:
        if not isinstance(format, str) or format not in _FORMATS:
            raise ValueError(
                f"format must be one of {', '.join(map(repr, FORMATS))} or None, not {format!r}"
            )
        chosen = format
    else:
        suffix = os.path.splitext(base)[1].lower()
        if suffix not in SUFFIXES:
            raise ValueError(
                f"cannot tell the format of {name!r} from its extension "
                f"(known: {', '.join(sorted(SUFFIXES))}, text formats optionally "
                f"followed by .gz); pass format= one of {', '.join(FORMATS)}"
            )
        chosen = SUFFIXES[suffix]
        if chosen == "json" and events:
            chosen = "chrome"
    if _FORMATS[chosen].needs_events and not events:
        raise ValueError(
            f"the {chosen} format needs recorded events, and this session records "
            f"none ({name!r}): trace with record=True, or choose pstats or json"
        )
    if gz and _FORMATS[chosen].binary:
        raise ValueError(f"the {chosen} format cannot be gzip-compressed: {name!r}")
    return chosen


def _cannot(exc: OSError, name: str) -> OSError:
    reason = exc.strerror or str(exc)
    return type(exc)(exc.errno, f"cannot write the trace: {reason}", name)


def _landing(name: str) -> tuple[str, os.stat_result | None]:
    """Where a write to `name` lands: the end of its symlink chain (the
    link stays a link) and what is there now (None: nothing yet)."""
    target = os.path.realpath(name)
    try:
        return target, os.stat(target)
    except FileNotFoundError:
        return target, None
    except OSError as exc:  # a symlink loop, a component that is a file
        raise _cannot(exc, name) from None


def _replaceable(st: os.stat_result | None) -> bool:
    """Whether a write replaces the file with a new one (a new path or a
    regular file) rather than writing into what is there (a FIFO, a
    device), which must stay what it is."""
    return st is None or stat.S_ISREG(st.st_mode)


def _create_temp(target: str) -> tuple[int, str]:
    """A new file beside `target`, created with the usual permissions (the
    umask applies, as for any new file)."""
    directory, base = os.path.split(target)
    while True:
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue


def check_writable(path: str | os.PathLike[str]) -> None:
    """Raise a clear OSError naming `path` if the trace cannot be written
    there (missing directory, a directory or a socket in the way, no
    permission). Leaves nothing behind. Call it before tracing starts."""
    name = _fspath(path)
    target, st = _landing(name)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(21, "cannot write the trace: it is a directory", name)
    if st is not None and stat.S_ISSOCK(st.st_mode):
        raise OSError(6, "cannot write the trace: it is a socket", name)
    if not _replaceable(st):
        if not os.access(target, os.W_OK):
            raise PermissionError(13, "cannot write the trace: permission denied", name)
        return
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(2, f"cannot write the trace: no directory {directory!r}", name)
    try:
        fd, tmp = _create_temp(target)
    except OSError as exc:  # the file is replaced by a new one made there
        reason = exc.strerror or str(exc)
        raise type(exc)(
            exc.errno,
            f"cannot write the trace: cannot create a file in {directory!r}: {reason}",
            name,
        ) from None
    os.close(fd)
    os.unlink(tmp)


def write_atomic(
    path: str | os.PathLike[str],
    writer: Callable[[IO[Any]], None],
    *,
    binary: bool,
    gz: bool = False,
) -> None:
    """Run `writer` on the file at `path`. A new path or a regular file is
    written to a temporary file beside it and renamed over it: readers
    never see a half-written file, and a failure leaves any previous file
    as it was (the new file keeps its permission bits). A symlink is followed: its
    target is written and the link stays. Anything else (a FIFO, a
    device such as /dev/null) is written in place and stays what it is.
    Text writers get a UTF-8 stream. An OSError while writing names
    `path`."""
    name = _fspath(path)
    check_writable(name)
    target, st = _landing(name)
    if not _replaceable(st):
        try:
            fd = os.open(target, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
            _write_to(fd, writer, binary, gz)
        except OSError as exc:
            raise _cannot(exc, name) from None
        return
    try:
        fd, tmp = _create_temp(target)
    except OSError as exc:
        raise _cannot(exc, name) from None
    try:
        if st is not None:
            os.fchmod(fd, st.st_mode & 0o777)
        _write_to(fd, writer, binary, gz)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _cannot(exc, name) from None
        raise


def _write_to(fd: int, writer: Callable[[IO[Any]], None], binary: bool, gz: bool) -> None:
    """Run `writer` on the open file `fd`, and close it."""
    with os.fdopen(fd, "wb") as raw:
        if gz:
            # mtime=0: the same trace always gives the same bytes. Level 6
            # (zlib's and gzip(1)'s default) compresses traces about 2x
            # faster than gzip.GzipFile's 9, for files about 15% larger.
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as zipped:
                _run(writer, zipped, binary)
        else:
            _run(writer, raw, binary)


def _run(
    writer: Callable[[IO[Any]], None], stream: IO[bytes] | gzip.GzipFile, binary: bool
) -> None:
    if binary:
        writer(stream)  # type: ignore[arg-type]  # GzipFile is a binary stream
        return
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="\n")
    try:
        writer(text)
        text.flush()
    finally:
        text.detach()


def save(
    source: Source,
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    log: Any = None,
    min_duration_ns: int = 0,
) -> str:
    """Write `source` to `path` in `format` (default: from the extension).
    `log`, the session's C tracer, lets the event formats stream its
    recorded events in C (leaving out activations shorter than
    `min_duration_ns`, as the session's events() does). Returns the
    format used."""
    chosen = resolve_format(path, format, events=source.events is not None)
    spec = _FORMATS[chosen]
    _base, gz = _split_gz(_fspath(path))
    write_log = spec.write_log
    if log is not None and write_log is not None:

        def writer(out: IO[Any]) -> None:
            write_log(source, out, log, min_duration_ns)
    else:

        def writer(out: IO[Any]) -> None:
            spec.write(source, out)

    write_atomic(path, writer, binary=spec.binary, gz=gz)
    return chosen
