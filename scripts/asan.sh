#!/usr/bin/env bash
# scripts/asan.sh PYTHON [PYTEST ARGS...]: the whole suite (or the tests
# named) against an AddressSanitizer + UndefinedBehaviorSanitizer build of
# monitrace._core, in its own venv (.venv/asan-X.Y). The interpreter is not
# instrumented, so the ASan runtime is preloaded and PYTHONMALLOC=malloc
# hands every Python allocation to it. Any report fails the run: ASan
# stops at the first error, UBSan is built not to recover. Leak detection
# is off: CPython leaks by design at exit (memcheck.sh checks our leaks).
set -euo pipefail
py=$1
shift
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
cc=${CC:-gcc}
runtime=$("$cc" -print-file-name=libasan.so)
if [ ! -e "$runtime" ]; then
    echo "asan: $cc has no AddressSanitizer runtime (libasan.so)" >&2
    exit 1
fi
runtime=$(readlink -f "$runtime")
vpy=$(CC=$cc MONITRACE_SANITIZE=1 MONITRACE_WERROR=1 MONITRACE_VENV=asan \
    scripts/venv.sh "$py" test)
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
status=0
# Subprocesses inherit the preload, so what the tests run as children is
# checked too. Tests that count RSS or time are meaningless here.
LD_PRELOAD=$runtime PYTHONMALLOC=malloc \
    ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:log_path=$logdir/asan" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logdir/ubsan" \
    MONITRACE_SANITIZED=1 \
    "$vpy" -m pytest -q -p no:cacheprovider "$@" || status=$?
if compgen -G "$logdir/*" >/dev/null; then
    echo "asan: sanitizer reports:" >&2
    cat "$logdir"/* >&2
    status=1
fi
if [ "$status" -ne 0 ]; then
    echo "asan: FAILED (exit status $status)" >&2
    exit 1
fi
echo "asan: no AddressSanitizer or UndefinedBehaviorSanitizer reports"
