"""The C sources follow the repository's .clang-format (PEP 7 layout)."""

import glob
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = sorted(glob.glob(os.path.join(ROOT, "src", "ccore", "*.[ch]")))


def test_c_sources_are_clang_formatted():
    exe = shutil.which("clang-format")
    if exe is None:
        pytest.skip("clang-format is not installed")
    if not SOURCES:
        pytest.skip("source tree not available")
    proc = subprocess.run(
        [exe, "--style=file", "--dry-run", "--Werror", *SOURCES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
