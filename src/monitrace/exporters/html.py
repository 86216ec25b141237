"""One self-contained HTML report: a flame graph, the call tree, the
statistics table, per-thread views and a capped timeline.

The page is built from aggregated data (:mod:`.html_data`), embedded as
JSON in a ``<script type="application/json">`` block, and drawn by the
script and style inlined from ``html_page.js`` and ``html_page.css``
(written for monitrace: no library, no CDN, no request of any kind). The
data is escaped so that no name or repr in it can end the block: ``<``,
``>`` and ``&`` are written as JSON ``\\u`` escapes. The script puts text
into the page with ``textContent`` only, never as HTML.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import IO, Any, Protocol

from .html_data import Page, from_file, from_source
from .source import Source

__all__ = ["Page", "from_file", "from_source", "render", "write", "write_page"]

_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def embed_json(data: Any) -> str:
    """`data` as JSON that is safe inside a script element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.translate(_ESCAPES)


class _Renderable(Protocol):
    title: str

    def to_data(self) -> dict[str, Any]: ...


def render(page: _Renderable) -> str:
    """The whole HTML document of `page` (a report's :class:`Page`, or a
    diff's page: the script draws what the data holds)."""
    style = _asset("html_page.css")
    script = _asset("html_page.js")
    # Neither asset may close its own element early.
    assert "</style" not in style.lower() and "</script" not in script.lower()
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        # No request leaves the page: everything it needs is in it.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(page.title)} \u2014 monitrace</title>\n"
        f"<style>\n{style}</style>\n</head>\n<body>\n"
        "<noscript>This report needs JavaScript to draw its views.</noscript>\n"
        f'<script type="application/json" id="mt-data">{embed_json(page.to_data())}</script>\n'
        f"<script>\n{script}</script>\n</body>\n</html>\n"
    )


def write_page(page: _Renderable, out: IO[str]) -> None:
    out.write(render(page))


def write(source: Source, out: IO[str]) -> None:
    """Write `source` as an HTML report to the text stream `out`."""
    write_page(from_source(source), out)
