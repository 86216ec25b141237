"""The C sources follow the repository's .clang-format (PEP 7 layout), as
the clang-format version pinned in pyproject.toml's `lint` extra formats
them. That version comes from the package index with the test extras; a
missing or different clang-format fails the test, it is not skipped."""

import glob
import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = sorted(glob.glob(os.path.join(ROOT, "src", "ccore", "*.[ch]")))


def pinned_version() -> str:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        extra = tomllib.load(f)["project"]["optional-dependencies"]["lint"]
    (version,) = [s.split("==", 1)[1] for s in extra if s.startswith("clang-format==")]
    return version


def find_clang_format() -> str | None:
    """The venv's clang-format (the wheel's), else the one on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "clang-format")
    if os.access(here, os.X_OK):
        return here
    return shutil.which("clang-format")


def test_c_sources_are_clang_formatted():
    if not SOURCES:
        pytest.skip("source tree not available")
    want = pinned_version()
    install = f"pip install 'clang-format=={want}' (or the test extras: pip install -e '.[test]')"
    exe = find_clang_format()
    assert exe is not None, f"clang-format is not installed: {install}"
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    found = re.search(r"clang-format version (\S+)", version.stdout)
    assert found is not None and found.group(1) == want, (
        f"{exe} is {version.stdout.strip()!r}; the C sources are checked with "
        f"clang-format {want}: {install}"
    )
    proc = subprocess.run(
        [exe, "--style=file", "--dry-run", "--Werror", *SOURCES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, (
        f"run: {exe} -i --style=file src/ccore/*.[ch]\n" + proc.stderr[-4000:]
    )
