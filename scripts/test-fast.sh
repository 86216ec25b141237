#!/usr/bin/env bash
# scripts/test-fast.sh [PYTEST ARGS]: what `make test-fast` runs: the suite
# on one interpreter (the first found, or $PYTHON), built with -Werror, and
# nothing else (no lint, memcheck, ASan or chroot).
#
# With pytest-xdist installed the tests are spread over the cores. A few
# tests watch every thread of their process, and an xdist worker has
# threads of its own (execnet's); the tests that fail under xdist are then
# run again one at a time in a plain pytest process, which decides.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
py=$(MONITRACE_WERROR=1 scripts/venv.sh "$(scripts/find-pythons.sh | sed -n 1p)" test)
if ! "$py" -c 'import xdist' 2>/dev/null; then
    exec "$py" -m pytest -q -p no:cacheprovider "$@"
fi
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
if "$py" -m pytest -q -n auto -o cache_dir="$cache" "$@"; then
    exit 0
fi
echo "=== running the failed tests again, one at a time without xdist"
"$py" -m pytest -q -p no:xdist -o cache_dir="$cache" --last-failed --last-failed-no-failures none "$@"
