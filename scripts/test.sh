#!/usr/bin/env bash
# scripts/test.sh: what `make test` (and so CI) runs.
#
# Jobs, each with a log of its own, run two at a time (pytest itself runs
# one test at a time: its output, and tests that watch every thread of the
# process, stay exact):
#   - lint: ruff check, ruff format --check and mypy --strict over src/
#     (scripts/lint.sh), with tools installed from the package index;
#   - pytest on every Python >= 3.12 the host has (scripts/find-pythons.sh),
#     built with -Wall -Wextra -Werror; on the first, also the quick
#     benchmark (information only) and the core and hostile tests under
#     valgrind memcheck;
#   - pytest on CPython 3.14 and 3.15 from Debian sid, in the chroot that
#     scripts/sid-chroot.sh builds and caches, for the versions the host
#     lacks. Where the chroot can't be had (not root, no debootstrap, no
#     mirror) one loud line says so and the rest still runs;
#   - the whole suite under an ASan+UBSan build (scripts/asan.sh), on the
#     first host interpreter.
# A job's log is printed when it ends; any failed job fails the run.
#
# PYTHON=/path/to/python tests that interpreter alone (no chroot).
# MONITRACE_TEST_JOBS sets how many jobs run at once (default 2).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
slots=${MONITRACE_TEST_JOBS:-2}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pythons=$(scripts/find-pythons.sh)
first=$(head -n 1 <<<"$pythons")

host_job() { # host_job PYTHON [first]
    local py
    py=$(MONITRACE_WERROR=1 scripts/venv.sh "$1" test)
    if [ -n "${2:-}" ]; then
        echo "--- quick benchmark (information only)"
        "$py" benchmarks/bench.py --quick --no-peers
    fi
    "$py" -m pytest -q -p no:cacheprovider
    if [ -n "${2:-}" ]; then
        if command -v valgrind >/dev/null; then
            echo "--- memcheck"
            scripts/memcheck.sh "$py"
        else
            echo "=== !!! memcheck SKIPPED: valgrind is not installed"
        fi
    fi
}

chroot_job() { # chroot_job X.Y
    # One build of the chroot even when two jobs want it at once.
    if ! why=$(flock "$logs/.chroot-lock" scripts/sid-chroot.sh ensure 2>&1 >/dev/null); then
        echo "=== !!! Python $1 NOT TESTED: no sid chroot (${why//$'\n'/; })"
        return 0
    fi
    # Read the whole list first: `grep -q` leaving a pipe early would
    # SIGPIPE the writer, and pipefail would call that "no python".
    local have
    have=$(scripts/sid-chroot.sh versions)
    if ! grep -qx "$1" <<<"$have"; then
        echo "=== !!! Python $1 NOT TESTED: the sid chroot has no python$1"
        return 0
    fi
    MONITRACE_WERROR=1 scripts/sid-chroot.sh run bash -c \
        'py=$(scripts/venv.sh "/usr/bin/python$1" test) &&
         "$py" -m pytest -q -p no:cacheprovider' _ "$1"
}

# The HTML report tests render pages in headless Chromium (Debian's
# `chromium` package). Install it where apt can (as root); elsewhere say
# loudly that those tests will skip.
ensure_chromium() {
    local b
    for b in chromium chromium-browser google-chrome; do
        command -v "$b" >/dev/null && return 0
    done
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "=== installing chromium with apt-get for the HTML report tests"
        if DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >"$logs/chromium.log" 2>&1 ||
           { DEBIAN_FRONTEND=noninteractive apt-get update >>"$logs/chromium.log" 2>&1 &&
             DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >>"$logs/chromium.log" 2>&1; }
        then
            return 0
        fi
        tail -n 5 "$logs/chromium.log"
    fi
    echo "=== !!! no chromium (needs root and apt-get): the HTML report tests will SKIP"
}
ensure_chromium

names=()
commands=()
add() { names+=("$1"); shift; commands+=("$*"); }

add "lint (ruff, mypy) on $first" scripts/lint.sh "$first"

have=()
for p in $pythons; do
    v=$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    have+=("$v")
    if [ "$p" = "$first" ]; then
        add "tests on $p, quick benchmark, memcheck" host_job "$p" first
    else
        add "tests on $p" host_job "$p"
    fi
done
if [ -z "${PYTHON:-}" ]; then
    for v in 3.14 3.15; do
        [[ " ${have[*]} " == *" $v "* ]] || add "tests on python$v (Debian sid chroot)" chroot_job "$v"
    done
fi
add "ASan+UBSan on $first" scripts/asan.sh "$first"

failed=()
declare -A running=()
report() { # report PID STATUS
    local i=${running[$1]}
    unset "running[$1]"
    echo "=== ${names[$i]}: $([ "$2" -eq 0 ] && echo passed || echo "FAILED (status $2)")"
    cat "$logs/$i.log"
    [ "$2" -eq 0 ] || failed+=("${names[$i]}")
}
reap() { # wait for any one job, then report it
    local pid status=0
    wait -n -p pid "${!running[@]}" || status=$?
    report "$pid" "$status"
}
for i in "${!names[@]}"; do
    while [ "${#running[@]}" -ge "$slots" ]; do reap; done
    echo "=== started: ${names[$i]}"
    (set -euo pipefail; ${commands[$i]}) >"$logs/$i.log" 2>&1 &
    running[$!]=$i
done
while [ "${#running[@]}" -gt 0 ]; do reap; done

if [ ${#failed[@]} -gt 0 ]; then
    printf '=== FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "=== all jobs passed"
