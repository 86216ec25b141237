"""The HTML report: the data it embeds (counts cross-checked against
cProfile), every way in (save, -o, view, pytest --monitrace-html), and the
page as headless Chromium renders it: names, counts and the flame graph
in the DOM, no console message, no request, a screenshot that is not
blank, and names that stay text."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib

import pytest

import monitrace
from conftest import cprofile_counts
from monitrace.exporters import html_data
from monitrace.exporters.html import embed_json, from_file
from monitrace.view import main as view_main

HERE = os.path.abspath(__file__)


# ---- workload ---------------------------------------------------------------------


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def leaf():
    return 1


def branch(k):
    for _ in range(k):
        leaf()
    return fib(10)


def program():
    branch(3)
    branch(4)
    return leaf()


#: Calls program() makes, itself included: branch 2, leaf 3 + 4 + 1, fib 2 * 177.
CALLS = 1 + 2 + 8 + 2 * 177


def deep(n):
    return 0 if n == 0 else 1 + deep(n - 1)


# ---- reading a page ---------------------------------------------------------------

_DATA = re.compile(r'<script type="application/json" id="mt-data">(.*?)</script>', re.S)


def page_data(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found = _DATA.findall(text)
    assert len(found) == 1
    return json.loads(found[0])


def fn_index(data, suffix):
    hits = [i for i, f in enumerate(data["functions"]) if f[0].endswith(suffix)]
    assert len(hits) == 1, (suffix, [f[0] for f in data["functions"]])
    return hits[0]


def tree_nodes(view):
    """(function, path of functions, calls, total, self) of a flat tree."""
    flat = view["tree"]
    paths, out = [], []
    for i in range(0, len(flat), 5):
        fn, parent, calls, total, self_ = flat[i : i + 5]
        path = (paths[parent] if parent >= 0 else ()) + (fn,)
        paths.append(path)
        out.append((fn, path, calls, total, self_))
    return out


def stats_row(view, fn):
    rows = [r for r in view["stats"] if r[0] == fn]
    assert len(rows) == 1
    return rows[0]


# ---- Chromium ----------------------------------------------------------------------


def chromium_path():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "!!! NO CHROMIUM: the HTML report was not rendered; install Debian's "
        "`chromium` package (make test does where apt is available)"
    )


_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-extensions",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]


class Rendered:
    def __init__(self, dom, log, requests, png):
        self.dom, self.log, self.requests, self.png = dom, log, requests, png

    def console(self):
        return [line for line in self.log.splitlines() if ":CONSOLE" in line]

    def status(self):
        m = re.search(r'<div id="mt-status"([^>]*)>', self.dom)
        assert m, "no status element: the script did not run"
        return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', m.group(1)))


def render(path, tmp_path, *, screenshot=True):
    """The DOM after scripts ran, the browser's log, the requests the page
    made (from a net log, Chromium's own background traffic left out) and
    a screenshot."""
    exe = chromium_path()
    profile = tmp_path / "chromium-profile"
    net = tmp_path / "net.json"
    url = "file://" + os.path.abspath(path)
    # The browser is not ours to instrument (scripts/asan.sh preloads
    # its runtime into everything the suite starts).
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONMALLOC")
    }
    proc = subprocess.run(
        [exe, *_FLAGS, f"--user-data-dir={profile}", f"--log-net-log={net}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    requests = []
    with open(net) as f:
        log = json.load(f)
    for ev in log["events"]:
        params = ev.get("params") or {}
        if "url" in params and "file://" in str(params.get("network_isolation_key", "")):
            requests.append(params["url"])
    png = None
    if screenshot:
        shot = tmp_path / "shot.png"
        subprocess.run(
            [
                exe,
                *_FLAGS,
                f"--user-data-dir={profile}",
                "--window-size=1200,900",
                f"--screenshot={shot}",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            env=env,
        )
        png = shot.read_bytes()
    return Rendered(proc.stdout, proc.stderr, requests, png)


def png_colours(png):
    """The distinct colours of a PNG (8-bit RGB or RGBA, not interlaced),
    decoded with zlib."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, head = 8, b"", None
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        body = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, ctype, _c, _f, interlace = head
    assert depth == 8 and ctype in (2, 6) and interlace == 0, head
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(height):
        start = y * (stride + 1)
        ftype, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 8 == 0:
            colours.update(bytes(line[i : i + 3]) for i in range(0, stride, bpp * 4))
        prev = line
    return colours


def chromatic(colours):
    """The colours that are not greys: the flame graph, links, notes
    (text alone, even anti-aliased, is grey)."""
    return {c for c in colours if max(c) - min(c) > 60}


def assert_clean(r):
    assert r.console() == [], r.console()
    assert r.requests == [], r.requests
    status = r.status()
    assert status.get("ready") == "1", status
    assert 'id="mt-errors"></pre>' in r.dom


# ---- a recorded session -------------------------------------------------------------


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    out = tmp_path_factory.mktemp("html") / "report.html"
    with monitrace.trace(record=True) as s:
        program()
    assert s.save(out) == "html"
    return out


def test_recorded_page_counts_match_cprofile(recorded):
    data = page_data(recorded)
    counts = cprofile_counts(program, filename=HERE)
    every = data["views"][0]
    for name, line in (
        ("fib", fib.__code__.co_firstlineno),
        ("branch", branch.__code__.co_firstlineno),
        ("leaf", leaf.__code__.co_firstlineno),
    ):
        fn = fn_index(data, "." + name)
        row = stats_row(every, fn)
        assert (row[1], row[2]) == counts[(line, name)], name
        assert data["functions"][fn][1] == "tests/test_html.py" or data["functions"][fn][
            1
        ].endswith("test_html.py")
        # The tree, summed over every path of the function, counts the same.
        nodes = [n for n in tree_nodes(every) if n[0] == fn]
        assert sum(n[2] for n in nodes) == row[1]
    assert data["tree_kind"] == "exact"
    assert data["notes"] == []  # nothing capped, nothing left out
    # Paths are exact: leaf under branch (7 calls) and leaf under program (1).
    leaf_fn, branch_fn, prog_fn = (fn_index(data, s) for s in (".leaf", ".branch", ".program"))
    by_path = {n[1][1:]: n[2] for n in tree_nodes(every)}
    assert by_path[(prog_fn, branch_fn, leaf_fn)] == 7
    assert by_path[(prog_fn, leaf_fn)] == 1
    # One thread here, and its own view agrees with the merged one.
    assert len(data["views"]) == 2
    assert sum(n[2] for n in tree_nodes(data["views"][1]) if n[0] == leaf_fn) == 8


def test_recorded_page_renders(recorded, tmp_path):
    r = render(recorded, tmp_path)
    assert_clean(r)
    data = page_data(recorded)
    fib_fn = fn_index(data, ".fib")
    fib_name = data["functions"][fib_fn][0]
    status = r.status()
    assert int(status["flame-nodes"]) >= 10
    assert int(status["timeline-bars"]) == CALLS
    # The flame graph: a frame per path of program's callees, fib's included.
    frames = re.findall(r'<div class="fn[^"]*"[^>]*data-fn="(\d+)"[^>]*>([^<]*)</div>', r.dom)
    assert (str(fib_fn), fib_name) in frames
    # The table: fib's row, with cProfile's ncalls (total/primitive).
    assert re.search(r"<td class=\"num\">354/2</td>.*?" + re.escape(fib_name), r.dom)
    # The tree shows call counts.
    assert re.search(r'<div class="num">7</div>', r.dom)
    assert len(chromatic(png_colours(r.png))) > 20


def test_timeline_is_capped_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(html_data, "TIMELINE_CAP", 50)
    with monitrace.trace(record=True) as s:
        program()
    out = tmp_path / "capped.html"
    s.save(out)
    data = page_data(out)
    view = data["views"][1]
    assert data["timeline_cap"] == 50
    assert len(view["bars"]) == 4 * 50
    assert view["calls_seen"] == CALLS
    assert any("first 50 calls" in note for note in data["notes"])
    # Capped bars still end: every drawn call has its duration.
    assert all(view["bars"][i + 2] >= 0 for i in range(0, len(view["bars"]), 4))


def test_record_limit_is_stated(tmp_path):
    from monitrace.events import RecordLimitWarning

    with pytest.warns(RecordLimitWarning):
        with monitrace.trace(record=100) as s:
            program()
    out = tmp_path / "limited.html"
    s.save(out)
    data = page_data(out)
    leaf_fn = fn_index(data, ".leaf")
    assert stats_row(data["views"][0], leaf_fn)[1] == 8  # the table counts all
    in_tree = sum(n[2] for n in tree_nodes(data["views"][0]))
    assert in_tree < CALLS
    assert any(f"hold {in_tree:,} of the {CALLS:,} calls" in n for n in data["notes"])


def test_tree_cap_folds_small_paths_keeping_totals(tmp_path, monkeypatch):
    monkeypatch.setattr(html_data, "TREE_NODE_CAP", 5)
    with monitrace.trace(record=True) as s:
        program()
    out = tmp_path / "folded.html"
    s.save(out)
    nodes = tree_nodes(page_data(out)["views"][0])
    assert len([n for n in nodes if n[0] != -2]) <= 6  # the root plus five
    assert any(n[0] == -2 for n in nodes)
    root_total = nodes[0][3]
    top = [n for n in nodes if len(n[1]) == 2]
    assert sum(n[3] for n in top) == root_total


def test_deep_recursion_builds_and_renders(tmp_path):
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        with monitrace.trace(record=True) as s:
            deep(3000)
    finally:
        sys.setrecursionlimit(limit)
    out = tmp_path / "deep.html"
    s.save(out)
    data = page_data(out)
    fn = fn_index(data, ".deep")
    assert sum(n[2] for n in tree_nodes(data["views"][0]) if n[0] == fn) == 3001
    r = render(out, tmp_path, screenshot=False)
    assert_clean(r)


# ---- stats only ------------------------------------------------------------------------


def test_stats_session_has_table_and_labelled_approximate_tree(tmp_path):
    with monitrace.trace() as s:
        program()
    out = tmp_path / "stats.html"
    s.save(out)
    data = page_data(out)
    assert data["tree_kind"] == "approximate"
    assert any("approximate" in n for n in data["notes"])
    every = data["views"][0]
    assert every["tree"] is None and every["bars"] is None
    branch_fn, leaf_fn = fn_index(data, ".branch"), fn_index(data, ".leaf")
    edges = {(e[0], e[1]): e[2] for e in every["edges"]}
    assert edges[(branch_fn, leaf_fn)] == 7
    r = render(out, tmp_path)
    assert_clean(r)
    assert r.status()["flame-nodes"] == "0"
    assert "No flame graph" in r.dom and "Approximate" in r.dom
    # program -> branch -> leaf: branch has one caller, so its callees'
    # pairs are whole and shown exact (no "~" estimate).
    assert int(r.status()["tree-rows"]) >= 5
    assert '<div class="num">7</div>' in r.dom
    assert '<div class="num">~' not in r.dom


# ---- hostile names ------------------------------------------------------------------------

EVIL = "</script><script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned2'\">"


def test_names_are_never_markup(tmp_path):
    ns: dict = {}
    exec("def f():\n    return 1\n", ns)
    f = ns["f"]
    f.__code__ = f.__code__.replace(
        co_name=EVIL,
        co_qualname=EVIL,
        co_filename="<img src=y onerror=\"document.title='pwned3'\">",
    )
    with monitrace.trace(record=True) as s:
        f()
        f()
    out = tmp_path / "evil.html"
    s.save(out)
    text = out.read_text()
    assert "</script><script>" not in text
    data = page_data(out)
    assert any(EVIL in fn[0] for fn in data["functions"])
    r = render(out, tmp_path)
    assert_clean(r)
    assert "pwned" not in re.search(r"<title>(.*?)</title>", r.dom, re.S).group(1)
    assert "<img" not in r.dom
    # It is there, as text, in the flame graph, the tree and the table.
    assert r.dom.count("&lt;/script&gt;&lt;script&gt;document.title='pwned'") >= 3


def test_embed_json_escapes_markup():
    text = embed_json({"a": "</script><!-- & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><!-- & \u2028"}


# ---- monitrace view ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("saved")
    with monitrace.trace(record=True) as s:
        program()
    s.save(d / "run.json", "json")
    s.save(d / "run.trace.json", "chrome")
    s.save(d / "run.pstats")
    return d


def _counts(data, view=0):
    out = {}
    for name in ("fib", "branch", "leaf"):
        row = stats_row(data["views"][view], fn_index(data, name))
        out[name] = (row[1], row[2])
    return out


def test_view_reads_every_saved_kind(saved, tmp_path, capsys):
    counts = cprofile_counts(program, filename=HERE)
    want = {
        name: counts[(fn.__code__.co_firstlineno, name)]
        for name, fn in (("fib", fib), ("branch", branch), ("leaf", leaf))
    }
    for src, kind in (
        ("run.json", "exact"),
        ("run.trace.json", "exact"),
        ("run.pstats", "approximate"),
    ):
        out = tmp_path / (src + ".html")
        assert view_main([str(saved / src), "-o", str(out)]) == 0
        data = page_data(out)
        assert data["tree_kind"] == kind, src
        got = _counts(data)
        if src == "run.trace.json":
            # A Chrome trace has no recursion flag: primitive = calls.
            got = {k: (v[0], want[k][1]) for k, v in got.items()}
        assert got == want, src
        if kind == "exact":
            leaf_fn = fn_index(data, "leaf")
            assert sum(n[2] for n in tree_nodes(data["views"][0]) if n[0] == leaf_fn) == 8
    # The Chrome trace's timeline and latency come back too.
    data = page_data(tmp_path / "run.trace.json.html")
    assert len(data["views"][1]["bars"]) == 4 * CALLS
    fib_row = stats_row(data["views"][0], fn_index(data, "fib"))
    assert 0 < fib_row[6] <= fib_row[7] <= fib_row[8] <= fib_row[9]


def test_view_default_output_and_errors(saved, tmp_path, capsys):
    src = tmp_path / "copy.pstats"
    shutil.copy(saved / "run.pstats", src)
    assert view_main([str(src)]) == 0
    assert (tmp_path / "copy.html").exists()
    bad = tmp_path / "bad.txt"
    bad.write_text("hello")
    assert view_main([str(bad), "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "bad.txt" in err
    assert not (tmp_path / "x.html").exists()
    with pytest.raises(SystemExit):
        view_main([str(src), "-o", str(tmp_path / "no" / "dir.html")])


def test_view_of_cprofile_pstats_renders(tmp_path):
    import cProfile

    prof = tmp_path / "cp.prof"
    cProfile.runctx("program()", globals(), None, str(prof))
    out = tmp_path / "cp.html"
    assert view_main([str(prof), "-o", str(out)]) == 0
    data = page_data(out)
    assert _counts(data)["leaf"] == (8, 8)
    r = render(out, tmp_path)
    assert_clean(r)
    assert "fib" in r.dom


def test_view_of_chrome_trace_renders(saved, tmp_path):
    out = tmp_path / "chrome.html"
    assert view_main([str(saved / "run.trace.json"), "-o", str(out)]) == 0
    r = render(out, tmp_path, screenshot=False)
    assert_clean(r)
    assert int(r.status()["flame-nodes"]) >= 10


# ---- the command line and pytest ------------------------------------------------------------


def test_cli_output_html(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(
        textwrap.dedent("""
        def fib(n):
            return n if n < 2 else fib(n - 1) + fib(n - 2)
        fib(12)
    """)
    )
    out = tmp_path / "report.html"
    proc = subprocess.run(
        [sys.executable, "-m", "monitrace", "-o", str(out), str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    data = page_data(out)
    assert data["tree_kind"] == "exact"
    fn = fn_index(data, "fib")
    assert stats_row(data["views"][0], fn)[1:3] == [465, 1]
    assert data["functions"][fn][1] == "prog.py"


def test_pytest_monitrace_html(pytester, tmp_path):
    pytester.makepyfile(
        test_some="""
        import pytest

        def fib(n):
            return n if n < 2 else fib(n - 1) + fib(n - 2)

        def test_one():
            assert fib(10) == 55

        @pytest.mark.monitrace(record=True)
        def test_two():
            assert fib(8) == 21
    """
    )
    out = tmp_path / "pages"
    summary = tmp_path / "summary"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--monitrace-html={out}", f"--monitrace-out={summary}"
    )
    result.assert_outcomes(passed=2)
    names = sorted(os.listdir(out))
    assert names == ["index.html", "test_some.py--test_one.html", "test_some.py--test_two.html"]
    one = page_data(out / "test_some.py--test_one.html")
    assert one["tree_kind"] == "approximate"
    assert stats_row(one["views"][0], fn_index(one, "fib"))[1] == 177
    two = page_data(out / "test_some.py--test_two.html")
    assert two["tree_kind"] == "exact"
    assert stats_row(two["views"][0], fn_index(two, "fib"))[1] == 67
    index = page_data(out / "index.html")
    assert stats_row(index["views"][0], fn_index(index, "fib"))[1] == 177 + 67
    assert [link[1] for link in index["links"]] == [
        "test_some.py--test_one.html",
        "test_some.py--test_two.html",
    ]
    r = render(out / "index.html", tmp_path, screenshot=False)
    assert_clean(r)
    assert 'href="test_some.py--test_two.html"' in r.dom
    # The suite summary --monitrace-out writes, viewed: the same sums.
    page = tmp_path / "summary.html"
    assert view_main([str(summary / "monitrace-summary.json"), "-o", str(page)]) == 0
    data = page_data(page)
    assert data["origin"] == "pytest summary"
    assert stats_row(data["views"][0], fn_index(data, "fib"))[1] == 177 + 67


@pytest.mark.skipif(importlib.util.find_spec("xdist") is None, reason="needs pytest-xdist")
def test_pytest_monitrace_html_with_xdist(pytester, tmp_path):
    pytester.makepyfile(
        test_par="""
        def fib(n):
            return n if n < 2 else fib(n - 1) + fib(n - 2)

        def test_a():
            assert fib(6) == 8

        def test_b():
            assert fib(7) == 13
    """
    )
    out = tmp_path / "pages"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", f"--monitrace-html={out}"
    )
    result.assert_outcomes(passed=2)
    assert sorted(os.listdir(out)) == [
        "index.html",
        "test_par.py--test_a.html",
        "test_par.py--test_b.html",
    ]
    index = page_data(out / "index.html")
    assert stats_row(index["views"][0], fn_index(index, "fib"))[1] == 25 + 41
    assert sorted(link[1] for link in index["links"]) == [
        "test_par.py--test_a.html",
        "test_par.py--test_b.html",
    ]


def test_pytest_monitrace_html_bad_dir(pytester, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest_subprocess(f"--monitrace-html={blocker}/sub")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--monitrace-html: cannot create*"])


def test_from_file_rejects_other_json(tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="other.json"):
        from_file(other)


# ---- the one-pass aggregation pairs events as walk() does ------------------------------


def _gen(n):
    for _ in range(n):
        yield leaf()


def _raises():
    leaf()
    raise KeyError("x")


def tricky():
    total = sum(_gen(3))
    g = _gen(5)
    next(g)
    g.close()
    for _ in range(2):
        try:
            _raises()
        except KeyError:
            pass
    return total + program()


def test_aggregation_matches_walk():
    from monitrace.exporters import Source
    from monitrace.exporters.timeline import walk

    with monitrace.trace(record=True) as s:
        tricky()
    src = Source.of(s)
    page = html_data.Page("t", "session")
    views = html_data.aggregate_events(
        page, src.events(), lambda rec: rec, lambda th: (th, str(th))
    )
    got = {}
    for v in views:
        nodes = tree_nodes({"tree": html_data.tree_data(v.tree)})
        got.update({(v.ident,) + n[1][1:]: (n[2], n[3], n[4]) for n in nodes[1:]})
    want = {}
    paths = {}
    for begin, thread, act, stack in walk(src.events()):
        if begin:
            below = paths[id(stack[-1])] if stack else (thread,)
            paths[id(act)] = below + (act.function,)
            continue
        path = paths.pop(id(act))
        calls, total, self_ = want.get(path, (0, 0, 0))
        want[path] = (calls + act.is_call, total + act.elapsed_ns, self_ + act.self_ns)
    assert got == want
    gen_rec = next(i for i in range(200) if src.function(i).name == "_gen")
    assert sum(v[0] for k, v in got.items() if k[-1] == gen_rec) == 2


def test_firefox_draws_the_page(recorded, tmp_path):
    """The page is plain ES5 and CSS; Firefox (where installed) draws it."""
    exe = shutil.which("firefox") or shutil.which("firefox-esr")
    if exe is None:
        pytest.skip("no firefox installed: the page was checked in Chromium only")
    shot = tmp_path / "ff.png"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONMALLOC")
    }
    env["HOME"] = str(tmp_path)
    subprocess.run(
        [
            exe,
            "--headless",
            "--no-remote",
            "--profile",
            str(tmp_path),
            "--window-size=1200,900",
            "--screenshot",
            str(shot),
            "file://" + os.path.abspath(recorded),
        ],
        capture_output=True,
        timeout=120,
        env=env,
    )
    assert shot.exists()
    # Without the script, the page is white with one line of grey text.
    assert len(chromatic(png_colours(shot.read_bytes()))) > 20


# ---- the diff page: monitrace diff BASE NEW -o diff.html ----------------------------------


def gone():
    return 0


def fresh():
    return 1


def diffed(k):
    """Two runs, k=2 then k=3: branch 2 -> 3 calls, leaf 4 -> 6, fib 354 ->
    531; gone() only in the first, fresh() only in the second."""
    for _ in range(k):
        branch(2)
    return gone() if k < 3 else fresh()


def _diff_runs(tmp_path, kind="json"):
    paths = []
    for k in (2, 3):
        with monitrace.trace(record=kind == "json") as s:
            diffed(k)
        path = tmp_path / f"run{k}.{kind}"
        s.save(path, kind)
        paths.append(path)
    return paths


def diff_rows(data):
    """{short name: (status, base calls, new calls)} of a diff page."""
    out = {}
    for r in data["diff"]["rows"]:
        name = data["functions"][r[0]][0].rsplit(".", 1)[-1]
        out[name] = (r[1], r[2], r[3])
    return out


def side_paths(data, side):
    """{path of short names: calls} of one side's tree on a diff page."""
    names = [f[0].rsplit(".", 1)[-1] for f in data["functions"]]
    return {
        tuple(names[fn] for fn in n[1][1:]): n[2]
        for n in tree_nodes(data["diff"][side])
        if n[0] >= 0
    }


def flame_frames(dom):
    """(attributes, text) of each flame graph frame in a rendered DOM."""
    return [
        (dict(re.findall(r'([a-z-]+)="([^"]*)"', attrs)), text)
        for attrs, text in re.findall(r'<div class="fn[^"]*"([^>]*)>([^<]*)</div>', dom)
    ]


def test_diff_page_counts_are_exact_and_match_diff(tmp_path, capsys):
    from monitrace.diff import main as diff_main

    a, b = _diff_runs(tmp_path)
    out = tmp_path / "diff.html"
    assert diff_main([str(a), str(b), "--calls-only", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().err
    data = page_data(out)
    assert data["tree_kind"] == "exact" and data["diff"]["calls_only"] is True
    rows = diff_rows(data)
    # Each side's counts are cProfile's.
    for k, side in ((2, 1), (3, 2)):
        counts = cprofile_counts(diffed, k, filename=HERE)
        for name, fn in (("branch", branch), ("leaf", leaf), ("fib", fib), ("diffed", diffed)):
            assert rows[name][side] == counts[(fn.__code__.co_firstlineno, name)][0], (k, name)
    assert rows["leaf"] == ("changed", 4, 6)
    assert rows["fib"] == ("changed", 354, 531)
    assert rows["gone"] == ("removed", 1, 0) and rows["fresh"] == ("added", 0, 1)
    assert rows["diffed"] == ("same", 1, 1)
    # The page's rows are monitrace.diff's, in its order.
    want = monitrace.diff(a, b, calls_only=True, include_same=True)
    assert [(data["functions"][r[0]][0], r[1], r[2], r[3]) for r in data["diff"]["rows"]] == [
        (w.function, w.status, w.base_calls, w.new_calls) for w in want
    ]
    # Both call trees, by path: leaf under branch 4 -> 6 calls.
    base, new = side_paths(data, "base"), side_paths(data, "new")
    assert base[("diffed", "branch", "leaf")] == 4 and new[("diffed", "branch", "leaf")] == 6
    assert base[("diffed", "branch", "fib")] == 2 and new[("diffed", "branch", "fib")] == 3
    assert ("diffed", "gone") in base and ("diffed", "gone") not in new
    assert new[("diffed", "fresh")] == 1


def test_diff_page_renders_coloured_flame_graph(tmp_path):
    a, b = _diff_runs(tmp_path)
    out = tmp_path / "diff.html"
    from monitrace.diff import write_html

    write_html(a, b, out, calls_only=True)  # widths by calls: no frame too thin to draw
    data = page_data(out)
    r = render(out, tmp_path)
    assert_clean(r)
    status = r.status()
    assert int(status["flame-nodes"]) >= 10
    names = {n: data["functions"][fn_index(data, "." + n)][0] for n in ("leaf", "fib", "gone")}
    # The table: names with base -> new counts and the delta.
    assert re.search(
        re.escape(names["leaf"]) + r".*?<td class=\"num calls\">4 \u2192 6</td>"
        r"<td class=\"num delta\">\+2</td>",
        r.dom,
    )
    assert re.search(re.escape(names["fib"]) + r".*?354 \u2192 531", r.dom)
    # The flame graph: frames coloured by change, red where NEW calls more.
    by_name = {}
    for attrs, text in flame_frames(r.dom):
        by_name.setdefault(text, []).append((attrs["data-change"], attrs["style"]))
    leaf_frames = by_name[names["leaf"]]
    assert leaf_frames and all(c == "more" for c, _ in leaf_frames)
    rgb = [
        int(v)
        for v in re.search(r"background: rgb\((\d+), (\d+), (\d+)\)", leaf_frames[0][1]).groups()
    ]
    assert rgb[0] > rgb[2] + 40  # red, not blue or grey
    fresh_name = data["functions"][fn_index(data, ".fresh")][0]
    assert [c for c, _ in by_name[fresh_name]] == ["added"]
    # gone() has no width in NEW: it is listed as a path only BASE took.
    assert names["gone"] not in by_name
    assert re.search(
        r'<li class="gone" data-fn="\d+"><span>[^<]*' + re.escape(names["gone"]), r.dom
    )
    assert len(chromatic(png_colours(r.png))) > 10
    # Hover details: a copy of the page that moves the mouse over leaf's
    # frame once drawn (inline scripts run in order, after the report's).
    hover = tmp_path / "hover.html"
    leaf_fn = fn_index(data, ".leaf")
    hover.write_text(
        out.read_text().replace(
            "</body>",
            (
                "<script>var f = document.querySelector('.flame .fn[data-fn=\"%d\"]');"
                "f.dispatchEvent(new MouseEvent('mousemove', {bubbles: true, clientX: 5, clientY: 5}));"
                "</script></body>"
            )
            % leaf_fn,
        )
    )
    r = render(hover, tmp_path, screenshot=False)
    assert_clean(r)
    tip = re.search(r'<div id="mt-tip"[^>]*>(.*?)</div><div id="mt-status"', r.dom, re.S)
    assert tip and "hidden" not in tip.group(0).split(">")[0]
    cells = re.findall(r"<td>([^<]*)</td>", tip.group(1))
    pairs = dict(zip(cells[::2], cells[1::2]))
    assert pairs["calls (base \u2192 new)"] == "4 \u2192 6  (+2)"  # this path
    assert pairs["calls (all)"] == "4 \u2192 6  (+2)"
    assert pairs["this path"] == "more" and "\u2192" in pairs["inclusive (path)"]


def test_diff_page_of_stats_only_runs_is_labelled_approximate(tmp_path):
    from monitrace.diff import write_html

    a, b = _diff_runs(tmp_path, "pstats")
    out = tmp_path / "approx.html"
    write_html(a, b, out, calls_only=True)  # widths by calls: no frame too thin to draw
    data = page_data(out)
    assert data["tree_kind"] == "approximate"
    assert any(n.startswith("BASE and NEW hold no call paths") for n in data["notes"])
    assert diff_rows(data)["leaf"] == ("changed", 4, 6)
    r = render(out, tmp_path, screenshot=False)
    assert_clean(r)
    assert int(r.status()["flame-nodes"]) >= 4
    assert "Approximate (rebuilt from caller" in r.dom
    changes = {text: attrs["data-change"] for attrs, text in flame_frames(r.dom)}
    assert changes[data["functions"][fn_index(data, ".leaf")][0]] == "more"
    # One side with paths, one without: still a (labelled) approximate graph.
    (j,) = _diff_runs(tmp_path, "json")[:1]
    write_html(j, b, out)
    data = page_data(out)
    assert data["tree_kind"] == "approximate"
    assert any(n.startswith("NEW holds no call paths") for n in data["notes"])
    assert data["diff"]["base"]["tree"] and data["diff"]["new"]["edges"]


def test_diff_page_names_are_never_markup(tmp_path):
    from monitrace.diff import write_html

    ns: dict = {}
    exec("def f():\n    return 1\n", ns)
    f = ns["f"]
    f.__code__ = f.__code__.replace(
        co_name=EVIL,
        co_qualname=EVIL,
        co_filename="<img src=y onerror=\"document.title='pwned3'\">",
    )
    sessions = []
    for k in (2, 3):
        with monitrace.trace(record=True) as s:
            for _ in range(k):
                f()
        sessions.append(s)
    out = tmp_path / "evil.html"
    write_html(*sessions, out, title=EVIL)
    text = out.read_text()
    assert "</script><script>" not in text and "<img" not in text
    data = page_data(out)
    (row,) = [r for r in data["diff"]["rows"] if EVIL in data["functions"][r[0]][0]]
    assert row[1:4] == ["changed", 2, 3]
    r = render(out, tmp_path, screenshot=False)
    assert_clean(r)
    # The title is the name as text (a script that ran would have set it).
    title = re.search(r"<title>(.*?)</title>", r.dom, re.S).group(1)
    assert title.startswith("&lt;/script&gt;&lt;script&gt;document.title='pwned'")
    assert "<img" not in r.dom
    # As text in the flame graph and the table.
    assert r.dom.count("&lt;/script&gt;&lt;script&gt;document.title='pwned'") >= 3


def test_diff_html_arguments(tmp_path, capsys):
    from monitrace.diff import main as diff_main

    a, b = _diff_runs(tmp_path, "pstats")
    for argv, message in (
        (["--format", "html"], "name it with -o"),
        (["--format", "json", "-o", str(tmp_path / "x.html")], "prints to stdout"),
        (["-o", str(a)], "is an input file"),
        (["-o", str(tmp_path / "no" / "x.html")], "cannot write"),
    ):
        with pytest.raises(SystemExit) as exit:
            diff_main([str(a), str(b), *argv])
        assert exit.value.code == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()
    # --fail-on still decides the exit status; the page is written.
    out = tmp_path / "d.html"
    assert diff_main([str(a), str(b), "-o", str(out), "--fail-on", "calls>0"]) == 1
    assert "calls>0 broken by" in capsys.readouterr().err and out.exists()
    assert diff_main([str(a), str(tmp_path / "missing"), "-o", str(out)]) == 2
    assert "missing" in capsys.readouterr().err


def test_walker_pairs_entries_and_exits():
    """The one walker: a lost exit ends the activations above its match,
    an exit matching nothing is dropped, INNERMOST ends the top, and the
    activations left open end at their thread's last event (or at their
    start); Walker says what it read."""
    from monitrace.exporters.timeline import INNERMOST, Walker
    from monitrace.model import Kind, LogEvent

    C, R, Y = Kind.CALL, Kind.RETURN, Kind.YIELD
    log = [
        LogEvent(R, 5, 0, 9),  # began before recording: dropped
        LogEvent(C, 10, 0, 1),
        LogEvent(C, 20, 0, 2),
        LogEvent(C, 30, 0, 3),
        LogEvent(C, 31, 1, 4),  # another thread
        LogEvent(Y, 40, 0, 2),  # 3's exit was lost: 3 ends, then 2
        LogEvent(C, 50, 0, 5),
        LogEvent(R, 60, 0, INNERMOST),  # ends 5
        LogEvent(Kind.LINE, 70, 0, 1),
    ]

    def run(at_start):
        walker = Walker(end_unfinished_at_start=at_start)
        got = []
        for begin, thread, act, stack in walker.steps(log):
            if begin:
                got.append(("begin", thread, act.function, len(stack), walker.read - 1))
            else:
                end = None if act.end is None else act.end.kind
                got.append(("end", act.function, act.end_ns, act.self_ns, end, walker.ending))
        return walker, got

    walker, got = run(False)
    assert got == [
        ("begin", 0, 1, 0, 1),
        ("begin", 0, 2, 1, 2),
        ("begin", 0, 3, 2, 3),
        ("begin", 1, 4, 0, 4),
        ("end", 3, 40, 10, None, False),
        ("end", 2, 40, 10, Y, False),
        ("begin", 0, 5, 1, 6),
        ("end", 5, 60, 10, R, False),
        ("end", 1, 70, 30, None, True),
        ("end", 4, 31, 0, None, True),
    ]
    assert (walker.first_ns, walker.read, walker.last) == (5, 9, {0: 70, 1: 31})
    _walker, got = run(True)
    assert got[-2:] == [("end", 1, 10, 0, None, True), ("end", 4, 31, 0, None, True)]
