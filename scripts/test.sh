#!/usr/bin/env bash
# scripts/test.sh: what `make test` (and so CI) runs.
#
# 1. pytest on every Python >= 3.12 the host has (scripts/find-pythons.sh),
#    built with -Wall -Wextra -Werror; the quick benchmark (information
#    only) on the first;
# 2. pytest on CPython 3.14 and 3.15 from Debian sid, in the chroot that
#    scripts/sid-chroot.sh builds and caches, for the versions the host
#    lacks. Where the chroot can't be had (not root, no debootstrap, no
#    mirror) one loud line says so and the rest still runs;
# 3. the core and hostile tests under valgrind memcheck, and the whole
#    suite under an ASan+UBSan build, on the first host interpreter.
#
# PYTHON=/path/to/python tests that interpreter alone (no chroot).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
# pytest-xdist spreads each run over the machine's cores.
jobs=${MONITRACE_TEST_JOBS:-auto}
pytest_args=(-q -p no:cacheprovider -n "$jobs")
pythons=$(scripts/find-pythons.sh)
first=
have=()
for p in $pythons; do
    echo "=== tests on $p"
    py=$(MONITRACE_WERROR=1 scripts/venv.sh "$p" test)
    have+=("$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')")
    if [ -z "$first" ]; then
        first=$py
        echo "=== quick benchmark on $p (information only)"
        "$py" benchmarks/bench.py --quick --no-peers
    fi
    "$py" -m pytest "${pytest_args[@]}"
done

if [ -z "${PYTHON:-}" ]; then
    missing=()
    for v in 3.14 3.15; do
        [[ " ${have[*]} " == *" $v "* ]] || missing+=("$v")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if why=$(scripts/sid-chroot.sh ensure 2>&1 >/dev/null); then
            for v in "${missing[@]}"; do
                if ! scripts/sid-chroot.sh versions | grep -qx "$v"; then
                    echo "=== !!! Python $v NOT TESTED: the sid chroot has no python$v"
                    continue
                fi
                echo "=== tests on python$v (Debian sid chroot)"
                MONITRACE_WERROR=1 scripts/sid-chroot.sh run bash -c \
                    'py=$(scripts/venv.sh "/usr/bin/python$1" test) &&
                     "$py" -m pytest -q -p no:cacheprovider -n "$2"' _ "$v" "$jobs"
            done
        else
            echo "=== !!! Python ${missing[*]} NOT TESTED: no sid chroot (${why//$'\n'/; })"
        fi
    fi
fi

if command -v valgrind >/dev/null; then
    echo "=== memcheck on $first"
    scripts/memcheck.sh "$first"
else
    echo "=== !!! memcheck SKIPPED: valgrind is not installed"
fi
echo "=== ASan+UBSan on $(scripts/find-pythons.sh | head -n 1)"
scripts/asan.sh "$(scripts/find-pythons.sh | head -n 1)" -n "$jobs"
