#!/usr/bin/env bash
# scripts/bench.sh [bench.py options]: run benchmarks/bench.py on every
# Python >= 3.12 found (PYTHON=... picks one), each in .venv/bench-<X.Y>
# with the peers (pyftrace, hunter, viztracer) installed from the package
# index when they install; a peer that does not is skipped with a note.
# Then benchmarks/memory.py. Full runs (no --quick) also write
# benchmarks/results/<X.Y>.md, <X.Y>.json and <X.Y>-memory.md. Versions the
# host lacks (3.14, 3.15) run in the Debian sid chroot (sid-chroot.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
quick=0
for a in "$@"; do [ "$a" = "--quick" ] && quick=1; done
for p in $("$here/scripts/find-pythons.sh"); do
    py=$(MONITRACE_VENV=bench "$here/scripts/venv.sh" "$p" bench 2>/dev/null) \
        || py=$(MONITRACE_VENV=bench "$here/scripts/venv.sh" "$p")
    for peer in pyftrace hunter viztracer; do
        "$py" -c "import $peer" 2>/dev/null \
            || "$py" -m pip install -q --disable-pip-version-check "$peer" \
                >/dev/null 2>&1 \
            || echo "note: $peer does not install here; skipped" >&2
    done
    ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    echo "=== benchmark on Python $ver"
    out=()
    if [ $quick = 0 ]; then
        mkdir -p "$here/benchmarks/results"
        out=(--markdown "$here/benchmarks/results/$ver.md"
             --json "$here/benchmarks/results/$ver.json")
    fi
    "$py" "$here/benchmarks/bench.py" "$@" "${out[@]}"
    mem=()
    [ $quick = 1 ] && mem=(--quick)
    [ $quick = 0 ] && mem=(--markdown "$here/benchmarks/results/$ver-memory.md")
    "$py" "$here/benchmarks/memory.py" "${mem[@]}"
    # ms that pytest --monitrace adds per test, against cProfile per test
    plug=(--tests 2000 --repeat 5)
    [ $quick = 1 ] && plug=(--tests 200 --repeat 1)
    [ $quick = 0 ] && plug+=(--markdown "$here/benchmarks/results/$ver-pytest.md")
    "$py" "$here/benchmarks/bench_pytest_per_test.py" "${plug[@]}"
done

# 3.14 and 3.15 from the Debian sid chroot, for the versions the host lacks
# (as scripts/test.sh does); not when PYTHON picks one interpreter.
if [ -z "${PYTHON:-}" ]; then
    host=$("$here/scripts/find-pythons.sh" | while read -r p; do
        "$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; done)
    if "$here/scripts/sid-chroot.sh" ensure >/dev/null 2>&1; then
        for v in $("$here/scripts/sid-chroot.sh" versions); do
            grep -qx "$v" <<<"$host" && continue
            "$here/scripts/sid-chroot.sh" run env PYTHON="/usr/bin/python$v" \
                scripts/bench.sh "$@"
        done
    else
        echo "=== !!! no sid chroot: Python 3.14/3.15 not benchmarked" >&2
    fi
fi
