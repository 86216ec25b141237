"""The layout table of docs/internals.md matches the files under src/.

Every file the table names exists, and every file under src/ (what git
tracks or would add: build output, caches and other ignored files left
out) has its row, so the map a newcomer reads is the tree they get.
"""

import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INTERNALS = os.path.join(ROOT, "docs", "internals.md")
ROW = re.compile(r"^\|\s*`(src/[^`]+)`\s*\|\s*(.*?)\s*\|\s*$")
# Where git can't say which files are ignored: what .gitignore ignores.
IGNORED_DIRS = {"__pycache__"}
IGNORED_SUFFIXES = (".pyc", ".so", ".o", ".egg-info")


def layout_rows(text):
    """{path: description} from the "## Layout" section of `text`."""
    match = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, "docs/internals.md has no '## Layout' section"
    rows = {}
    for line in match.group(1).splitlines():
        m = ROW.match(line)
        if m:
            assert m.group(1) not in rows, f"{m.group(1)} is listed twice"
            rows[m.group(1)] = m.group(2)
    return rows


def files_under_src():
    """The files under src/, relative to the repository, as git sees them
    (tracked, or new and not ignored); a plain walk where git is absent."""
    try:
        out = subprocess.run(
            [
                "git",
                "-C",
                ROOT,
                "ls-files",
                "--cached",
                "--others",
                "--exclude-standard",
                "--",
                "src",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        found = set()
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, "src")):
            dirnames[:] = [
                d for d in dirnames if d not in IGNORED_DIRS and not d.endswith(IGNORED_SUFFIXES)
            ]
            for name in filenames:
                if not name.endswith(IGNORED_SUFFIXES):
                    path = os.path.relpath(os.path.join(dirpath, name), ROOT)
                    found.add(path.replace(os.sep, "/"))
        return found
    # ls-files lists deleted-but-tracked files too: keep what is there.
    return {p for p in out.splitlines() if os.path.isfile(os.path.join(ROOT, p))}


def test_rows_parse():
    text = (
        "intro\n## Layout\n\n| file | what it owns |\n| --- | --- |\n"
        "| `src/a.py` | the a |\n| `src/b/c.h` | c's header |\n## Next\n"
        "| `src/not_layout.py` | outside the section |\n"
    )
    assert layout_rows(text) == {"src/a.py": "the a", "src/b/c.h": "c's header"}


def test_every_listed_file_exists():
    with open(INTERNALS, encoding="utf-8") as f:
        rows = layout_rows(f.read())
    missing = sorted(p for p in rows if not os.path.isfile(os.path.join(ROOT, p)))
    assert not missing, f"docs/internals.md lists files that do not exist: {missing}"


def test_every_file_is_listed_with_what_it_owns():
    with open(INTERNALS, encoding="utf-8") as f:
        rows = layout_rows(f.read())
    unlisted = sorted(files_under_src() - set(rows))
    assert not unlisted, (
        f"files under src/ missing from the layout table of docs/internals.md: {unlisted}"
    )
    assert all(rows.values()), "every layout row says what the file owns"


def test_the_check_sees_a_new_file(tmp_path):
    # The walk and the table disagree as soon as a file is added: shown on
    # a copy of the table without one of its rows.
    with open(INTERNALS, encoding="utf-8") as f:
        text = f.read()
    rows = layout_rows(text)
    dropped = "src/monitrace/api.py"
    assert dropped in rows and dropped in files_under_src()
    shorter = "\n".join(line for line in text.splitlines() if f"`{dropped}`" not in line)
    assert files_under_src() - set(layout_rows(shorter)) == {dropped}


# ---- the C layers --------------------------------------------------------

CCORE = os.path.join(ROOT, "src", "ccore")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"/]+)\.h"', re.M)
LAYER_ROW = re.compile(r"^\|\s*(\w+)\s*\|\s*((?:`\w+`(?:,\s*)?)+)\s*\|")


