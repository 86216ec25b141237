"""The package ships py.typed: its sources must type-check strictly."""

import os
import subprocess
import sys

import pytest

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src", "monitrace")


def test_mypy_strict_is_clean(tmp_path):
    pytest.importorskip("mypy")
    if not os.path.isdir(SRC):
        pytest.skip("source tree not available")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path), SRC],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
