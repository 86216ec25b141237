"""``monitrace view FILE -o report.html``: the HTML report of a saved run.

FILE is monitrace JSON (``s.save("run.json", "json")``; with recorded
events the page has the exact call tree, flame graph and timeline), a
pytest ``--monitrace-out`` summary, a pstats file (monitrace's or
cProfile's: table and an approximate tree from caller edges), or a
Chrome trace monitrace wrote (its begin/end events are read back into the
tree, the timeline and the table).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="monitrace view",
        description="Write the self-contained HTML report (flame graph, call tree, "
        "statistics, timeline) of a saved run: monitrace JSON, a pytest "
        "summary, pstats, or a Chrome trace monitrace wrote.",
    )
    p.add_argument("file", help="the saved run")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE.html",
        default=None,
        help="where to write the page (default: FILE with .html for its extension)",
    )
    p.add_argument("--title", default=None, help="the page's title (default: FILE's name)")
    p.add_argument(
        "--open", action="store_true", help="open the page in the default web browser once written"
    )
    return p


def main(argv: Sequence[str]) -> int:
    """0 when the page was written; 2 for bad arguments or an input that
    cannot be read (with one line saying why)."""
    from .exporters import check_writable, write_atomic
    from .exporters.html import from_file, write_page

    p = parser()
    ns = p.parse_args(list(argv))
    out = ns.output
    if out is None:
        out = os.path.splitext(ns.file)[0] + ".html"
    if os.path.abspath(out) == os.path.abspath(ns.file):
        p.error(f"argument -o/--output: {out!r} is the input file")
    try:
        check_writable(out)
    except OSError as exc:
        p.error(f"argument -o/--output: cannot write {out!r}: {exc.strerror or exc}")
    try:
        page = from_file(ns.file)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        print(f"monitrace view: cannot read {ns.file!r}: {detail}", file=sys.stderr)
        return 2
    if ns.title is not None:
        page.title = ns.title
    try:
        write_atomic(out, lambda f: write_page(page, f), binary=False)
    except OSError as exc:
        print(f"monitrace view: {exc}", file=sys.stderr)
        return 2
    print(f"monitrace view: wrote {out}", file=sys.stderr)
    if ns.open:
        import pathlib
        import webbrowser

        webbrowser.open(pathlib.Path(os.path.abspath(out)).as_uri())
    return 0


if __name__ == "__main__":  # python -m monitrace.view
    sys.exit(main(sys.argv[1:]))
