"""Results of several processes as one: monitrace JSON and pstats are
summed function by function, Chrome traces are concatenated with every
process on a pid of its own.

Used by ``trace(subprocesses=True)`` (see :mod:`monitrace.children`) and
by ``monitrace merge FILE... -o OUT``.
"""

from __future__ import annotations

import argparse
import json
import marshal
import os
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any

__all__ = ["KINDS", "main", "merge", "merge_chrome", "merge_json", "merge_pstats", "read"]

#: What a saved result is, as merge tells them apart.
KINDS = ("json", "pstats", "chrome")
_SUFFIX_KINDS = {".json": ("json", "chrome"), ".pstats": ("pstats",), ".prof": ("pstats",)}


# ---- reading ------------------------------------------------------------------


def read(path: str) -> tuple[str, Any]:
    """(kind, data) of a saved result; ValueError (or OSError) says why
    it is none that merge takes."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        data = json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except ValueError:
        return "pstats", _pstats_table(raw)
    if isinstance(data, dict) and data.get("schema") == "monitrace/1":
        if not isinstance(data.get("functions"), list):
            raise ValueError("monitrace JSON without its functions")
        return "json", data
    if isinstance(data, dict) and isinstance(data.get("traceEvents"), list):
        return "chrome", data
    if isinstance(data, list) and all(isinstance(e, dict) for e in data):
        return "chrome", {"traceEvents": data}
    raise ValueError("JSON that is neither monitrace's (schema monitrace/1) nor a Chrome trace")


def _pstats_table(raw: bytes) -> dict[Any, Any]:
    try:
        table = marshal.loads(raw)
    except (ValueError, EOFError, TypeError):
        table = None
    if not isinstance(table, dict) or not all(
        isinstance(k, tuple) and len(k) == 3 and isinstance(v, tuple) and len(v) == 5
        for k, v in table.items()
    ):
        raise ValueError("neither JSON (monitrace, Chrome trace) nor a pstats file")
    return table


# ---- merging ------------------------------------------------------------------


def _identity(function: dict[str, Any]) -> tuple[Any, ...]:
    return (
        function.get("kind"),
        function.get("module"),
        function.get("qualname"),
        function.get("filename"),
        function.get("lineno"),
    )


def merge_json(docs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One ``monitrace/1`` document holding every process of `docs`: one
    function table (a function met in several processes is one entry),
    each process's threads with a ``pid`` field (their rows, so per-process
    numbers stay readable), and ``processes`` (pid, argv, total_ns).
    Readers that sum the rows of all threads (reports, diff, view) thus sum
    the processes. Recorded events are left out: their times and threads
    belong to one process each (the merged Chrome trace keeps them)."""
    if not docs:
        raise ValueError("nothing to merge")
    functions: list[dict[str, Any]] = []
    ids: dict[tuple[Any, ...], int] = {}
    threads: list[dict[str, Any]] = []
    finished_rows: list[dict[str, Any]] = []
    finished_edges: list[dict[str, Any]] = []
    retired: list[dict[str, Any]] = []
    processes: list[dict[str, Any]] = []
    for doc in docs:
        remap: dict[Any, int] = {}
        for function in doc["functions"]:
            key = _identity(function)
            if key not in ids:
                ids[key] = len(functions)
                functions.append(dict(function, id=ids[key]))
            remap[function["id"]] = ids[key]

        def row(r: dict[str, Any]) -> dict[str, Any]:
            return dict(r, function=remap[r["function"]])

        def edge(e: dict[str, Any]) -> dict[str, Any]:
            return dict(
                e,
                caller=remap.get(e["caller"], e["caller"]),
                callee=remap.get(e["callee"], e["callee"]),
            )

        pid = doc.get("pid")
        for th in doc.get("threads", ()):
            threads.append(
                dict(
                    th,
                    pid=th.get("pid", pid),
                    stats=[row(r) for r in th.get("stats", ()) if r["function"] in remap],
                    edges=[edge(e) for e in th.get("edges", ())],
                )
            )
        finished = doc.get("finished_threads") or {}
        finished_rows.extend(row(r) for r in finished.get("stats", ()) if r["function"] in remap)
        finished_edges.extend(edge(e) for e in finished.get("edges", ()))
        retired.extend(dict(r, pid=r.get("pid", pid)) for r in doc.get("retired", ()))
        processes.extend(
            doc.get("processes")
            or [{"pid": pid, "argv": doc.get("argv"), "total_ns": doc.get("total_ns")}]
        )
    # Thread names say their process once processes share the page.
    pids = {th.get("pid") for th in threads}
    if len(pids) > 1:
        for th in threads:
            name = th.get("name") or f"Thread-{th.get('ident')}"
            if not name.startswith("pid "):
                th["name"] = f"pid {th.get('pid')} {name}"
    first = docs[0]
    kept = ("schema", "generator", "python", "pid", "argv", "clock", "ns_per_tick")
    head: dict[str, Any] = {k: first[k] for k in kept if k in first}
    # The processes ran (mostly) at the same time: the longest is the span.
    head["total_ns"] = max((d.get("total_ns") or 0) for d in docs)
    head.update(
        processes=processes,
        functions=functions,
        threads=threads,
        finished_threads={"stats": finished_rows, "edges": finished_edges},
        retired=retired,
    )
    return head


