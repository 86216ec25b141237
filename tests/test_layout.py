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