def c_layers(text):
    """[(layer, [module, ...]), ...] from the "## C layers" table, in order."""
    match = re.search(r"^## C layers\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, "docs/internals.md has no '## C layers' section"
    layers = []
    for line in match.group(1).splitlines():
        m = LAYER_ROW.match(line)
        if m:
            layers.append((m.group(1), re.findall(r"`(\w+)`", m.group(2))))
    return layers


def include_graph(folder):
    """{module: {modules its .c and .h include}}: a module is a .c file and
    its .h taken together; system and CPython headers are left out."""
    graph = {}
    for name in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(name)
        if ext not in (".c", ".h"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            found = set(INCLUDE.findall(f.read()))
        graph.setdefault(stem, set()).update(found - {stem})
    return graph


def cycle(graph):
    """One circle of includes as a list of modules, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def layer_violations(graph, layers):
    """Includes that point at a later layer, or at a module no layer lists."""
    rank = {m: i for i, (_, mods) in enumerate(layers) for m in mods}
    bad = []
    for mod, deps in sorted(graph.items()):
        for dep in sorted(deps):
            if dep in graph and rank.get(dep, len(layers)) > rank.get(mod, -1):
                bad.append(f"{mod} includes {dep}")
    return bad


def test_every_c_module_has_one_layer():
    with open(INTERNALS, encoding="utf-8") as f:
        layers = c_layers(f.read())
    listed = [m for _, mods in layers for m in mods]
    assert len(listed) == len(set(listed)), "a module is listed in two layers"
    assert sorted(listed) == sorted(include_graph(CCORE))


def test_c_includes_point_down_the_layers():
    with open(INTERNALS, encoding="utf-8") as f:
        layers = c_layers(f.read())
    graph = include_graph(CCORE)
    assert cycle(graph) is None, f"the C modules include each other in a circle: {cycle(graph)}"
    assert layer_violations(graph, layers) == []


def test_storage_does_not_need_the_session():
    # Records, edges, thread stacks and the event log are plain C: the
    # session state (session.h) and the tracer type are above them.
    graph = include_graph(CCORE)
    for mod in ("records", "edges", "stack", "eventlog", "failure", "walk", "treefmt"):
        assert not graph[mod] & {"session", "tracer", "guard", "threadstate"}, mod


def test_the_include_checks_see_a_circle_and_an_upward_include(tmp_path):
    (tmp_path / "a.h").write_text('#include "b.h"\n')
    (tmp_path / "a.c").write_text('#include "a.h"\n')
    (tmp_path / "b.c").write_text('#include "b.h"\n#include "c.h"\n')
    (tmp_path / "b.h").write_text("")
    (tmp_path / "c.h").write_text('#include "a.h"\n#include <Python.h>\n')
    graph = include_graph(tmp_path)
    assert graph == {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert cycle(graph) == ["a", "b", "c", "a"]
    (tmp_path / "c.h").write_text("")
    graph = include_graph(tmp_path)
    assert cycle(graph) is None
    assert layer_violations(graph, [("low", ["a"]), ("high", ["b", "c"])]) == ["a includes b"]
    assert layer_violations(graph, [("low", ["c"]), ("mid", ["b"]), ("high", ["a"])]) == []


INLINE = re.compile(r"^static inline\b[^(;]*?\b(mt_\w+)\s*\(", re.M)


def test_inline_code_in_headers_is_listed():
    with open(INTERNALS, encoding="utf-8") as f:
        text = f.read()
    match = re.search(r"^## Inline code in headers\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, "docs/internals.md has no '## Inline code in headers' section"
    listed = {}
    for line in match.group(1).splitlines():
        m = re.match(r"^\|\s*`(\w+\.h)`\s*\|(.*?)\|", line)
        if m:
            listed[m.group(1)] = set(re.findall(r"`(mt_\w+)`", m.group(2)))
    found = {}
    for name in sorted(os.listdir(CCORE)):
        if name.endswith(".h"):
            with open(os.path.join(CCORE, name), encoding="utf-8") as f:
                names = set(INLINE.findall(f.read()))
            if names:
                found[name] = names
    assert found == listed


def test_the_guard_is_written_once():
    # Python code run from a callback goes through guard.c's bracket: no
    # other file marks the tracer as inside its own code.
    writers = []
    for name in sorted(os.listdir(CCORE)):
        if name.endswith((".c", ".h")) and name != "guard.c":
            with open(os.path.join(CCORE, name), encoding="utf-8") as f:
                if re.search(r"in_callback\s*(\+\+|--|[+-]?=[^=])", f.read()):
                    writers.append(name)
    assert writers == []