def merge_pstats(tables: Sequence[dict[Any, Any]]) -> dict[Any, Any]:
    """pstats tables summed, as ``pstats.Stats.add`` sums them (callers too)."""
    import pstats

    out: dict[Any, Any] = {}
    for table in tables:
        for func, stat in table.items():
            old = out.get(func)
            if old is None:
                cc, nc, tt, ct, callers = stat
                out[func] = (cc, nc, tt, ct, dict(callers))
            else:
                out[func] = pstats.add_func_stats(old, stat)  # type: ignore[attr-defined]
    return out


def merge_chrome(
    docs: Sequence[dict[str, Any]], shifts_us: Sequence[float] | None = None
) -> dict[str, Any]:
    """The events of every trace in one: a pid that an earlier trace used
    already (two runs of one program, a reused pid) is renamed to a free
    one, its process name saying the pid it had. ``shifts_us`` (one per
    doc): microseconds added to that trace's timestamps, to line the
    processes up on one time axis."""
    used: set[Any] = set()
    events: list[Any] = []
    for n, doc in enumerate(docs):
        shift = shifts_us[n] if shifts_us is not None else 0.0
        own = doc["traceEvents"]
        pids = []
        for ev in own:
            pid = ev.get("pid") if isinstance(ev, dict) else None
            if pid is not None and pid not in pids:
                pids.append(pid)
        rename: dict[Any, Any] = {}
        for pid in pids:
            new = pid
            if pid in used:
                new = max([p for p in used if isinstance(p, int)] + [0]) + 1
                rename[pid] = new
            used.add(new)
        for ev in own:
            if not isinstance(ev, dict):
                continue
            pid = ev.get("pid")
            if pid in rename or shift:
                ev = dict(ev)
                if pid in rename:
                    ev["pid"] = rename[pid]
                    if ev.get("ph") == "M" and ev.get("name") == "process_name":
                        args = dict(ev.get("args") or {})
                        args["name"] = f"{args.get('name', '')} (pid {pid})".strip()
                        ev["args"] = args
                if shift and isinstance(ev.get("ts"), (int, float)):
                    ev["ts"] = ev["ts"] + shift
            events.append(ev)
    head = {k: v for k, v in (docs[0] if docs else {}).items() if k != "traceEvents"}
    head["traceEvents"] = events
    return head


def merge(kind: str, items: Sequence[Any]) -> Any:
    if kind == "json":
        return merge_json(items)
    if kind == "pstats":
        return merge_pstats(items)
    return merge_chrome(items)


