"""Running beside other tools: coverage.py runs part of this suite."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

coverage = pytest.importorskip("coverage")


@pytest.mark.parametrize("core", ["sysmon", "ctrace"])
def test_suite_passes_under_coverage(core, tmp_path):
    env = dict(os.environ, COVERAGE_CORE=core, COVERAGE_FILE=str(tmp_path / ".coverage"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "coverage",
            "run",
            "--source",
            HERE,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-x",
            os.path.join(HERE, "test_counts.py"),
            os.path.join(HERE, "test_api.py"),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout
    report = subprocess.run(
        [sys.executable, "-m", "coverage", "report"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert "workloads.py" in report.stdout
