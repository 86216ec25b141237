"""The examples in README.md and docs/*.md run as they stand.

Each file's ```python blocks run in order, in one fresh interpreter per
file, inside an empty temporary directory: a later block may use what an
earlier one defined, as a reader going down the page would. A block
followed directly by an ```output block must print that text (doctest's
rules: ``...`` matches anything, runs of whitespace compare equal), so
the output shown beside the code cannot drift either. Blocks that must
not run are ```console, ```sh or ```text.
"""

import doctest
import glob
import os
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC_FILES = sorted(
    [os.path.join(ROOT, "README.md")] + glob.glob(os.path.join(ROOT, "docs", "*.md"))
)
FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
SEPARATOR = "\n--- monitrace docs: end of block ---\n"


def blocks(path):
    """(language, code, line) of every fenced block of `path`, in order."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return [
        (m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)
    ]


def runnable(path):
    """[(code, line, expected output or None)] of the python blocks."""
    found = blocks(path)
    out = []
    for i, (lang, code, line) in enumerate(found):
        if lang != "python":
            continue
        expected = None
        if i + 1 < len(found) and found[i + 1][0] == "output":
            expected = found[i + 1][1]
        out.append((code, line, expected))
    return out


def driver(path, snippets):
    """A script that runs the snippets in one namespace, each followed by
    a separator on stdout so each block's output can be told apart."""
    parts = [
        "import os, sys\n"
        # Imports find modules the blocks write into the working directory,
        # as for a script run from there.
        "sys.path[0] = os.getcwd()\n"
        "__name__ = '__main__'\n"
        f"_sep = {SEPARATOR!r}\n"
    ]
    for code, line, _ in snippets:
        # Each block counts its lines from 1, as if saved as a file of its
        # own (line numbers in the output shown stay put when text above
        # the block changes); its name says where it is in the .md file.
        name = f"{os.path.basename(path)}, block at line {line}"
        parts.append(
            f"exec(compile({code!r}, {name!r}, 'exec'))\n"
            "sys.stdout.flush(); sys.stderr.flush()\n"
            "sys.stdout.write(_sep); sys.stdout.flush()\n"
        )
    return "".join(parts)


def test_every_doc_file_is_found():
    names = {os.path.relpath(p, ROOT) for p in DOC_FILES}
    for name in (
        "README.md",
        "docs/guide.md",
        "docs/filters.md",
        "docs/recording.md",
        "docs/exporting.md",
        "docs/pytest.md",
        "docs/whole-program.md",
        "docs/guarantees.md",
        "docs/internals.md",
        "docs/contributing.md",
        "docs/json-schema.md",
    ):
        assert name in names


def test_fence_parser():
    sample = textwrap.dedent("""\
        text
        ```python
        print(1)
        ```

        ```output
        1
        ```
        ```console
        $ ls
        ```
        """)
    found = [(m.group(1), m.group(2)) for m in FENCE.finditer(sample)]
    assert found == [("python", "print(1)\n"), ("output", "1\n"), ("console", "$ ls\n")]


def run_doc(path, tmp_path):
    """Run the python blocks of `path`; the list of what went wrong."""
    snippets = runnable(path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    script = tmp_path / "run_docs.py"
    script.write_text(driver(path, snippets), encoding="utf-8")
    env = dict(os.environ)
    env.pop("MONITRACE", None)
    env.pop("FORCE_COLOR", None)
    env["NO_COLOR"] = "1"
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    name = os.path.relpath(path, ROOT)
    if proc.returncode != 0:
        return [f"{name}: examples failed\n{proc.stdout}\n{proc.stderr}"]
    outputs = proc.stdout.split(SEPARATOR)
    assert len(outputs) == len(snippets) + 1
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    return [
        f"{name}:{line}: the block printed\n{got}\nbut the doc shows\n{expected}"
        for (code, line, expected), got in zip(snippets, outputs)
        if expected is not None and not checker.check_output(expected, got, flags)
    ]


def test_checker_catches_wrong_output_and_errors(tmp_path):
    doc = tmp_path / "sample.md"
    doc.write_text(
        "```python\nx = 2\nprint(x * 21)\n```\n```output\n42\n```\n"
        "```python\nprint('took', 1.5, 's')\n```\n```output\ntook ... s\n```\n"
        "```python\nprint(x)\n```\n```output\n3\n```\n",
        encoding="utf-8",
    )
    problems = run_doc(str(doc), tmp_path / "a")
    assert len(problems) == 1 and "sample.md:14" in problems[0], problems
    assert "printed\n2\n" in problems[0]
    doc.write_text("text\n```python\nx = 1\n\nimport nothing_by_this_name\n```\n", encoding="utf-8")
    problems = run_doc(str(doc), tmp_path / "b")
    assert len(problems) == 1
    assert 'File "sample.md, block at line 2", line 3' in problems[0], problems
    assert "nothing_by_this_name" in problems[0]


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: os.path.relpath(p, ROOT))
def test_doc_examples_run(path, tmp_path):
    if not runnable(path):
        pytest.skip("no python blocks")
    problems = run_doc(path, tmp_path)
    assert not problems, "\n".join(problems)


def anchors(path):
    """The #fragments GitHub makes for the headings of `path`."""
    with open(path, encoding="utf-8") as f:
        text = FENCE.sub("", f.read())
    out = set()
    for title in re.findall(r"^#+\s+(.*?)\s*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        out.add(slug)
    return out


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: os.path.relpath(p, ROOT))
def test_links_between_docs_resolve(path):
    with open(path, encoding="utf-8") as f:
        text = FENCE.sub("", f.read())
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        file_part, _, fragment = target.partition("#")
        dest = (
            os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        )
        if not os.path.exists(dest):
            broken.append(target)
        elif fragment and dest.endswith(".md") and fragment not in anchors(dest):
            broken.append(target)
    assert not broken, f"{os.path.relpath(path, ROOT)}: links to nothing: {broken}"


def test_anchor_slugs(tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text(
        "# Top\n## Tracing a running process: `monitrace attach`\n```text\n# not a heading\n```\n",
        encoding="utf-8",
    )
    assert anchors(str(doc)) == {"top", "tracing-a-running-process-monitrace-attach"}


def test_readme_is_short_and_starts_with_the_two_commands():
    path = os.path.join(ROOT, "README.md")
    assert os.path.getsize(path) <= 12 * 1024
    first = blocks(path)[0]
    assert first[0] == "sh"
    assert [line.split("#")[0].strip() for line in first[1].splitlines()] == [
        "make demo",
        "make test",
    ]
    # .ci/run runs the README's test command
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        assert f.read().rstrip().splitlines()[-1] == "make test"


def test_guide_lists_every_trace_option():
    import dataclasses

    import monitrace

    with open(os.path.join(ROOT, "docs", "guide.md"), encoding="utf-8") as f:
        guide = f.read()
    rows = set(re.findall(r"^\| `(\w+)` \|", guide, re.M))
    missing = [f.name for f in dataclasses.fields(monitrace.Options) if f.name not in rows]
    assert not missing, f"trace() options without a row in docs/guide.md: {missing}"