# ---- writing ------------------------------------------------------------------


def dump(kind: str, data: Any, out: IO[Any]) -> None:
    """Write merged `data` of `kind` to `out` (binary for pstats)."""
    if kind == "pstats":
        marshal.dump(data, out)
    else:
        json.dump(data, out, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        out.write("\n")


def write(kind: str, data: Any, path: str) -> None:
    from .exporters import write_atomic

    write_atomic(path, lambda out: dump(kind, data, out), binary=kind == "pstats")


# ---- monitrace merge ----------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="monitrace merge",
        description="Merge saved results of several processes into one file: monitrace "
        "JSON and pstats by summing each function's numbers, Chrome traces "
        "by putting their events together (a pid two traces share is "
        "renamed in the later one). All inputs must be of one kind.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="saved results to merge")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        required=True,
        help="where to write the merged result (.json, .pstats or .prof; "
        ".html for a report page of merged monitrace JSON or pstats)",
    )
    return p


def main(argv: Sequence[str]) -> int:
    """0 when written; 2, with one line on stderr, for bad input."""
    p = parser()
    ns = p.parse_args(list(argv))
    try:
        kind, items = _read_all(ns.files)
        out = ns.output
        if any(os.path.abspath(out) == os.path.abspath(f) for f in ns.files):
            raise ValueError(f"-o {out!r} is one of the inputs")
        suffix = os.path.splitext(out)[1].lower()
        html = suffix in (".html", ".htm")
        if html and kind == "chrome":
            raise ValueError("-o .html takes monitrace JSON or pstats inputs, not Chrome traces")
        if not html and kind not in _SUFFIX_KINDS.get(suffix, ()):
            wanted = ".json" if kind != "pstats" else ".pstats or .prof"
            raise ValueError(f"-o {out!r}: merged {kind} inputs are written to {wanted}")
        merged = merge(kind, items)
        if html:
            write_html(kind, merged, out)
        else:
            write(kind, merged, out)
    except (OSError, ValueError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        name = getattr(exc, "filename", None)
        where = f"{name}: " if name and str(name) not in str(detail) else ""
        print(f"monitrace merge: {where}{detail}", file=sys.stderr)
        return 2
    print(f"monitrace merge: wrote {kind} of {len(items)} files to {out}", file=sys.stderr)
    return 0


def _read_all(files: Iterable[str]) -> tuple[str, list[Any]]:
    kind: str | None = None
    items: list[Any] = []
    first = ""
    for path in files:
        try:
            this, data = read(path)
        except ValueError as exc:
            raise ValueError(f"cannot merge {path!r}: {exc}") from None
        except OSError as exc:
            raise ValueError(f"cannot read {path!r}: {exc.strerror or exc}") from None
        if kind is None:
            kind, first = this, path
        elif this != kind:
            raise ValueError(
                f"cannot merge {path!r} ({this}) with {first!r} ({kind}): "
                "all inputs must be of one kind"
            )
        items.append(data)
    assert kind is not None
    return kind, items


def write_html(kind: str, merged: Any, path: str, title: str | None = None) -> None:
    """The HTML report of merged JSON or pstats data (read back through a
    private temporary file, as ``monitrace view`` reads a saved run)."""
    import tempfile

    from .exporters import write_atomic
    from .exporters.html import from_file, write_page

    fd, tmp = tempfile.mkstemp(suffix=".json" if kind == "json" else ".pstats")
    try:
        with os.fdopen(fd, "w" if kind == "json" else "wb") as f:
            dump(kind, merged, f)
        page = from_file(tmp)
    finally:
        os.unlink(tmp)
    page.title = title if title is not None else os.path.basename(path)
    write_atomic(path, lambda f: write_page(page, f), binary=False)


if __name__ == "__main__":  # python -m monitrace.merge
    sys.exit(main(sys.argv[1:]))
