#!/usr/bin/env bash
# scripts/memcheck.sh PYTHON: run the core and hostile tests, then a program
# that exits with sessions never stopped, under valgrind memcheck. Fails on
# any memory error (invalid read/write, use of uninitialised memory, bad
# free) anywhere, and on any block definitely leaked by monitrace._core.
# CPython's own leaks at exit are not ours and are ignored. PYTHONMALLOC=
# malloc lets valgrind see every allocation (pymalloc would hide them).
set -euo pipefail
py=$1
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
logdir=$(mktemp -d)
trap '[ -n "${KEEP_LOGS:-}" ] && echo "logs in $logdir" >&2 || rm -rf "$logdir"' EXIT
vg=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
    --show-leak-kinds=definite --errors-for-leak-kinds=none
    --num-callers=40 --log-file="$logdir/vg.%p.log")

# Subprocess and timing-heavy tests are left to the normal run: memory
# use is meaningless under valgrind, and children are not instrumented.
status=0
PYTHONMALLOC=malloc "${vg[@]}" "$py" -m pytest -q -p no:cacheprovider \
    tests/core tests/hostile/test_recursion_hostile.py \
    tests/hostile/test_generators_hostile.py \
    tests/hostile/test_reentrancy_hostile.py \
    tests/hostile/test_threads_hostile.py \
    tests/hostile/test_lifetimes_hostile.py \
    tests/hostile/test_log_generation_hostile.py \
    -k "not 32_threads and not code_and_output" || status=$?

PYTHONMALLOC=malloc PYTHONPATH="$here/tests/hostile" "${vg[@]}" "$py" -c '
# (no daemon thread here: CPython 3.13.0 itself reads a freed thread state
# when a daemon thread runs at exit)
import threading
import monitrace
from monitrace import _core
from hostile_util import probe
def gen():
    while True:
        yield probe(5)
worker = threading.Thread(target=probe, args=(10,))
monitrace.trace(c_calls=True).start()
raw = _core.Tracer()
raw.start()
worker.start()
worker.join()
suspended = gen()
next(suspended)
probe(12)
print("exiting with two sessions running")
' || status=$?

# Our C files, as an alternation for the awk pattern below.
ours_re=$(cd src/ccore && ls *.c | sed 's/\.c$//' | paste -sd'|')
bad=0
for log in "$logdir"/vg.*.log; do
    # Loss records are separated by "==pid== " lines. A definite leak is
    # monitrace's when one of its frames (an mt_ function, or a line of
    # one of its files) comes before the first frame of Python code: what
    # Python code (a filter, an import) allocated and CPython leaks at exit
    # is not ours. Two one-time cases are left out: the co_extra block of a
    # code object (CPython frees it through the free function registered
    # for it, and stops calling those late in finalization, so the few code
    # objects freed after that leak their block, once, at exit) and what
    # module initialisation allocates once per process.
    ours=$(awk '
        function judge(rec,   n, i, lines, mine) {
            if (rec !~ /definitely lost/) return
            # tracemalloc bookkeeping (a traceback it keeps for a block)
            # belongs to CPython, whoever made the block it describes.
            if (rec ~ /at 0x[0-9A-F]+: malloc [^\n]*\n[^\n]* raw_malloc \(tracemalloc\.c/) return
            if (rec ~ /calloc[^\n]*\n[^\n]* mt_records_code_add/) return
            if (rec ~ /(mt_[a-z]+_type_init|module_exec) \(/) return
            n = split(rec, lines, "\n")
            for (i = 1; i <= n; i++) {
                if (lines[i] ~ /_PyEval_EvalFrameDefault/) return
                if (lines[i] ~ (" mt_|\\((" files ")\\.c:")) {
                    print rec
                    return
                }
            }
        }
        /^==[0-9]+== *$/ { judge(b); b = ""; next }
        { b = b $0 "\n" }
        END { judge(b) }' files="$ours_re" "$log")
    if [ -n "$ours" ]; then
        echo "memcheck: monitrace leaked memory:" >&2
        echo "$ours" >&2
        bad=1
    fi
    if grep -q "ERROR SUMMARY: [1-9]" "$log"; then
        echo "memcheck: memory errors in $(basename "$log"):" >&2
        cat "$log" >&2
        bad=1
    fi
done
if [ "$status" -ne 0 ] || [ "$bad" -ne 0 ]; then
    echo "memcheck: FAILED (exit status $status)" >&2
    exit 1
fi
echo "memcheck: no memory errors, no leaks from monitrace._core"
