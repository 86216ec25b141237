#!/usr/bin/env bash
# scripts/lint.sh [PYTHON]: what `make lint` runs: ruff check, ruff format
# --check and mypy --strict over src/, and clang-format's check of the C
# sources (src/ccore), with the versions pinned in
# pyproject.toml's `lint` extra, installed from the package index into a
# venv of their own (.venv/lint-X.Y, so that a test job building
# .venv/X.Y at the same time is not disturbed). A tool that can't be
# installed fails the run; nothing is skipped. Every check runs, and any
# failure fails the script.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
python=${1:-$(scripts/find-pythons.sh | sed -n 1p)}
py=$(MONITRACE_VENV=lint scripts/venv.sh "$python" lint)
bin=$(dirname "$py")
failed=()
echo "--- ruff check"
"$bin/ruff" check . || failed+=("ruff check")
echo "--- ruff format --check"
"$bin/ruff" format --check . || failed+=("ruff format (run: $bin/ruff format .)")
echo "--- mypy --strict (src/)"
# A cache of its own per venv: one shared with other environments can
# hold stale answers about installed packages.
"$py" -m mypy --cache-dir "$(dirname "$bin")/mypy-cache" || failed+=("mypy")
echo "--- clang-format --dry-run (src/ccore)"
"$bin/clang-format" --style=file --dry-run --Werror src/ccore/*.[ch] \
    || failed+=("clang-format (run: $bin/clang-format -i --style=file src/ccore/*.[ch])")
if [ ${#failed[@]} -gt 0 ]; then
    printf '=== lint FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "=== lint passed"
