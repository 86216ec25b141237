"""The linters are configured, wired into `make test`, and agree with the
pre-commit hooks. The full mypy run is `make lint`'s (scripts/lint.sh);
ruff, quick, also runs here, and a missing ruff fails rather than skips."""

import os
import re
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_ruff_and_mypy_are_configured():
    tool = pyproject()["tool"]
    assert set(tool["ruff"]["lint"]["select"]) >= {"E", "F", "W", "B", "UP"}
    assert tool["mypy"]["strict"] is True
    assert tool["mypy"]["files"] == ["src/monitrace"]


def test_make_test_runs_lint_and_lint_runs_every_tool():
    assert re.search(r"^add .*scripts/lint\.sh", read("scripts/test.sh"), re.M)
    lint = read("scripts/lint.sh")
    for command in (
        '"$bin/ruff" check .',
        '"$bin/ruff" format --check .',
        '"$py" -m mypy',
        '"$bin/clang-format" --style=file --dry-run --Werror src/ccore/*.[ch]',
    ):
        assert command in lint
    assert "|| true" not in lint and "exit 0" not in lint
    dry = subprocess.run(
        ["make", "-n", "lint", "dev", "test-fast"], cwd=ROOT, capture_output=True, text=True
    )
    assert dry.returncode == 0, dry.stderr
    assert "scripts/lint.sh" in dry.stdout and "pre-commit" in dry.stdout
    assert "-e " in dry.stdout and "scripts/test-fast.sh" in dry.stdout
    assert "-n auto" in read("scripts/test-fast.sh")


def test_pre_commit_hooks_pin_the_lint_extra_versions():
    extra = pyproject()["project"]["optional-dependencies"]["lint"]
    pins = dict(re.fullmatch(r"([\w-]+)==(\S+)", spec).groups() for spec in extra if "==" in spec)
    assert set(pins) == {"ruff", "mypy", "clang-format"}
    hooks = read(".pre-commit-config.yaml")
    for hook_id in ("ruff", "ruff-format", "mypy", "clang-format"):
        assert re.search(rf"^\s+- id: {hook_id}$", hooks, re.M)
    assert sorted(re.findall(r'"(ruff|mypy|clang-format)==([^"]+)"', hooks)) == sorted(
        [("ruff", pins["ruff"])] * 2
        + [("mypy", pins["mypy"]), ("clang-format", pins["clang-format"])]
    )
    assert "monitrace[lint]" in pyproject()["project"]["optional-dependencies"]["test"]


def test_ruff_check_is_clean():
    # The test extras install ruff; without it this fails, it does not skip.
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
